package api

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// PushTarget addresses a push: one device of an account, or every connected device
// of it when Device is empty.
type PushTarget struct {
	Account string `json:"account"`
	Device  string `json:"device,omitempty"`
}

// PushRequest is the body of POST /v1/push.
type PushRequest struct {
	To        PushTarget `json:"to"`
	Type      string     `json:"type"`
	Payload   jsonRaw    `json:"payload"`
	Ack       *bool      `json:"ack,omitempty"`
	TimeoutMS int64      `json:"timeout_ms,omitempty"`
}

// PushResponse is the answer to POST /v1/push.
type PushResponse struct {
	ID      string            `json:"id"`
	Results []protocol.Result `json:"results"`
}

// push serves POST /v1/push: validate, deliver to each target concurrently, and
// answer once each target has a final outcome or the timeout passed.
func (s *Server) push(w http.ResponseWriter, r *http.Request) {
	var req PushRequest
	delivered := false
	defer func() {
		if !delivered {
			s.metrics.answered(pathPush, req.Type, statusOf(w))
		}
	}()
	if !s.decodeJSON(w, r, &req) {
		return
	}
	t, ok := s.checkSend(w, req.To, req.Type, req.Payload)
	if !ok {
		return
	}
	timeout := s.cfg.PushTimeout
	// Compared in milliseconds: converting first would let a huge value wrap around
	// into a small Duration and pass.
	if req.TimeoutMS < 0 || req.TimeoutMS > s.cfg.MaxPushTimeout.Milliseconds() {
		protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf(`"timeout_ms" must be between 0 and %d`, s.cfg.MaxPushTimeout.Milliseconds())).Write(w)
		return
	}
	if req.TimeoutMS > 0 {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	ack := t.Policy.Ack
	if req.Ack != nil {
		ack = *req.Ack
	}
	targets, ok := s.pushTargets(w, r.Context(), req.To)
	if !ok {
		return
	}
	accepted := time.Now()
	m := &protocol.Msg{
		ID:      protocol.NewID(),
		Type:    req.Type,
		From:    &protocol.Sender{Service: sender(r.Context())},
		TS:      accepted.UnixMilli(),
		TTL:     t.Policy.TTL,
		Ack:     ack,
		Payload: []byte(req.Payload),
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	results := make([]protocol.Result, len(targets))
	var wg sync.WaitGroup
	for i, d := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = s.cfg.Deliverer.Deliver(ctx, req.To.Account, d, m, nil)
			s.metrics.syncLatency.Observe(time.Since(accepted).Seconds())
		}()
	}
	wg.Wait()
	delivered = true
	if len(results) == 0 {
		s.metrics.message(pathPush, req.Type, string(protocol.StatusOffline))
	}
	for _, res := range results {
		s.metrics.message(pathPush, req.Type, string(res.Status))
	}
	writeJSON(w, http.StatusOK, PushResponse{ID: m.ID, Results: results})
}

// pushTargets resolves a push's devices; on failure it writes the problem.
func (s *Server) pushTargets(w http.ResponseWriter, ctx context.Context, to PushTarget) ([]string, bool) {
	if to.Device != "" {
		return []string{to.Device}, true
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.LookupTimeout)
	defer cancel()
	devs, err := s.cfg.Directory.Connected(ctx, to.Account)
	if err != nil {
		s.cfg.Logger.Warn("listing devices failed", "account", to.Account, "err", err)
		protocol.NewProblem(protocol.CodeUnavailable, "the account's devices cannot be listed right now").Write(w)
		return nil, false
	}
	if len(devs) > s.cfg.MaxTargets {
		protocol.NewProblem(protocol.CodeTooLarge, fmt.Sprintf("the account has %d devices, a push reaches at most %d", len(devs), s.cfg.MaxTargets)).Write(w)
		return nil, false
	}
	return devs, true
}

// checkSend validates what a sync and an async send share: the target, and the
// payload against its type, which must allow service-to-device sends. On failure
// it writes the problem.
func (s *Server) checkSend(w http.ResponseWriter, to PushTarget, typ string, payload jsonRaw) (*protocol.Type, bool) {
	if to.Account == "" {
		protocol.NewProblem(protocol.CodeBadRequest, `"to.account" is required`).Write(w)
		return nil, false
	}
	if typ == "" {
		protocol.NewProblem(protocol.CodeBadRequest, `"type" is required`).Write(w)
		return nil, false
	}
	if len(payload) == 0 {
		protocol.NewProblem(protocol.CodeBadRequest, `"payload" is required`).Write(w)
		return nil, false
	}
	t, ok := s.cfg.Types.Lookup(typ)
	if !ok {
		protocol.NewProblem(protocol.CodeUnknownType, fmt.Sprintf("unknown message type %q", typ)).Write(w)
		return nil, false
	}
	if !t.Allows(protocol.ServiceToDevice) {
		protocol.NewProblem(protocol.CodeForbidden, fmt.Sprintf("type %q may not be sent from a service to a device", typ)).Write(w)
		return nil, false
	}
	if err := t.Validate(payload); err != nil {
		validationProblem(err).Write(w)
		return nil, false
	}
	return t, true
}
