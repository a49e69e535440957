package processor

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Message is one asynchronous message: the value of a record on a message topic.
type Message struct {
	// ID is the message's time-ordered id, assigned when it is accepted.
	ID string `json:"id"`
	// Account and Device address it; an empty Device means every device of the
	// account that is connected when the message is processed. A message to a
	// topic has neither.
	Account string `json:"account,omitempty"`
	Device  string `json:"device,omitempty"`
	// Topic, instead of Account, publishes the message to the devices
	// subscribed to the topic on every edge (edge.Router.Publish).
	Topic string `json:"topic,omitempty"`
	// Type and Payload are the app message, validated before it was enqueued.
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
	// From is the sending service, shown to the device as from.service.
	From string `json:"from,omitempty"`
	// Priority chooses the topic.
	Priority protocol.Priority `json:"priority"`
	// Ack asks the device to acknowledge; the status then reaches acked.
	Ack bool `json:"ack,omitempty"`
	// CollapseKey, when set, lets a newer pending message to the same device with
	// the same key replace this one.
	CollapseKey string `json:"collapse_key,omitempty"`
	// Accepted is when the message was accepted, in Unix milliseconds.
	Accepted int64 `json:"accepted"`
	// Expires is when the message stops being worth delivering, in Unix
	// milliseconds; 0 is never.
	Expires int64 `json:"expires,omitempty"`

	// rec is the record the message was read from, whose headers carry its
	// trace context; nil for a message not read from Kafka.
	rec *kgo.Record
	// events counts the status events of the batch the message is in that
	// Kafka has not answered yet; nil for a message not read from Kafka.
	events *batchEvents
	// deadlines gives the delivery attempts of the batch's lane the message
	// is in their contexts; nil outside a batch.
	deadlines *deadlines
	// payloadValid is set for a message decoded from a record, whose decoding
	// checked that Payload is valid JSON; Msg passes that on.
	payloadValid bool
}

// Validate checks the fields a processor relies on. It does not check the payload
// against its type's schema: the sender did that before enqueueing.
func (m *Message) Validate() error {
	switch {
	case m.ID == "":
		return errors.New(`"id" is required`)
	case m.Account == "" && m.Topic == "":
		return errors.New(`"account" or "topic" is required`)
	case m.Account != "" && m.Topic != "":
		return errors.New(`"account" and "topic" exclude each other`)
	case m.Device != "" && m.Account == "":
		return errors.New(`"device" needs "account"`)
	case m.Topic != "" && !protocol.ValidTopic(m.Topic):
		return errors.New(`"topic": ` + protocol.TopicProblem(m.Topic))
	case m.Topic != "" && m.CollapseKey != "":
		return errors.New(`"collapse_key" is for messages to an account, not to a topic`)
	case m.Type == "":
		return errors.New(`"type" is required`)
	case len(m.Payload) == 0:
		return errors.New(`"payload" is required`)
	case m.Accepted <= 0:
		return errors.New(`"accepted" is required (Unix milliseconds)`)
	case m.Expires < 0:
		return errors.New(`"expires" must not be negative`)
	}
	switch m.Priority {
	case protocol.PriorityHigh, protocol.PriorityNormal, protocol.PriorityLow:
	default:
		return fmt.Errorf(`"priority": unknown priority %q`, m.Priority)
	}
	return nil
}

// Expired reports whether m's time to live has passed at now.
func (m *Message) Expired(now time.Time) bool {
	return m.Expires > 0 && now.UnixMilli() >= m.Expires
}

// TTL returns the seconds m has left to live at now, at least 1, or 0 when it
// never expires: the ttl the device sees.
func (m *Message) TTL(now time.Time) int {
	if m.Expires == 0 {
		return 0
	}
	left := (m.Expires - now.UnixMilli() + 999) / 1000
	return int(max(left, 1))
}

// Key is the record key: the account, so that every message to one device lands
// on one partition and keeps its order; for a message to a topic, the topic
// (with a prefix no account id has), so that a topic's messages keep theirs.
func (m *Message) Key() []byte {
	if m.Topic != "" {
		return []byte(topicKeyPrefix + m.Topic)
	}
	return []byte(m.Account)
}

// topicKeyPrefix starts the record key of a message to a topic, and its lane.
const topicKeyPrefix = "topic:"

