package edge

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/tracing"
)

// MaxIDBytes bounds a client-chosen message id (protocol.MaxMsgIDLen).
const MaxIDBytes = protocol.MaxMsgIDLen

// handleDeviceMsg checks a device's msg and starts its delivery to the targets on a
// goroutine of its own, so that the reader keeps reading (acks must not wait behind a
// delivery). frame is the frame m was decoded from, read only during the call
// (deviceKeep). It returns true when the connection must end.
func (s *Server) handleDeviceMsg(ss *session, m *protocol.Msg, frame []byte) bool {
	received := time.Now()
	now := s.cfg.Now()
	if !ss.allowMsg(now, 1) {
		s.met.in(s.cfg.Types, m.Type, inRateLimited)
		return s.rateLimited(ss, replyID(m.ID), "message rate exceeded")
	}
	targets, perr := s.admitDeviceMsg(ss, m)
	if perr != nil {
		s.met.in(s.cfg.Types, m.Type, inRejected)
		s.replyError(ss, perr)
		return false
	}
	// Each target past the first costs a token of its own: a message to many
	// devices costs what as many messages would.
	if n := len(targets); n > 1 && !ss.allowMsg(now, n-1) {
		s.met.in(s.cfg.Types, m.Type, inRateLimited)
		return s.rateLimited(ss, m.ID, fmt.Sprintf("message rate exceeded: %d targets cost %d tokens", n, n))
	}
	ss.rateHits = 0
	if ss.inflight.Add(1) > int32(s.cfg.MaxInflight) {
		ss.inflight.Add(-1)
		s.met.in(s.cfg.Types, m.Type, inRateLimited)
		return s.rateLimited(ss, m.ID, fmt.Sprintf("more than %d messages in flight", s.cfg.MaxInflight))
	}
	s.met.in(s.cfg.Types, m.Type, inAccepted)
	out := &protocol.Msg{
		ID:      m.ID,
		Type:    m.Type,
		From:    &protocol.Sender{Device: ss.device},
		TS:      s.cfg.Now().UnixMilli(),
		TTL:     m.TTL,
		Ack:     m.Ack,
		Payload: m.Payload,
	}
	keep := s.deviceKeep(out, frame)
	// The reader holds a count on the WaitGroup, so this Add never races with Wait.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer ss.inflight.Add(-1)
		s.fanOut(ss, out, targets, received, keep)
	}()
	return false
}

// admitDeviceMsg checks a device's msg (id, target, type, payload) and resolves its
// targets; the error frame says what is wrong.
func (s *Server) admitDeviceMsg(ss *session, m *protocol.Msg) ([]target, *protocol.Error) {
	if m.ID == "" {
		m.ID = protocol.NewID()
	} else if !protocol.ValidMsgID(m.ID) {
		return nil, &protocol.Error{Code: protocol.CodeBadFrame, Message: "id: " + msgIDRule}
	}
	if m.To == nil {
		return nil, &protocol.Error{Re: m.ID, Code: protocol.CodeBadFrame, Message: `a device msg needs "to": {"device"}, {"devices"} or {"siblings":true}`}
	}
	if perr := checkTargetIDs(m.To); perr != nil {
		perr.Re = m.ID
		return nil, perr
	}
	if perr := s.checkMsg(m); perr != nil {
		perr.Re = m.ID
		return nil, perr
	}
	targets, perr := s.targets(ss, m.To)
	if perr != nil {
		perr.Re = m.ID
		return nil, perr
	}
	return targets, nil
}

// checkMsg validates a device message's type and payload against the type registry.
func (s *Server) checkMsg(m *protocol.Msg) *protocol.Error {
	t, ok := s.cfg.Types.Lookup(m.Type)
	if !ok {
		return &protocol.Error{Code: protocol.CodeUnknownType, Message: fmt.Sprintf("unknown message type %q", m.Type)}
	}
	if !t.Allows(protocol.DeviceToDevice) {
		return &protocol.Error{Code: protocol.CodeForbidden, Message: fmt.Sprintf("type %q may not be sent device to device", m.Type)}
	}
	if err := t.Validate(m.Payload); err != nil {
		return validationError(err)
	}
	return nil
}

// validationError turns a payload validation failure into an error frame.
func validationError(err error) *protocol.Error {
	var ve *protocol.ValidationError
	if errors.As(err, &ve) {
		return &protocol.Error{Code: ve.Code, Message: ve.Error(), Details: ve.Details}
	}
	return &protocol.Error{Code: protocol.CodeSchemaInvalid, Message: err.Error()}
}

// target is one resolved target of a device message: a device to deliver to, or a
// result known without delivery (an unknown device).
type target struct {
	device string
	preset *protocol.Result
}

// Codes of per-target errors in receipts.
const errUnknownDevice = "unknown_device"

// checkTargetIDs refuses a "to" naming a device id that is not valid
// (protocol.ValidID): such a message can never be sent, so the error is final.
func checkTargetIDs(to *protocol.Target) *protocol.Error {
	if to.Device != "" && !protocol.ValidID(to.Device) {
		return &protocol.Error{Code: protocol.CodeBadFrame, Message: "to.device: " + protocol.IDProblem(to.Device)}
	}
	for i, d := range to.Devices {
		if !protocol.ValidID(d) {
			return &protocol.Error{Code: protocol.CodeBadFrame, Message: fmt.Sprintf("to.devices.%d: %s", i, protocol.IDProblem(d))}
		}
	}
	return nil
}

