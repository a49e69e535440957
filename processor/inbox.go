package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
)

// Inbox keeps the messages to offline devices until they connect
// (store-and-forward); the edge drains it. inbox.Redis and inbox.Memory
// implement it.
type Inbox interface {
	Put(ctx context.Context, m inbox.Message) (inbox.PutResult, error)
}

var (
	_ Inbox = (*inbox.Redis)(nil)
	_ Inbox = (*inbox.Memory)(nil)
)

// keepFor returns how long m waits in the inbox of its device, found offline
// at now: the ttl m has left, cut to its type's store (protocol.Policy.Keep,
// the rule of the sync push). It is 0, m not stored, without an inbox or the
// types, for a message to a whole account, of a type not known here, or when
// the policy says so.
func (p *Processor) keepFor(m *Message, now time.Time) time.Duration {
	if p.cfg.Inbox == nil || p.cfg.Types == nil || m.Device == "" {
		return 0
	}
	t, ok := p.cfg.Types.Lookup(m.Type)
	if !ok {
		return 0
	}
	ttl := time.Duration(-1)
	if m.Expires > 0 {
		ttl = max(time.UnixMilli(m.Expires).Sub(now), 0)
	}
	return t.Policy.Keep(ttl)
}

// store puts m in the inbox of its offline device for keep and returns the
// device's event: queued, expired when the inbox found it expired, or failed
// with the reason when the inbox could not take it, so that a sender is never
// told queued for a message not stored. An unavailable inbox is tried
// MaxAttempts times, like a delivery.
func (p *Processor) store(ctx context.Context, m *Message, keep time.Duration, now time.Time) Event {
	e := Event{ID: m.ID, Account: m.Account, Device: m.Device, Priority: m.Priority, Status: Queued}
	var from string
	if m.From != "" {
		b, err := json.Marshal(&protocol.Sender{Service: m.From})
		if err != nil {
			e.Status, e.Error = Failed, fmt.Sprintf("storing in the inbox: %v", err)
			return e
		}
		from = string(b)
	}
	msg := inbox.Message{
		ID: m.ID, Account: m.Account, Device: m.Device, Type: m.Type, From: from, Payload: m.Payload,
		Priority: m.Priority, CollapseKey: m.CollapseKey, Expires: now.Add(keep), Ack: m.Ack, Enqueued: time.UnixMilli(m.Accepted),
	}
	var res inbox.PutResult
	var err error
	for attempt := range p.cfg.MaxAttempts {
		if attempt > 0 && !p.sleep(ctx, attempt) {
			break
		}
		sctx, cancel := context.WithTimeout(ctx, p.cfg.DeliveryTimeout)
		res, err = p.cfg.Inbox.Put(sctx, msg)
		cancel()
		// A put that failed left the inbox as it was or did it whole, which
		// the same id answers as a duplicate: retrying is safe.
		if !errors.Is(err, inbox.ErrUnavailable) {
			break
		}
	}
	switch {
	case errors.Is(err, inbox.ErrTooLarge):
		e.Status, e.Error = Failed, fmt.Sprintf("%s: larger than the device's inbox holds", protocol.CodeTooLarge)
	case err != nil:
		p.cfg.Logger.Warn("storing a message failed", "id", m.ID, "account", m.Account, "device", m.Device, "err", err)
		e.Status, e.Error = Failed, fmt.Sprintf("%s: storing in the inbox: %v", protocol.CodeUnavailable, err)
	case slices.Contains(res.Expired, m.ID):
		e.Status = Expired
	}
	if err == nil {
		p.reportInbox(m, res)
		if e.Status == Queued && !res.Duplicate {
			p.nudge(ctx, m)
		}
	}
	return e
}

// reportInbox emits the outcomes of the other messages of m's inbox that m's
// put changed: the one it replaced by its collapse key, those it dropped to
// keep the inbox within its limits, and those found expired, so that their
// senders see them leave the inbox undelivered. Their type is not known here.
func (p *Processor) reportInbox(m *Message, res inbox.PutResult) {
	other := func(id string, o Outcome, reason string) {
		p.emit(Event{ID: id, Account: m.Account, Device: m.Device, Status: o, Error: reason}, "")
	}
	if res.Replaced != "" {
		other(res.Replaced, Collapsed, "")
	}
	for _, id := range res.Dropped {
		other(id, Dropped, "the device's inbox was full")
	}
	for _, id := range res.Expired {
		if id != m.ID {
			other(id, Expired, "")
		}
	}
}
