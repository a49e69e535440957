package edge

import (
	"errors"
	"fmt"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// handleFrame handles one text frame from a device. It returns true when the
// connection must end.
func (s *Server) handleFrame(ss *session, data []byte) bool {
	f, err := protocol.Decode(data)
	if err != nil {
		var de *protocol.DecodeError
		if errors.As(err, &de) {
			return s.badFrame(ss, de.ID, de.Error(), de.Reason == protocol.ReasonNotObject, string(de.Reason), de.Field)
		}
		return s.badFrame(ss, "", err.Error(), true, "undecodable", "")
	}
	ss.badFrames = 0
	switch f := f.(type) {
	case *protocol.Msg:
		return s.handleDeviceMsg(ss, f)
	case *protocol.Ack:
		ss.ack(f.ID)
	case *protocol.Hello:
		s.hello(ss, f)
	default:
		s.sendError(ss, &protocol.Error{Code: protocol.CodeBadFrame, Message: fmt.Sprintf("frame kind %q is not sent by devices", f.Kind())})
	}
	return false
}

// badFrame answers an undecodable frame with a bad_frame error. Frames that are not
// JSON objects at all count toward MaxBadFrames in a row, which closes the
// connection with 1003; it returns true then. The log line (rate-limited) names
// the reason and the field only: msg may quote the frame, and frames carry payloads.
func (s *Server) badFrame(ss *session, re, msg string, counts bool, reason, field string) bool {
	s.sendError(ss, &protocol.Error{Re: re, Code: protocol.CodeBadFrame, Message: msg})
	if ok, suppressed := s.noisy.allow(noisyBadFrame, time.Now()); ok {
		ss.log.Debug("bad frame", "reason", reason, "field", field, "suppressed", suppressed)
	}
	if !counts {
		return false
	}
	ss.badFrames++
	if ss.badFrames >= s.cfg.MaxBadFrames {
		ss.end(CloseUnsupported, causeBadFrames)
		return true
	}
	return false
}

// sendError queues an error frame; a full queue drops it (the device is not keeping
// up, and the frame is advisory).
func (s *Server) sendError(ss *session, e *protocol.Error) {
	if err := s.send(ss, e, nil); err != nil {
		ss.log.Debug("error frame not queued", "code", e.Code, "err", err)
	}
}

// rateLimited answers a msg over the rate; MaxRateHits in a row close the
// connection with 1008 and return true.
func (s *Server) rateLimited(ss *session, re, msg string) bool {
	s.met.rateLimited[dirIn].Inc()
	s.sendError(ss, &protocol.Error{Re: re, Code: protocol.CodeRateLimited, Message: msg})
	ss.rateHits++
	if ok, suppressed := s.noisy.allow(noisyRateLimited, time.Now()); ok {
		ss.log.Info("device rate limited", "why", msg, "hits", ss.rateHits, "suppressed", suppressed)
	}
	if ss.rateHits >= s.cfg.MaxRateHits {
		ss.end(ClosePolicy, causePolicy)
		return true
	}
	return false
}
