package api

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
)

// MessageBatchRequest is the body of POST /v1/messages/batch: asynchronous
// messages, each as the body of POST /v1/messages, with its own
// idempotency_key in place of the header.
type MessageBatchRequest struct {
	Messages []MessageBatchItem `json:"messages"`
}

// MessageBatchItem is one message of a MessageBatchRequest.
type MessageBatchItem struct {
	To          PushTarget        `json:"to"`
	Type        string            `json:"type"`
	Payload     jsonRaw           `json:"payload"`
	Ack         *bool             `json:"ack,omitempty"`
	Priority    protocol.Priority `json:"priority,omitempty"`
	TTL         *int              `json:"ttl,omitempty"`
	CollapseKey string            `json:"collapse_key,omitempty"`
	// IdempotencyKey is the message's Idempotency-Key, at most
	// MaxIdempotencyKey characters; it is bound to the message's own JSON
	// text, as the header is to a body.
	IdempotencyKey string `json:"idempotency_key,omitempty"`
}

// request returns the message as the body of POST /v1/messages.
func (m *MessageBatchItem) request() MessageRequest {
	return MessageRequest{To: m.To, Type: m.Type, Payload: m.Payload, Ack: m.Ack, Priority: m.Priority, TTL: m.TTL, CollapseKey: m.CollapseKey}
}

// MessageBatchResponse is the answer to POST /v1/messages/batch: one result
// per message, in the order of the request.
type MessageBatchResponse struct {
	Results []MessageBatchResult `json:"results"`
}

// MessageBatchResult is one message's outcome in a batch: the id it was
// accepted under (Replayed when an earlier request with its idempotency key
// sent it), or the problem that kept it from being accepted, as POST
// /v1/messages would have answered it alone.
type MessageBatchResult struct {
	ID       string            `json:"id,omitempty"`
	Replayed bool              `json:"replayed,omitempty"`
	Error    *protocol.Problem `json:"error,omitempty"`
}

// rawMessageBatch is the body of POST /v1/messages/batch with each message
// raw, decoded one by one so that each has its own problem and its own text
// for its idempotency key.
type rawMessageBatch struct {
	Messages []jsonRaw `json:"messages"`
}

// asyncItem is one message of a batch on its way through sendMessages.
type asyncItem struct {
	typ     string
	msg     *processor.Message
	key     string // its idempotency key, claimed by claimKeys
	text    []byte // its own JSON text, which key is bound to
	claim   idemClaim
	result  MessageBatchResult
	pending bool // waiting for Kafka's answer
}

