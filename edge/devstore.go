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
// inbox when the target acks it). A msg without a ttl takes the type's store,
// one with ttl 0 is now or never; protocol.Msg cannot tell the two apart, so
// for a ttl of 0 of a type that stores, frame (the msg as the device sent it)
// is read again for its "ttl" (ttlGiven): once per such msg, never for a type
// without store. Zero without an inbox.
func (s *Server) deviceKeep(m *protocol.Msg, frame []byte) time.Duration {
	if s.cfg.Inbox == nil {
		return 0
	}
	t, ok := s.cfg.Types.Lookup(m.Type)
	if !ok || t.Policy.Store == 0 {
		return 0
	}
	ttl := time.Duration(m.TTL) * time.Second
	if m.TTL == 0 && !ttlGiven(frame) {
		ttl = -1
	}
	return t.Policy.Keep(ttl)
}

// ttlGiven reports whether a msg frame, already decoded by protocol.Decode,
// has a "ttl" member that is not null (names match case-insensitively there,
// as encoding/json's do).
func ttlGiven(frame []byte) bool {
	var probe struct {
		TTL json.RawMessage `json:"ttl"`
	}
	if err := json.Unmarshal(frame, &probe); err != nil {
		return true // not reached: Decode took the frame; keep the old rule
	}
	return len(probe.TTL) > 0 && string(probe.TTL) != "null"
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
	var put inbox.PutResult
	if err == nil {
		put, err = s.cfg.Inbox.Put(s.ctx, inbox.Message{
			ID: m.ID, Account: src.account, Device: device, Type: m.Type, From: string(from),
			Payload: m.Payload, Expires: accepted.Add(keep), Enqueued: accepted, Ack: m.Ack,
		})
	}
	switch {
	case err == nil:
		s.met.out(s.cfg.Types, m, protocol.StatusQueued)
		s.reportStored(src.account, device, m.ID, put)
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
