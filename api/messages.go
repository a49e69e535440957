package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
)

// Limits of an asynchronous send.
const (
	// MaxTTL is the longest time to live a message may ask for: four weeks.
	MaxTTL = 28 * 24 * 3600
	// MaxCollapseKey bounds a collapse key's length.
	MaxCollapseKey = 256
	// MaxIdempotencyKey bounds an Idempotency-Key header's length.
	MaxIdempotencyKey = 255
	// DefaultIdempotencyTTL is how long an Idempotency-Key is remembered.
	DefaultIdempotencyTTL = 24 * time.Hour
	// PendingTTL bounds how long an Idempotency-Key stays claimed by a send that
	// has not finished (a process that died mid-send, say).
	PendingTTL = time.Minute
)

// Queue enqueues asynchronous messages; it returns only once a message is
// durable. processor.Producer implements it.
type Queue interface {
	Enqueue(ctx context.Context, m *processor.Message) error
	// EnqueueBatch enqueues ms together; errs[i] is ms[i]'s error.
	EnqueueBatch(ctx context.Context, ms []*processor.Message) (errs []error)
}

// Statuses reads the delivery status of asynchronous messages.
type Statuses interface {
	Get(ctx context.Context, id string) (*processor.MessageStatus, error)
}

// MessageRequest is the body of POST /v1/messages.
type MessageRequest struct {
	To      PushTarget `json:"to"`
	Type    string     `json:"type"`
	Payload jsonRaw    `json:"payload"`
	Ack     *bool      `json:"ack,omitempty"`
	// Priority is high, normal or low; default the type's.
	Priority protocol.Priority `json:"priority,omitempty"`
	// TTL is the time to live in seconds; absent takes the type's, 0 never
	// expires.
	TTL *int `json:"ttl,omitempty"`
	// CollapseKey lets a newer pending message to the same device replace this.
	CollapseKey string `json:"collapse_key,omitempty"`
}

// MessageAccepted is the answer to POST /v1/messages.
type MessageAccepted struct {
	ID string `json:"id"`
}

// sendMessage serves POST /v1/messages: validate, enqueue durably, answer 202.
func (s *Server) sendMessage(w http.ResponseWriter, r *http.Request) {
	var req MessageRequest
	defer func() { s.metrics.answered(pathAsync, req.Type, statusOf(w)) }()
	if s.cfg.Queue == nil {
		protocol.NewProblem(protocol.CodeUnavailable, "asynchronous sending is not configured on this server (no Kafka brokers)").Write(w)
		return
	}
	idemKey := r.Header.Get("Idempotency-Key")
	if len(idemKey) > MaxIdempotencyKey {
		protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf("the Idempotency-Key header is over %d characters", MaxIdempotencyKey)).Write(w)
		return
	}
	body, ok := s.readBody(w, r, nil)
	if !ok {
		return
	}
	if p := decodeBody(body, &req, messageFields); p != nil {
		p.Write(w)
		return
	}
	m, p := s.asyncMessage(&req, sender(r.Context()))
	if p != nil {
		p.Write(w)
		return
	}
	s.enqueue(w, r, m, body, idemKey)
}

// asyncMessage validates req, from the sender from, and returns the message
// it asks for, or the problem with it.
func (s *Server) asyncMessage(req *MessageRequest, from string) (*processor.Message, *protocol.Problem) {
	t, p := s.checkSend(req.To, req.Type, req.Payload)
	if p != nil {
		return nil, p
	}
	m := &processor.Message{
		ID:          protocol.NewID(),
		Account:     req.To.Account,
		Device:      req.To.Device.ID,
		Type:        req.Type,
		Payload:     json.RawMessage(req.Payload),
		From:        from,
		Priority:    t.Policy.Priority,
		Ack:         t.Policy.Ack,
		CollapseKey: req.CollapseKey,
		Accepted:    time.Now().UnixMilli(),
	}
	if req.Ack != nil {
		m.Ack = *req.Ack
	}
	if p := asyncTiming(m, t, req.Priority, req.TTL); p != nil {
		return nil, p
	}
	if len(req.CollapseKey) > MaxCollapseKey {
		return nil, protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf(`"collapse_key" is over %d characters`, MaxCollapseKey))
	}
	return m, nil
}

