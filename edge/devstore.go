package edge

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
)

// deviceKeep returns how long a device's msg waits in the inbox of a target
// found offline: protocol.Policy.Keep of its type with the msg's ttl, the rule
// of the API and the processor (a msg with ack is stored too, and leaves the
// inbox when the target acks it). A frame cannot tell an absent ttl
// from 0, so only a ttl above 0 stores: a device msg without one stays now or
// never, as it was before the inbox. Zero without an inbox.
func (s *Server) deviceKeep(m *protocol.Msg) time.Duration {
	if s.cfg.Inbox == nil || m.TTL <= 0 {
		return 0
	}
	t, ok := s.cfg.Types.Lookup(m.Type)
	if !ok {
		return 0
	}
	return t.Policy.Keep(time.Duration(m.TTL) * time.Second)
}

// storeDeviceMsg puts m, sent by src, in the inbox of its offline sibling
// device for keep from m's acceptance (m.TS), and returns the target's result: queued, or rejected with unavailable (too_large for a
// payload larger than an inbox) when the inbox could not take it, so that a
// sender is never told queued for a message not stored. A queued one is
// counted in herald_messages_total (d2d, out, queued). The put is bounded by
// the inbox's own timeout, not by what the delivery left of the fan-out's.
func (s *Server) storeDeviceMsg(src *session, device string, m *protocol.Msg, keep time.Duration) protocol.Result {
	res := protocol.Result{Device: device, Status: protocol.StatusQueued}
	accepted := time.UnixMilli(m.TS)
	from, err := json.Marshal(m.From)
	if err == nil {
		_, err = s.cfg.Inbox.Put(s.ctx, inbox.Message{
			ID: m.ID, Account: src.account, Device: device, Type: m.Type, From: string(from),
			Payload: m.Payload, Expires: accepted.Add(keep), Enqueued: accepted, Ack: m.Ack,
		})
	}
	switch {
	case err == nil:
		s.met.out(s.cfg.Types, m, protocol.StatusQueued)
		s.nudgeStored(src, device)
	case errors.Is(err, inbox.ErrTooLarge):
		res.Status, res.Error = protocol.StatusRejected, string(protocol.CodeTooLarge)
	default:
		if ok, suppressed := s.noisy.allow(noisyInbox, time.Now()); ok {
			src.log.Warn("storing a device message for an offline sibling failed", "target", device, "err", err, "suppressed", suppressed)
		}
		res.Status, res.Error = protocol.StatusRejected, string(protocol.CodeUnavailable)
	}
	return res
}