// lane is the string a message's worker lane is chosen by: its key's.
func (m *Message) lane() string {
	if m.Topic != "" {
		return topicKeyPrefix + m.Topic
	}
	return m.Account
}

// Msg returns the frame a device receives for m.
func (m *Message) Msg(now time.Time) *protocol.Msg {
	msg := &protocol.Msg{
		ID:      m.ID,
		Type:    m.Type,
		TS:      m.Accepted,
		TTL:     m.TTL(now),
		Ack:     m.Ack,
		Payload: m.Payload,
	}
	if m.payloadValid {
		msg.PayloadValid()
	}
	if m.From != "" {
		msg.From = &protocol.Sender{Service: m.From}
	}
	return msg
}

// Outcome is a message's status, overall or for one device.
type Outcome string

// The outcomes of an asynchronous message.
const (
	// Queued: accepted and durably in Kafka, not yet processed. As a device's
	// outcome: the device was offline and the message waits in its inbox
	// (store-and-forward) until it connects.
	Queued Outcome = "queued"
	// Delivered: written to the device's connection.
	Delivered Outcome = "delivered"
	// Acked: the device acknowledged it (messages sent with ack only).
	Acked Outcome = "acked"
	// Offline: the device was not connected when the message was processed.
	Offline Outcome = "offline"
	// Expired: its time to live had passed before it could be delivered.
	Expired Outcome = "expired"
	// Collapsed: a newer pending message with the same collapse key replaced it.
	Collapsed Outcome = "collapsed"
	// Failed: delivery was attempted and did not succeed; Error says why.
	Failed Outcome = "failed"
	// Dropped: it waited in an offline device's inbox and a later message put
	// there dropped it to keep the inbox within its limits.
	Dropped Outcome = "dropped"
	// Published: a message to a topic was published to the edges with
	// subscribers of it; Event.Published counts what it reached.
	Published Outcome = "published"
)

// rank orders outcomes so that a redelivery or a late event never moves a
// device's status backwards: a device that acked stays acked, and a device
// whose message waits in its inbox (queued) is not turned offline or failed by
// a redelivery that could not store it again. The message's own queued (no
// device) is never ranked. Ranks are one digit (the Redis script reads one).
func (o Outcome) rank() int {
	switch o {
	case Offline, Failed:
		return 1
	case Queued:
		return 2
	case Delivered, Published:
		return 3
	case Expired, Collapsed, Dropped:
		return 4
	case Acked:
		return 5
	}
	return -1
}

// Event is one outcome of one message: the value of a record on the status topic.
type Event struct {
	ID      string `json:"id"`
	Account string `json:"account"`
	// Device is the device the outcome is for; empty for the message's queued
	// (accepted), and for the outcome of a message to a whole account that had
	// no device connected. A queued with a device is that device's outcome.
	Device string `json:"device,omitempty"`
	// Topic is set on every event of a message to a topic, instead of
	// Account; its outcome (published, expired or failed) has no Device.
	Topic string `json:"topic,omitempty"`
	// Published, on a published, is what the publish reached: the edges that
	// answered, the devices it was queued for, those it dropped, and the
	// edges that failed.
	Published *protocol.PublishResult `json:"published,omitempty"`
	Status    Outcome                 `json:"status"`
	Error     string                  `json:"error,omitempty"`
	Priority  protocol.Priority       `json:"priority,omitempty"`
	// At is when the outcome happened, in Unix milliseconds.
	At int64 `json:"at"`
	// Expires, on a device's queued, is when the message stored for it expires,
	// in Unix milliseconds: its status is kept until then and for the status
	// TTL after, so that a message stored for 28 days can still be looked up
	// when it is delivered.
	Expires int64 `json:"expires,omitempty"`
}

// keep returns how long after now the status of e's message must be kept at
// least: ttl, or ttl past the expiry of a stored message.
func (e *Event) keep(now time.Time, ttl time.Duration) time.Duration {
	if e.Expires > 0 {
		return max(ttl, time.UnixMilli(e.Expires).Sub(now)+ttl)
	}
	return ttl
}

// accepted reports whether e is the message's queued, which comes when the
// message is accepted, rather than a device's outcome.
func (e *Event) accepted() bool { return e.Status == Queued && e.Device == "" }

// topicOutcome reports whether e is the outcome of a message to a topic.
func (e *Event) topicOutcome() bool { return e.Topic != "" && !e.accepted() }