// enqueue writes m to Kafka under the request's Idempotency-Key, if any, and
// answers 202 with its id once Kafka acknowledged it: POST /v1/messages and
// an asynchronous publish to a topic. body is the request body the key is
// bound to.
func (s *Server) enqueue(w http.ResponseWriter, r *http.Request, m *processor.Message, body []byte, idemKey string) {
	c, replay, p := s.claimKey(r.Context(), sender(r.Context()), idemKey, body, m.ID)
	switch {
	case p != nil:
		if c.inUse {
			w.Header().Set("Retry-After", "1")
		}
		p.Write(w)
		return
	case replay != "":
		w.Header().Set("Idempotent-Replayed", "true")
		w.Header().Set("Location", "/v1/messages/"+replay)
		writeJSON(w, http.StatusAccepted, MessageAccepted{ID: replay})
		return
	}
	s.cfg.Tracer.Annotate(r.Context(), m.ID, m.Account, m.Device)
	err := s.cfg.Queue.Enqueue(r.Context(), m)
	if p := s.enqueued(r.Context(), m, c, err); p != nil {
		p.Write(w)
		return
	}
	w.Header().Set("Location", "/v1/messages/"+m.ID)
	writeJSON(w, http.StatusAccepted, MessageAccepted{ID: m.ID})
}

// idemClaim is an Idempotency-Key claimed for one message while it is sent.
// The zero idemClaim is no key.
type idemClaim struct {
	claim, pending, hash string
	// inUse is set, with a conflict, when another send holds the key.
	inUse bool
}

// claimKey claims the Idempotency-Key key of sender from for the message id,
// whose request is body. It returns the claim to settle with enqueued (the
// zero claim for no key or no store); or the id of the message that an earlier
// request with the same key and body sent, to answer again; or the problem
// that refuses the request (409 while the key is in use or bound to another
// body, 503 when the store cannot be asked).
//
// A key is claimed as "pending <id> <hash>" while the send runs and becomes
// "<id> <hash>" once Kafka has the message: a retry that arrives meanwhile
// gets 409, never the id of a message that may yet fail.
func (s *Server) claimKey(ctx context.Context, from, key string, body []byte, id string) (c idemClaim, replay string, p *protocol.Problem) {
	if key == "" || s.cfg.Idempotency == nil {
		return idemClaim{}, "", nil
	}
	sum := sha256.Sum256(body)
	c.hash = hex.EncodeToString(sum[:])
	c.claim = fmt.Sprintf("%d:%s:%s", len(from), from, key)
	c.pending = "pending " + id + " " + c.hash
	prev, err := s.cfg.Idempotency.Claim(ctx, c.claim, c.pending, PendingTTL)
	if err != nil {
		s.cfg.Logger.Warn("idempotency claim failed", "err", err)
		return idemClaim{}, "", protocol.NewProblem(protocol.CodeUnavailable, "the Idempotency-Key cannot be checked right now; retry later")
	}
	if prev == "" {
		return c, "", nil
	}
	if strings.HasPrefix(prev, "pending ") {
		return idemClaim{inUse: true}, "", keyInUse()
	}
	prevID, prevHash, _ := strings.Cut(prev, " ")
	if prevHash != c.hash {
		return idemClaim{}, "", keyReused()
	}
	return idemClaim{}, prevID, nil
}

// keyInUse is the problem of a request whose Idempotency-Key another send
// holds.
func keyInUse() *protocol.Problem {
	return protocol.NewProblem(protocol.CodeConflict, "a request with this Idempotency-Key is still being processed; retry shortly")
}

// keyReused is the problem of a request whose Idempotency-Key is bound to
// another request.
func keyReused() *protocol.Problem {
	return protocol.NewProblem(protocol.CodeConflict, "this Idempotency-Key was used for a different request")
}

// enqueued settles what follows the enqueue of m, whose claim is c and whose
// Kafka answer is err: with an error, the key is released and the problem to
// answer returned; without, the key is bound to m and m's queued status
// recorded.
func (s *Server) enqueued(ctx context.Context, m *processor.Message, c idemClaim, err error) *protocol.Problem {
	if p := s.settleKey(ctx, m, c, err); p != nil {
		return p
	}
	s.recordQueued(ctx, m)
	return nil
}

