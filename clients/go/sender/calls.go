package sender

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// Target names who a message is for: one device of an account (Device), or
// every device of the account (Account).
type Target struct {
	Account string `json:"account"`
	Device  string `json:"device,omitempty"`
}

// Device is the Target of one device of an account.
func Device(account, device string) Target { return Target{Account: account, Device: device} }

// Account is the Target of every device of an account.
func Account(account string) Target { return Target{Account: account} }

// Push is a synchronous push (POST /v1/push).
type Push struct {
	To Target
	// Type is the message type; "" takes the payload's own (Typed).
	Type string
	// Payload is the message's payload: a value encoded as JSON (a struct
	// of the generated types, a map), or a json.RawMessage as it is.
	Payload any
	// Ack asks the devices to acknowledge it: their results then wait for
	// acked. Nil takes the type's policy.
	Ack *bool
	// TTL is how long, in seconds, it may wait for an offline device in its
	// inbox (types that store): nil takes the type's, 0 is now or never.
	TTL *int64
	// Timeout bounds how long the server waits for the devices' outcomes;
	// 0 takes the server's default.
	Timeout time.Duration
}

// pushBody is the wire form of a Push.
type pushBody struct {
	To        Target          `json:"to"`
	Type      string          `json:"type"`
	Payload   json.RawMessage `json:"payload"`
	Ack       *bool           `json:"ack,omitempty"`
	TTL       *int64          `json:"ttl,omitempty"`
	TimeoutMS int64           `json:"timeout_ms,omitempty"`
}

func (p Push) body() (pushBody, error) {
	payload, err := encodePayload(p.Payload)
	if err != nil {
		return pushBody{}, err
	}
	return pushBody{To: p.To, Type: typeOf(p.Type, p.Payload), Payload: payload, Ack: p.Ack, TTL: p.TTL, TimeoutMS: p.Timeout.Milliseconds()}, nil
}

// Typed is a payload that names its message type: the types that
// `herald schema go` generates (clients/go/msgtypes) are.
type Typed interface {
	HeraldType() string
}

// typeOf is the message type of a call: t, or when empty the payload's own.
func typeOf(t string, payload any) string {
	if t == "" {
		if p, ok := payload.(Typed); ok {
			return p.HeraldType()
		}
	}
	return t
}

func encodePayload(v any) (json.RawMessage, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("sender: encoding the payload: %w", err)
	}
	return b, nil
}

// PushResult is the answer to a push: the message's id and each device's
// outcome (delivered, acked, offline, queued, rejected, timeout).
type PushResult struct {
	ID      string            `json:"id"`
	Results []protocol.Result `json:"results"`
}

// Push sends p synchronously and returns each device's outcome. It is
// retried only when the server said it did nothing (429, or 503 with
// Retry-After): a push is not idempotent.
func (c *Client) Push(ctx context.Context, p Push) (PushResult, error) {
	var out PushResult
	body, err := p.body()
	if err != nil {
		return out, err
	}
	err = c.call(ctx, http.MethodPost, "/v1/push", nil, body, &out, []int{http.StatusOK}, retryIfIdle)
	return out, err
}

// BatchResult is one message's outcome in a batch: its PushResult, or the
// Problem that kept it from being sent.
type BatchResult struct {
	PushResult
	Err *Problem
}

