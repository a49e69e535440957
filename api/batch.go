package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// PushBatchRequest is the body of POST /v1/push/batch: messages as for POST
// /v1/push, without their own timeout_ms, and one timeout_ms for the batch.
type PushBatchRequest struct {
	Messages  []PushRequest `json:"messages"`
	TimeoutMS int64         `json:"timeout_ms,omitempty"`
}

// PushBatchResponse is the answer to POST /v1/push/batch: one result per message,
// in the order of the request.
type PushBatchResponse struct {
	Results []PushBatchResult `json:"results"`
}

// PushBatchResult is one message's outcome in a batch: its PushResponse when it
// was sent, or the problem that kept it from being sent, as POST /v1/push would
// have answered it alone.
type PushBatchResult struct {
	*PushResponse
	Error *protocol.Problem `json:"error,omitempty"`
}

// rawBatchBody is the body of POST /v1/push/batch with each message raw, for
// decoding the messages one by one.
type rawBatchBody struct {
	Messages  []jsonRaw `json:"messages"`
	TimeoutMS int64     `json:"timeout_ms"`
}

// batchItem is one message of a batch on its way through pushBatch.
type batchItem struct {
	req     PushRequest
	out     outMsg
	results []protocol.Result
	// problem, when not nil, is why the message was not sent.
	problem *protocol.Problem
}

// pushBatch serves POST /v1/push/batch: each message is validated on its own,
// the valid ones are delivered concurrently under the batch's one timeout, and
// the answer lists each message's results or problem in request order. Only a
// body that is not a batch (malformed, no messages, more than MaxBatch, a bad
// timeout_ms) is refused as a whole.
func (s *Server) pushBatch(w http.ResponseWriter, r *http.Request) {
	in := s.getBuf()
	defer s.putBuf(in)
	body, ok := s.readBody(w, r, *in)
	*in = body
	if !ok {
		s.metrics.answered(pathPush, "", statusOf(w))
		return
	}
	items, timeout, p := s.decodeBatch(body)
	if p != nil {
		p.Write(w)
		s.metrics.answered(pathPush, "", p.Status)
		return
	}
	from := sender(r.Context())
	for i := range items {
		s.prepareItem(&items[i], from)
	}
	s.deliverBatch(r.Context(), timeout, items)

	out := s.getBuf()
	defer s.putBuf(out)
	b := append(*out, `{"results":[`...)
	for i := range items {
		it := &items[i]
		if i > 0 {
			b = append(b, ',')
		}
		if it.problem != nil {
			s.metrics.answered(pathPush, it.req.Type, it.problem.Status)
		} else {
			s.countResults(it.req.Type, it.results)
		}
		b = appendBatchResult(b, it.out.msg.ID, it.results, it.problem)
	}
	*out = append(b, "]}\n"...)
	writeJSONBytes(w, http.StatusOK, *out)
}

// decodeBatch decodes a batch body into its items and timeout, or returns the
// problem that refuses it as a whole. Every message is decoded in one pass; only
// when that fails, or finds a message that may be null, is each decoded on its
// own, so that a malformed message is its own problem and not the batch's.
func (s *Server) decodeBatch(body []byte) ([]batchItem, time.Duration, *protocol.Problem) {
	var req PushBatchRequest
	err := json.Unmarshal(body, &req)
	if err == nil && batchFields.check(body) == nil && !slices.ContainsFunc(req.Messages, func(m PushRequest) bool { return m.To == (PushTarget{}) && len(m.Payload) == 0 }) {
		if p := s.checkBatchSize(req.Messages == nil, len(req.Messages), "pushes"); p != nil {
			return nil, 0, p
		}
		timeout, p := s.pushTimeout(req.TimeoutMS)
		if p != nil {
			return nil, 0, p
		}
		items := make([]batchItem, len(req.Messages))
		for i := range items {
			items[i].req = req.Messages[i]
		}
		return items, timeout, nil
	}
	var raw rawBatchBody
	if p := decodeBody(body, &raw, rawBatchFields); p != nil {
		return nil, 0, p
	}
	if p := s.checkBatchSize(raw.Messages == nil, len(raw.Messages), "pushes"); p != nil {
		return nil, 0, p
	}
	timeout, p := s.pushTimeout(raw.TimeoutMS)
	if p != nil {
		return nil, 0, p
	}
	items := make([]batchItem, len(raw.Messages))
	for i, m := range raw.Messages {
		it := &items[i]
		if len(m) == 0 || m[0] != '{' {
			// encoding/json leaves a struct alone for null, and describes a
			// number or a list in terms of Go types.
			it.problem = protocol.NewProblem(protocol.CodeBadRequest, "each message must be a JSON object")
			continue
		}
		it.problem = decodeBody(m, &it.req, pushFields)
	}
	return items, timeout, nil
}

