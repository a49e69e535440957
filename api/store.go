package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
)

// Inbox keeps the sync pushes to offline devices until they connect
// (store-and-forward); the edge drains it.
type Inbox interface {
	Put(ctx context.Context, m inbox.Message) (inbox.PutResult, error)
}

// Reporter produces status events to the status store (processor.Producer
// does, through the herald.status topic).
type Reporter interface {
	Report(e processor.Event)
}

// keepFor returns how long a push of type t waits for an offline device: its
// ttl, absent taking the type's store and cut to it, and zero when the push is
// not to be stored (a type without store, ttl 0, or a server without an
// inbox). A push with ack is stored too: the edge removes it on the device's ack. A ttl out of range is a problem.
func (s *Server) keepFor(t *protocol.Type, req *PushRequest) (time.Duration, *protocol.Problem) {
	if req.TTL != nil && (*req.TTL < 0 || *req.TTL > protocol.MaxStore) {
		return 0, protocol.NewProblem(protocol.CodeBadRequest, fmt.Sprintf(`"ttl" must be between 0 and %d seconds`, protocol.MaxStore))
	}
	ttl := time.Duration(-1)
	if req.TTL != nil {
		ttl = time.Duration(*req.TTL) * time.Second
	}
	if s.cfg.Inbox == nil {
		return 0, nil
	}
	return t.Policy.Keep(ttl), nil
}

// store puts m in the inbox of the offline device for keep, and returns the
// device's result: queued, or rejected with unavailable when the inbox could
// not take it, so that a sender is never told queued for a message not stored.
func (s *Server) store(ctx context.Context, accepted time.Time, account, device string, m *protocol.Msg, keep time.Duration) protocol.Result {
	res := protocol.Result{Device: device, Status: protocol.StatusQueued}
	from, err := json.Marshal(m.From)
	var put inbox.PutResult
	if err == nil {
		put, err = s.cfg.Inbox.Put(ctx, inbox.Message{
			ID: m.ID, Account: account, Device: device, Type: m.Type, From: string(from),
			Payload: m.Payload, Expires: accepted.Add(keep), Ack: m.Ack, Enqueued: accepted,
		})
	}
	switch {
	case errors.Is(err, inbox.ErrTooLarge):
		res.Status, res.Error = protocol.StatusRejected, string(protocol.CodeTooLarge)
	case err != nil:
		s.cfg.Logger.Warn("storing a push failed", "account", account, "device", device, "err", err)
		res.Status, res.Error = protocol.StatusRejected, string(protocol.CodeUnavailable)
	default:
		s.reportStored(accepted, account, device, m.ID, put)
		s.nudgeStored(ctx, account, device, m.ID, put)
	}
	return res
}

// reportStored records the status of the push id stored for account/device:
// accepted at accepted, queued for the device until its expiry (or expired,
// when the inbox found it so), and what its put did to the other messages of
// the inbox (collapsed, dropped, expired). A duplicate put reports nothing.
func (s *Server) reportStored(accepted time.Time, account, device, id string, put inbox.PutResult) {
	if s.cfg.Reporter == nil || put.Duplicate {
		return
	}
	now := time.Now().UnixMilli()
	s.cfg.Reporter.Report(processor.Event{ID: id, Account: account, Status: processor.Queued, At: accepted.UnixMilli()})
	for _, e := range processor.PutEvents(account, device, id, put, now) {
		s.cfg.Reporter.Report(e)
	}
	if slices.Contains(put.Expired, id) {
		s.cfg.Reporter.Report(processor.Event{ID: id, Account: account, Device: device, Status: processor.Expired, At: now})
		return
	}
	s.cfg.Reporter.Report(processor.Event{ID: id, Account: account, Device: device, Status: processor.Queued,
		At: now, Expires: put.Expires.UnixMilli()})
}
