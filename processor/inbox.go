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

// keepFor returns how long m waits in the inbox of device, found offline at
// now: the ttl m has left, cut to its type's store (protocol.Policy.Keep, the
// rule of the sync push). It is 0, m not stored, without an inbox or the
// types, for a message to a whole account without a device list, of a type
// not known here, or when the policy says so.
func (p *Processor) keepFor(m *Message, device string, now time.Time) time.Duration {
	if p.cfg.Inbox == nil || p.cfg.Types == nil || (device == "" && p.cfg.Devices == nil) {
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
func (p *Processor) store(ctx context.Context, m *Message, device string, keep time.Duration, now time.Time) Event {
	e := Event{ID: m.ID, Account: m.Account, Device: device, Priority: m.Priority, Status: Queued}
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
		ID: m.ID, Account: m.Account, Device: device, Type: m.Type, From: from, Payload: m.Payload,
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
		p.cfg.Logger.Warn("storing a message failed", "id", m.ID, "account", m.Account, "device", device, "err", err)
		e.Status, e.Error = Failed, fmt.Sprintf("%s: storing in the inbox: %v", protocol.CodeUnavailable, err)
	case slices.Contains(res.Expired, m.ID):
		e.Status = Expired
	}
	if err == nil {
		if e.Status == Queued {
			e.Expires = res.Expires.UnixMilli()
		}
		p.reportInbox(m, device, res)
		if e.Status == Queued && !res.Duplicate {
			p.nudge(ctx, m, device)
		}
	}
	return e
}

// reportInbox emits the outcomes of the other messages of m's inbox that m's
// put changed (PutEvents), so that their senders see them leave the inbox
// undelivered. Their type is not known here.
func (p *Processor) reportInbox(m *Message, device string, res inbox.PutResult) {
	for _, e := range PutEvents(m.Account, device, m.ID, res, 0) {
		p.emit(m.events, e, "")
	}
}

// withListed adds to connected the devices of account's device list that are
// not in it, so that the listed devices that are offline get a message to the
// whole account stored. A device list that cannot be read, after MaxAttempts,
// leaves connected as it is: the message reaches the connected devices, and
// the log says that offline devices were not stored for.
func (p *Processor) withListed(ctx context.Context, account string, connected []string) []string {
	var listed []string
	var err error
	for attempt := range p.cfg.MaxAttempts {
		if attempt > 0 && !p.sleep(ctx, attempt) {
			break
		}
		lctx, cancel := context.WithTimeout(ctx, p.cfg.DeliveryTimeout)
		listed, err = p.cfg.Devices.Listed(lctx, account)
		cancel()
		if err == nil {
			break
		}
	}
	if err != nil {
		p.cfg.Logger.Warn("reading the device list failed: the message reaches the connected devices only, none is stored for", "account", account, "err", err)
		return connected
	}
	return AddListed(connected, listed, func(d string) string { return d })
}

// AddListed returns connected followed by the devices of listed (their ids
// by id) that connected does not hold: the targets of a message to a whole
// account that stores for its listed devices that are offline. The sync push
// shares it.
func AddListed[D any](connected []string, listed []D, id func(D) string) []string {
	seen := make(map[string]struct{}, len(connected))
	for _, d := range connected {
		seen[d] = struct{}{}
	}
	out := connected
	for _, d := range listed {
		if _, ok := seen[id(d)]; !ok {
			out = append(out, id(d))
		}
	}
	return out
}

// PutEvents returns the outcomes of the other messages of account/device's
// inbox that the put of id changed: the one it replaced by its collapse key
// (collapsed), those it dropped to keep the inbox within its limits
// (dropped), and those found expired (expired), each at at (Unix
// milliseconds; 0 lets the producer set it).
func PutEvents(account, device, id string, res inbox.PutResult, at int64) []Event {
	var out []Event
	for _, c := range res.Others(id) {
		out = append(out, Event{ID: c.ID, Account: account, Device: device, Status: Outcome(c.Outcome), Error: c.Reason, At: at})
	}
	return out
}