// checkBatchSize returns the problem with a batch of n messages (what names
// them: "pushes"), none when missing, if it has one.
func (s *Server) checkBatchSize(missing bool, n int, what string) *protocol.Problem {
	switch {
	case missing:
		return protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf(`"messages" is required: a list of %s`, what))
	case n == 0:
		return protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf(`"messages" is empty: a batch holds at least one of its %s`, what))
	case n > s.cfg.MaxBatch:
		return protocol.NewProblem(protocol.CodeTooLarge, fmt.Sprintf(`"messages" holds %d %s, a batch holds at most %d`, n, what, s.cfg.MaxBatch))
	}
	return nil
}

// prepareItem validates one decoded message of a batch from the sender from;
// a message that cannot be sent gets its problem.
func (s *Server) prepareItem(it *batchItem, from string) {
	if it.problem != nil {
		return
	}
	t, p := s.checkSend(it.req.To, it.req.Type, it.req.Payload)
	if p != nil {
		it.problem = p
		return
	}
	if it.req.TimeoutMS != 0 {
		it.problem = protocol.NewProblem(protocol.CodeBadRequest, `"timeout_ms" belongs to the batch, not to its messages`)
		return
	}
	it.out.from = protocol.Sender{Service: from}
	it.out.msg = s.newMsg(t, &it.req, &it.out.from)
	it.out.keep, it.problem = s.keepFor(t, &it.req)
}

// deliverBatch delivers the valid items, every target concurrently, all under
// one timeout that starts now. Account-wide items are resolved one after the
// other, while the deliveries of the items before them run; at most
// MaxTargets deliveries run at once, as many as one push may start, so that a
// batch's goroutines stay bounded whatever its fan-out. A target whose delivery
// could not start before the timeout is timeout.
func (s *Server) deliverBatch(ctx context.Context, timeout time.Duration, items []batchItem) {
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// Single-device items, the common case, share one results array.
	single := 0
	for i := range items {
		if items[i].problem == nil && items[i].req.To.Device.Named {
			single++
		}
	}
	ones := make([]protocol.Result, single)
	slots := make(chan struct{}, s.cfg.MaxTargets)
	var wg sync.WaitGroup
	for i := range items {
		it := &items[i]
		if it.problem != nil {
			continue
		}
		account := it.req.To.Account
		if d := it.req.To.Device; d.Named {
			it.results, ones = ones[:1:1], ones[1:]
			it.results[0].Device = d.ID
		} else {
			targets, p := s.targets(ctx, account, it.out.keep > 0)
			if p != nil {
				it.problem = p
				continue
			}
			it.results = make([]protocol.Result, len(targets))
			for j, d := range targets {
				it.results[j].Device = d
			}
		}
		accepted := time.Now()
		it.out.msg.TS = accepted.UnixMilli()
		for j := range it.results {
			res := &it.results[j]
			if !acquire(dctx, slots) {
				res.Status = protocol.StatusTimeout
				s.metrics.syncLatency.Observe(time.Since(accepted).Seconds())
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				*res = s.deliver(dctx, accepted, account, res.Device, &it.out.msg, it.out.keep)
				<-slots
			}()
		}
	}
	wg.Wait()
}

// acquire takes a slot unless ctx ends first, and reports whether it did. A
// slot freed by a delivery that ended with ctx is not taken: both are ready
// then, and select would choose at random.
func acquire(ctx context.Context, slots chan struct{}) bool {
	if ctx.Err() != nil {
		return false
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	if ctx.Err() != nil {
		<-slots
		return false
	}
	return true
}