// PushBatch sends many pushes in one request (POST /v1/push/batch), with one
// timeout for the batch (0: the server's default; each Push's own Timeout is
// not used), and returns one result per push, in order. It is retried as
// Push is.
func (c *Client) PushBatch(ctx context.Context, pushes []Push, timeout time.Duration) ([]BatchResult, error) {
	body := struct {
		Messages  []pushBody `json:"messages"`
		TimeoutMS int64      `json:"timeout_ms,omitempty"`
	}{TimeoutMS: timeout.Milliseconds()}
	for _, p := range pushes {
		b, err := p.body()
		if err != nil {
			return nil, err
		}
		b.TimeoutMS = 0
		body.Messages = append(body.Messages, b)
	}
	var out struct {
		Results []struct {
			*PushResult
			Error *protocol.Problem `json:"error,omitempty"`
		} `json:"results"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/push/batch", nil, body, &out, []int{http.StatusOK}, retryIfIdle); err != nil {
		return nil, err
	}
	if len(out.Results) != len(pushes) {
		return nil, fmt.Errorf("sender: the batch's answer has %d results for %d messages", len(out.Results), len(pushes))
	}
	res := make([]BatchResult, len(out.Results))
	for i, r := range out.Results {
		if r.PushResult != nil {
			res[i].PushResult = *r.PushResult
		}
		if r.Error != nil {
			res[i].Err = &Problem{Problem: *r.Error}
		}
	}
	return res, nil
}

// Message is an asynchronous message (POST /v1/messages).
type Message struct {
	To Target
	// Type is the message type; "" takes the payload's own (Typed).
	Type    string
	Payload any
	Ack     *bool
	// Priority is high, normal or low; "" takes the type's.
	Priority protocol.Priority
	// TTL in seconds: nil takes the type's, 0 never expires.
	TTL *int
	// CollapseKey lets a newer pending message to the same device replace
	// this one.
	CollapseKey string
	// IdempotencyKey (at most 255 characters) makes repeats of one Send, or
	// of one message of SendBatch, enqueue it once; "" gets a fresh key per
	// call, which its own retries share.
	IdempotencyKey string
}

// messageBody is the wire form of a Message: the body of POST /v1/messages,
// or with IdempotencyKey one message of POST /v1/messages/batch.
type messageBody struct {
	To             Target            `json:"to"`
	Type           string            `json:"type"`
	Payload        json.RawMessage   `json:"payload"`
	Ack            *bool             `json:"ack,omitempty"`
	Priority       protocol.Priority `json:"priority,omitempty"`
	TTL            *int              `json:"ttl,omitempty"`
	CollapseKey    string            `json:"collapse_key,omitempty"`
	IdempotencyKey string            `json:"idempotency_key,omitempty"`
}

// body returns the wire form of m, without its idempotency key.
func (m Message) body() (messageBody, error) {
	payload, err := encodePayload(m.Payload)
	if err != nil {
		return messageBody{}, err
	}
	return messageBody{To: m.To, Type: typeOf(m.Type, m.Payload), Payload: payload, Ack: m.Ack, Priority: m.Priority, TTL: m.TTL, CollapseKey: m.CollapseKey}, nil
}

// key is m's idempotency key: its own, or a fresh one.
func (m Message) key() string {
	if m.IdempotencyKey != "" {
		return m.IdempotencyKey
	}
	return newKey()
}

// Send enqueues m for the asynchronous path and returns its id, with which
// Status reads its outcome. It is retried on failed connections, 5xx, 409
// and 429 under one Idempotency-Key, so that it is enqueued once.
func (c *Client) Send(ctx context.Context, m Message) (string, error) {
	body, err := m.body()
	if err != nil {
		return "", err
	}
	var out struct {
		ID string `json:"id"`
	}
	err = c.call(ctx, http.MethodPost, "/v1/messages", http.Header{"Idempotency-Key": {m.key()}}, body, &out, []int{http.StatusAccepted}, retryIdempotent)
	return out.ID, err
}

// SendResult is one message's outcome in SendBatch: the id it was enqueued
// under, or the Problem that kept it from being enqueued.
type SendResult struct {
	ID string
	// Replayed says that an earlier request with the message's idempotency
	// key enqueued it (an attempt of the same SendBatch whose answer was
	// lost, or an earlier send with the caller's key): ID is that send's.
	Replayed bool
	// IdempotencyKey is the key the message was sent with: its own, or the
	// fresh one SendBatch gave it.
	IdempotencyKey string
	// Err is the problem POST /v1/messages would have answered for the
	// message alone: its code and status (400, 403, 422; 409 for its key;
	// 503 when the queue did not take it, which may be sent again).
	Err *Problem
}

// SendBatch enqueues many messages for the asynchronous path in one request
// (POST /v1/messages/batch) and returns one result per message, in order.
// Each message carries an idempotency key (its IdempotencyKey, or a fresh
// one), so that the request is retried as Send is, under the same keys: the
// messages an attempt whose answer was lost enqueued come back Replayed with
// their ids, and none is enqueued twice. A message's own problem is in its
// result and is not retried; the error is for the request as a whole (not a
// batch: 400 or 413; no queue on the server: 503).
func (c *Client) SendBatch(ctx context.Context, msgs []Message) ([]SendResult, error) {
	body := struct {
		Messages []messageBody `json:"messages"`
	}{Messages: make([]messageBody, 0, len(msgs))}
	for i, m := range msgs {
		b, err := m.body()
		if err != nil {
			return nil, fmt.Errorf("%w (message %d of the batch)", err, i)
		}
		b.IdempotencyKey = m.key()
		body.Messages = append(body.Messages, b)
	}
	var out struct {
		Results []struct {
			ID       string            `json:"id"`
			Replayed bool              `json:"replayed"`
			Error    *protocol.Problem `json:"error,omitempty"`
		} `json:"results"`
	}
	if err := c.call(ctx, http.MethodPost, "/v1/messages/batch", nil, body, &out, []int{http.StatusOK}, retryIdempotent); err != nil {
		return nil, err
	}
	if len(out.Results) != len(msgs) {
		return nil, fmt.Errorf("sender: the batch's answer has %d results for %d messages", len(out.Results), len(msgs))
	}
	res := make([]SendResult, len(out.Results))
	for i, r := range out.Results {
		res[i] = SendResult{ID: r.ID, Replayed: r.Replayed, IdempotencyKey: body.Messages[i].IdempotencyKey}
		if r.Error != nil {
			res[i].Err = &Problem{Problem: *r.Error}
		}
	}
	return res, nil
}

// DeviceStatus is one device's outcome of an asynchronous message.
type DeviceStatus struct {
	Device string `json:"device"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	// At is when it happened, in Unix milliseconds.
	At int64 `json:"at,omitempty"`
}

// Status is what became of an asynchronous message (GET /v1/messages/{id}):
// queued until processed, then its devices' outcomes; for a message to a
// topic, Topic and its publish's outcome.
type Status struct {
	ID       string            `json:"id"`
	Account  string            `json:"account,omitempty"`
	Priority protocol.Priority `json:"priority,omitempty"`
	Status   string            `json:"status"`
	Accepted int64             `json:"accepted,omitempty"`
	Devices  []DeviceStatus    `json:"devices"`
	Topic    string            `json:"topic,omitempty"`
}

// Status reads what became of message id. It is retried as a GET.
func (c *Client) Status(ctx context.Context, id string) (Status, error) {
	var out Status
	err := c.call(ctx, http.MethodGet, "/v1/messages/"+url.PathEscape(id), nil, nil, &out, []int{http.StatusOK}, retryIdempotent)
	return out, err
}

// Publication is a message to a topic (POST /v1/topics/{topic}/messages).
type Publication struct {
	// Type is the message type; "" takes the payload's own (Typed).
	Type    string
	Payload any
	// Timeout bounds the wait for the edges' answers; 0: the server's.
	Timeout time.Duration
	// Async enqueues it on the asynchronous path: the answer then carries
	// only its id, for Status.
	Async    bool
	Priority protocol.Priority
	TTL      *int
}

// PublishResult is what a publish did (protocol.PublishResult), with the
// message's id.
type PublishResult struct {
	ID string `json:"id"`
	protocol.PublishResult
}

// Publish publishes to topic. It is retried as Push is.
func (c *Client) Publish(ctx context.Context, topic string, p Publication) (PublishResult, error) {
	var out PublishResult
	payload, err := encodePayload(p.Payload)
	if err != nil {
		return out, err
	}
	body := struct {
		Type      string            `json:"type"`
		Payload   json.RawMessage   `json:"payload"`
		TimeoutMS int64             `json:"timeout_ms,omitempty"`
		Async     bool              `json:"async,omitempty"`
		Priority  protocol.Priority `json:"priority,omitempty"`
		TTL       *int              `json:"ttl,omitempty"`
	}{typeOf(p.Type, p.Payload), payload, p.Timeout.Milliseconds(), p.Async, p.Priority, p.TTL}
	want := []int{http.StatusOK}
	if p.Async {
		want = []int{http.StatusAccepted}
	}
	err = c.call(ctx, http.MethodPost, "/v1/topics/"+url.PathEscape(topic)+"/messages", nil, body, &out, want, retryIfIdle)
	return out, err
}

// TopicCount counts a topic's subscribers (GET /v1/topics/{topic}).
func (c *Client) TopicCount(ctx context.Context, topic string) (protocol.TopicSubscribers, error) {
	var out protocol.TopicSubscribers
	err := c.call(ctx, http.MethodGet, "/v1/topics/"+url.PathEscape(topic), nil, nil, &out, []int{http.StatusOK}, retryIdempotent)
	return out, err
}

// DeviceInfo is a device of an account's list, with whether it is
// connected, and where in a deployment of regions.
type DeviceInfo struct {
	Account      string            `json:"account"`
	ID           string            `json:"id"`
	Platform     string            `json:"platform,omitempty"`
	Name         string            `json:"name,omitempty"`
	AppVersion   string            `json:"app_version,omitempty"`
	Capabilities []string          `json:"capabilities,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
	Created      time.Time         `json:"created"`
	Updated      time.Time         `json:"updated"`
	LastSeen     time.Time         `json:"last_seen,omitzero"`
	Online       bool              `json:"online"`
	Region       string            `json:"region,omitempty"`
}

// Devices lists an account's devices (GET /v1/accounts/{account}/devices).
func (c *Client) Devices(ctx context.Context, account string) ([]DeviceInfo, error) {
	var out struct {
		Devices []DeviceInfo `json:"devices"`
	}
	err := c.call(ctx, http.MethodGet, "/v1/accounts/"+url.PathEscape(account)+"/devices", nil, nil, &out, []int{http.StatusOK}, retryIdempotent)
	return out.Devices, err
}

// DeviceUpdate is the metadata PutDevice records for a device.
type DeviceUpdate struct {
	Platform     string            `json:"platform,omitempty"`
	Name         string            `json:"name,omitempty"`
	AppVersion   string            `json:"app_version,omitempty"`
	Capabilities []string          `json:"capabilities,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
}

// PutDevice adds a device to an account's list, or updates it (PUT
// /v1/accounts/{account}/devices/{device}).
func (c *Client) PutDevice(ctx context.Context, account, device string, d DeviceUpdate) (DeviceInfo, error) {
	var out DeviceInfo
	path := "/v1/accounts/" + url.PathEscape(account) + "/devices/" + url.PathEscape(device)
	err := c.call(ctx, http.MethodPut, path, nil, d, &out, []int{http.StatusOK, http.StatusCreated}, retryIfIdle)
	return out, err
}

// DeleteDevice removes a device from an account's list, closing its
// connection (DELETE /v1/accounts/{account}/devices/{device}).
func (c *Client) DeleteDevice(ctx context.Context, account, device string) error {
	path := "/v1/accounts/" + url.PathEscape(account) + "/devices/" + url.PathEscape(device)
	return c.call(ctx, http.MethodDelete, path, nil, nil, nil, []int{http.StatusNoContent}, retryIfIdle)
}