// targets resolves a msg's "to" against the sender's account in the device list
// (read through the edge's cache, no query per target). A named device that is
// not in the account's list gets the result rejected "unknown_device", whether
// another account has a device of that id or none does: the answer must not tell
// a device which ids exist outside its account. {"siblings":true} is every other
// device of the account.
func (s *Server) targets(ss *session, to *protocol.Target) ([]target, *protocol.Error) {
	ctx, cancel := context.WithTimeout(ss.ctx, s.cfg.RegistryTimeout)
	defer cancel()
	ids, err := s.devices.ids(ctx, ss.account)
	if err != nil {
		return nil, &protocol.Error{Code: protocol.CodeUnavailable, Message: "the device list cannot be read right now; retry"}
	}
	var named []string
	switch {
	case to.Device != "":
		named = []string{to.Device}
	case len(to.Devices) > 0:
		named = to.Devices
	case to.Siblings:
		named = make([]string, 0, len(ids))
		for _, d := range ids {
			if d != ss.device {
				named = append(named, d)
			}
		}
	}
	// A named device the cached list lacks may have just been added
	// elsewhere: read the list once more before calling it unknown.
	for _, d := range named {
		if !has(ids, d) {
			if again := s.devices.idsAgain(ctx, ss.account, s.cfg.Now()); again != nil {
				ids = again
			}
			break
		}
	}
	seen := make(map[string]bool, len(named))
	out := make([]target, 0, len(named))
	for _, d := range named {
		if seen[d] {
			continue
		}
		seen[d] = true
		if len(out) == s.cfg.MaxTargets {
			return nil, &protocol.Error{Code: protocol.CodeTooLarge, Message: fmt.Sprintf("more than %d targets", s.cfg.MaxTargets)}
		}
		if has(ids, d) {
			out = append(out, target{device: d})
			continue
		}
		out = append(out, target{device: d, preset: &protocol.Result{Device: d, Status: protocol.StatusRejected, Error: errUnknownDevice}})
	}
	if len(out) == 0 && !to.Siblings {
		return nil, &protocol.Error{Code: protocol.CodeBadFrame, Message: `"to" names no device`}
	}
	return out, nil
}

// fanOut delivers m to every target and answers the sender with receipts: one when
// every target has its first outcome (delivered, offline, queued, ...), and, when
// acks were asked for, a second one once every target has its final outcome. Each
// target written to observes its latency since received. A target found offline,
// whether by this edge, the registry or the edge that held it, gets m stored in
// its inbox when keep is above 0 (deviceKeep): here, once, on the sender's edge.
func (s *Server) fanOut(src *session, m *protocol.Msg, targets []target, received time.Time, keep time.Duration) {
	timeout := s.cfg.WriteTimeout
	if m.Ack {
		timeout = s.cfg.AckTimeout
	}
	wait, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	// ctx is assigned once, so that the goroutines below capture it by value.
	ctx, span := s.cfg.Tracer.DeviceMsg(wait, src.account, src.device, m.ID, m.Type)
	defer span.End()
	deliver := s.deliverLocal
	if s.cfg.Router != nil {
		deliver = s.cfg.Router.Deliver
	}
	type outcome struct {
		i     int
		r     protocol.Result
		final bool
	}
	ch := make(chan outcome, 2*len(targets))
	for i, t := range targets {
		if t.preset != nil {
			ch <- outcome{i, *t.preset, true}
			continue
		}
		go func() {
			r := deliver(ctx, src.account, t.device, m, func(p protocol.Result) { ch <- outcome{i, p, false} })
			if r.Status == protocol.StatusOffline && keep > 0 {
				r = s.storeDeviceMsg(src, t.device, m, keep)
			}
			ch <- outcome{i, r, true}
		}()
	}
	first := make([]protocol.Result, len(targets))
	final := make([]protocol.Result, len(targets))
	firstLeft, finalLeft := len(targets), len(targets)
	sentFirst := false
	for finalLeft > 0 {
		o := <-ch
		if first[o.i].Status == "" {
			first[o.i] = o.r
			firstLeft--
			if o.r.Status == protocol.StatusDelivered || o.r.Status == protocol.StatusAcked {
				s.met.latency.Observe(time.Since(received).Seconds())
			}
		}
		if o.final {
			final[o.i] = o.r
			finalLeft--
		}
		if firstLeft == 0 && !sentFirst {
			sentFirst = true
			s.sendReceipt(src, m.ID, first)
			tracing.Event(span, "receipt")
		}
	}
	if !sentFirst {
		s.sendReceipt(src, m.ID, final)
		return
	}
	for i := range final {
		if final[i] != first[i] {
			s.sendReceipt(src, m.ID, final)
			return
		}
	}
}

func (s *Server) sendReceipt(ss *session, id string, results []protocol.Result) {
	r := &protocol.Receipt{ID: id, Results: append(make([]protocol.Result, 0, len(results)), results...)}
	if err := s.send(ss, r, nil); err != nil {
		ss.log.Debug("receipt not queued", "id", id, "err", err)
	}
}