// settleKey settles the idempotency key claim c of m, whose Kafka answer is
// err: with an error, the key is released and the problem to answer
// returned; without, the key is bound to m.
func (s *Server) settleKey(ctx context.Context, m *processor.Message, c idemClaim, err error) *protocol.Problem {
	if err != nil {
		s.cfg.Logger.Warn("enqueue failed", "id", m.ID, "err", err)
		if c.claim != "" {
			// The message may or may not be in Kafka; releasing the key lets a
			// retry send it, at the risk of a duplicate that devices drop by id
			// only if it was in fact written.
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
			if err := s.cfg.Idempotency.Release(ctx, c.claim, c.pending); err != nil {
				s.cfg.Logger.Warn("idempotency release failed", "err", err)
			}
			cancel()
		}
		return protocol.NewProblem(protocol.CodeUnavailable, "the message queue is unavailable; the message was not accepted, retry later")
	}
	if c.claim != "" {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.LookupTimeout)
		ok, err := s.cfg.Idempotency.Confirm(ctx, c.claim, c.pending, m.ID+" "+c.hash, s.cfg.IdempotencyTTL)
		cancel()
		if err != nil || !ok {
			// The message is accepted; a retry within PendingTTL gets 409, and
			// after it sends again.
			s.cfg.Logger.Warn("idempotency confirm failed", "id", m.ID, "confirmed", ok, "err", err)
		}
	}
	return nil
}

// recordQueued records the queued status of each of ms, which Kafka has, in
// one go. The status topic's consumer records queued too, later; recording it
// here makes GET answer at once.
func (s *Server) recordQueued(ctx context.Context, ms ...*processor.Message) {
	rec, ok := s.cfg.Statuses.(recorder)
	if !ok || len(ms) == 0 {
		return
	}
	es := make([]processor.Event, len(ms))
	for i, m := range ms {
		es[i] = processor.Event{ID: m.ID, Account: m.Account, Topic: m.Topic, Status: processor.Queued, Priority: m.Priority, At: m.Accepted}
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.LookupTimeout)
	err := rec.RecordAll(ctx, es)
	cancel()
	if err != nil {
		s.cfg.Logger.Warn("recording queued statuses failed", "messages", len(ms), "err", err)
	}
}

// asyncTiming sets m's priority (prio, default the type's, else normal) and
// expiry (ttl seconds after its acceptance, default the type's ttl; 0 never)
// from a request, or returns the problem with them.
func asyncTiming(m *processor.Message, t *protocol.Type, prio protocol.Priority, ttl *int) *protocol.Problem {
	m.Priority = t.Policy.Priority
	switch prio {
	case "":
	case protocol.PriorityHigh, protocol.PriorityNormal, protocol.PriorityLow:
		m.Priority = prio
	default:
		return protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf(`"priority" must be "high", "normal" or "low", not %q`, prio))
	}
	if m.Priority == "" {
		m.Priority = protocol.PriorityNormal
	}
	secs := t.Policy.TTL
	if ttl != nil {
		secs = *ttl
	}
	if secs < 0 || secs > MaxTTL {
		return protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf(`"ttl" must be between 0 and %d seconds`, MaxTTL))
	}
	m.Expires = 0
	if secs > 0 {
		m.Expires = m.Accepted + int64(secs)*1000
	}
	return nil
}

// recorder is a Statuses that also takes events (processor.StatusStore).
type recorder interface {
	RecordAll(ctx context.Context, es []processor.Event) error
}

// messageStatus serves GET /v1/messages/{id}.
func (s *Server) messageStatus(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Statuses == nil {
		protocol.NewProblem(protocol.CodeUnavailable, "asynchronous sending is not configured on this server (no Kafka brokers)").Write(w)
		return
	}
	id := chi.URLParam(r, "id")
	if !protocol.ValidMsgID(id) {
		// Checked before the id reaches the status store, a log line or the answer.
		protocol.NewProblem(protocol.CodeBadRequest, "invalid message id: 1 to 128 bytes of printable ASCII without spaces").Write(w)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.LookupTimeout)
	defer cancel()
	st, err := s.cfg.Statuses.Get(ctx, id)
	switch {
	case errors.Is(err, processor.ErrNotFound):
		protocol.NewProblem(protocol.CodeNotFound, fmt.Sprintf("no message %q (unknown, or its status has expired)", id)).Write(w)
		return
	case err != nil:
		s.cfg.Logger.Warn("reading a message status failed", "id", id, "err", err)
		protocol.NewProblem(protocol.CodeUnavailable, "the message status cannot be read right now").Write(w)
		return
	}
	writeJSON(w, http.StatusOK, st)
}