// sendMessages serves POST /v1/messages/batch: each message is validated on
// its own and the valid ones are enqueued together, their records handed to
// Kafka in one go (processor.Producer.EnqueueBatch), so that a batch costs
// about one produce rather than one per message. The answer is 200 with each
// message's id or problem in request order. Only a body that is not a batch
// (malformed, no messages, more than MaxBatch) is refused as a whole.
func (s *Server) sendMessages(w http.ResponseWriter, r *http.Request) {
	if s.cfg.Queue == nil {
		protocol.NewProblem(protocol.CodeUnavailable, "asynchronous sending is not configured on this server (no Kafka brokers)").Write(w)
		s.metrics.answered(pathAsync, "", statusOf(w))
		return
	}
	if r.Header.Get("Idempotency-Key") != "" {
		// A key for the whole batch would leave its messages' duplicates
		// to a retry; each message takes a key of its own.
		p := protocol.NewProblem(protocol.CodeBadRequest, `POST /v1/messages/batch takes an "idempotency_key" in each message, not the Idempotency-Key header`)
		p.Write(w)
		s.metrics.answered(pathAsync, "", p.Status)
		return
	}
	body, ok := s.readBody(w, r, nil)
	if !ok {
		s.metrics.answered(pathAsync, "", statusOf(w))
		return
	}
	ctx := r.Context()
	from := sender(ctx)
	var items []asyncItem
	// Every message is decoded in one pass (decodeBatchRequest); only when
	// that fails, finds a member no field takes, a message that may be null,
	// or an idempotency key without its message's own text (to which it is
	// bound: the plain read keeps it, encoding/json does not) is each decoded
	// on its own, so that a malformed message is its own problem and not the
	// batch's.
	var req MessageBatchRequest
	texts, ok := decodeBatchRequest(body, &req)
	if ok && !slices.ContainsFunc(req.Messages, func(m MessageBatchItem) bool {
		// texts, when not nil, has the text of every keyed message.
		return m.IdempotencyKey != "" && texts == nil || m.To == (PushTarget{}) && len(m.Payload) == 0
	}) {
		if p := s.checkBatchSize(req.Messages == nil, len(req.Messages), "messages"); p != nil {
			p.Write(w)
			s.metrics.answered(pathAsync, "", p.Status)
			return
		}
		items = make([]asyncItem, len(req.Messages))
		for i := range req.Messages {
			var text []byte
			if texts != nil {
				text = texts[i]
			}
			items[i].result.Error = s.prepareAsyncItem(&items[i], &req.Messages[i], text, from)
		}
	} else {
		var raw rawMessageBatch
		p := decodeBody(body, &raw, rawMessageBatchFields)
		if p == nil {
			p = s.checkBatchSize(raw.Messages == nil, len(raw.Messages), "messages")
		}
		if p != nil {
			p.Write(w)
			s.metrics.answered(pathAsync, "", p.Status)
			return
		}
		items = make([]asyncItem, len(raw.Messages))
		for i, b := range raw.Messages {
			items[i].result.Error = s.prepareAsync(&items[i], b, from)
		}
	}
	s.claimKeys(ctx, items, from)
	var ms []*processor.Message
	for i := range items {
		if it := &items[i]; it.result.Error == nil && it.result.ID == "" {
			it.pending = true
			ms = append(ms, it.msg)
		}
	}
	if len(ms) > 0 {
		errs := s.cfg.Queue.EnqueueBatch(ctx, ms)
		pending := make([]*asyncItem, 0, len(ms))
		for i := range items {
			if items[i].pending {
				pending = append(pending, &items[i])
			}
		}
		s.settleBatch(ctx, pending, errs)
	}
	res := MessageBatchResponse{Results: make([]MessageBatchResult, len(items))}
	for i := range items {
		it := &items[i]
		status := http.StatusAccepted
		if it.result.Error != nil {
			status = it.result.Error.Status
		}
		s.metrics.answered(pathAsync, it.typ, status)
		res.Results[i] = it.result
	}
	writeJSON(w, http.StatusOK, res)
}

// forEachKeyed calls f with each of keyed, at most limit at once
// (Config.KeyConcurrency: with Redis behind the keys each call is a round
// trip, which rueidis pipelines when they overlap, where one after the other
// a batch of 500 would wait for 500), and returns when every call has: on
// the calling goroutine when one runs at a time, so that a batch with one key
// costs no goroutine.
func forEachKeyed(limit int, keyed []int, f func(i int)) {
	if limit <= 1 || len(keyed) == 1 {
		for _, i := range keyed {
			f(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(limit, len(keyed)) {
		wg.Go(func() {
			for {
				k := int(next.Add(1)) - 1
				if k >= len(keyed) {
					return
				}
				f(keyed[k])
			}
		})
	}
	wg.Wait()
}

// inProcess is implemented by an Idempotency store whose calls never leave
// the process (processor.MemoryIdempotency, herald dev's): each is a map
// operation under a lock, which goroutines cannot overlap with anything.
type inProcess interface {
	InProcess() bool
}

// keyConcurrency is how many of a batch's idempotency keys are claimed, and
// settled, at once: Config.KeyConcurrency, or 1 for a store in the process,
// where the goroutines would cost their allocations and gain nothing.
func (s *Server) keyConcurrency() int {
	if l, ok := s.cfg.Idempotency.(inProcess); ok && l.InProcess() {
		return 1
	}
	return s.cfg.KeyConcurrency
}

// claimKeys claims the idempotency keys of the valid messages of items that
// have one (claimKey), together (forEachKeyed), before their enqueue. A key
// that an earlier message of the same batch has is refused without a claim,
// as it would be after that message's claim: as in use when the message is
// the same, as bound to another message when it is not. The first message
// with a key is the one it sends.
func (s *Server) claimKeys(ctx context.Context, items []asyncItem, from string) {
	if s.cfg.Idempotency == nil {
		return
	}
	var keyed []int
	var first map[string]int
	for i := range items {
		it := &items[i]
		if it.result.Error != nil || it.key == "" {
			continue
		}
		if first == nil {
			first = make(map[string]int)
		}
		if j, ok := first[it.key]; ok {
			if bytes.Equal(items[j].text, it.text) {
				it.result.Error = keyInUse()
			} else {
				it.result.Error = keyReused()
			}
			continue
		}
		first[it.key] = i
		keyed = append(keyed, i)
	}
	if len(keyed) == 0 {
		return
	}
	forEachKeyed(s.keyConcurrency(), keyed, func(i int) {
		it := &items[i]
		c, replay, p := s.claimKey(ctx, from, it.key, it.text, it.msg.ID)
		switch {
		case p != nil:
			it.result.Error = p
		case replay != "":
			it.result = MessageBatchResult{ID: replay, Replayed: true}
		default:
			it.claim = c
		}
	})
}

// settleBatch settles items, whose Kafka answers are errs: the idempotency
// key of each that has one, together (forEachKeyed), and then the queued
// status of every accepted one, recorded together. A message without a key
// costs no goroutine.
func (s *Server) settleBatch(ctx context.Context, items []*asyncItem, errs []error) {
	var keyed []int
	for k, it := range items {
		if it.claim.claim != "" {
			keyed = append(keyed, k)
			continue
		}
		it.result.Error = s.settleKey(ctx, it.msg, it.claim, errs[k])
	}
	if len(keyed) > 0 {
		forEachKeyed(s.keyConcurrency(), keyed, func(k int) {
			it := items[k]
			it.result.Error = s.settleKey(ctx, it.msg, it.claim, errs[k])
		})
	}
	accepted := make([]*processor.Message, 0, len(items))
	for _, it := range items {
		if it.result.Error == nil {
			it.result.ID = it.msg.ID
			accepted = append(accepted, it.msg)
		}
	}
	s.recordQueued(ctx, accepted...)
}

// prepareAsync decodes the message b of a batch from the sender from and
// prepares it (prepareAsyncItem).
func (s *Server) prepareAsync(it *asyncItem, b []byte, from string) *protocol.Problem {
	if len(b) == 0 || b[0] != '{' {
		return protocol.NewProblem(protocol.CodeBadRequest, "each message must be a JSON object")
	}
	var m MessageBatchItem
	if p := decodeBody(b, &m, messageBatchItemFields); p != nil {
		return p
	}
	return s.prepareAsyncItem(it, &m, b, from)
}

// prepareAsyncItem validates the decoded message m of a batch, whose JSON text is
// b, into it, its idempotency key to be claimed by claimKeys, or returns the
// problem that keeps it from being sent. b is needed only with a key.
func (s *Server) prepareAsyncItem(it *asyncItem, m *MessageBatchItem, b []byte, from string) *protocol.Problem {
	it.typ = m.Type
	if len(m.IdempotencyKey) > MaxIdempotencyKey {
		return protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf(`"idempotency_key" is over %d characters`, MaxIdempotencyKey))
	}
	req := m.request()
	msg, p := s.asyncMessage(&req, from)
	if p != nil {
		return p
	}
	it.msg, it.key, it.text = msg, m.IdempotencyKey, b
	return nil
}
