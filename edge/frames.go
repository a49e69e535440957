package edge

import (
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/heraldpush/herald/protocol"
)

// handleFrame handles one data message from a device (binary when binary is
// true). It returns true when the connection must end.
//
// Every frame, whatever its kind and whether it decodes, first takes a token of
// the connection's frame budget (FrameRate, FrameBurst); a frame over it is
// dropped and answered rate_limited, and MaxRateHits of those in a row close the
// connection with 1008. Error replies take a token of the error budget
// (ErrorRate, ErrorBurst): past it they are not sent, so a flood of bad frames
// gets no more bytes back than the budget allows.
func (s *Server) handleFrame(ss *session, binary bool, data []byte) bool {
	if !ss.frames.take(s.cfg.Now().UnixNano(), s.cfg.FrameRate, s.cfg.FrameBurst, 1) {
		s.met.overBudget[budgetFrames].Inc()
		return s.rateLimited(ss, "", "frame rate exceeded")
	}
	if binary {
		return s.badFrame(ss, "", "binary messages are not frames: send one JSON object per text message", true, "binary", "")
	}
	if !utf8.Valid(data) {
		// RFC 6455, section 8.1: a text message that is not UTF-8 fails the
		// connection with 1007, rather than being read with replacement characters.
		ss.end(CloseInvalidUTF8, causeInvalidUTF8)
		return true
	}
	f, err := protocol.Decode(data)
	if err != nil {
		var de *protocol.DecodeError
		if errors.As(err, &de) {
			return s.badFrame(ss, replyID(de.ID), de.Error(), de.Reason == protocol.ReasonNotObject, string(de.Reason), de.Field)
		}
		return s.badFrame(ss, "", err.Error(), true, "undecodable", "")
	}
	switch f := f.(type) {
	case *protocol.Msg:
		return s.handleDeviceMsg(ss, f, data)
	case *protocol.Ack:
		if !protocol.ValidMsgID(f.ID) {
			return s.badFrame(ss, "", "ack id: "+msgIDRule, false, "bad_id", "id")
		}
		ss.rateHits = 0
		if _, stored, sender := ss.ack(f.ID); stored {
			s.removeAcked(ss, f.ID)
			s.lateAcked(ss, sender, f.ID)
		}
	case *protocol.Hello:
		return s.hello(ss, f)
	case *protocol.Sub:
		return s.subscribe(ss, f.ID, f.Topics, f.After)
	case *protocol.Unsub:
		return s.unsubscribe(ss, f.ID, f.Topics)
	case *protocol.Refresh:
		return s.refresh(ss, f)
	default:
		s.replyError(ss, &protocol.Error{Code: protocol.CodeBadFrame, Message: fmt.Sprintf("frame kind %q is not sent by devices", f.Kind())})
	}
	return false
}

// msgIDRule is what an invalid message id is told (docs/protocol.md, Ids).
const msgIDRule = "a message id is 1 to 128 bytes of printable ASCII without spaces"

// replyID is id when it may be echoed in an error frame's re, else "".
func replyID(id string) string {
	if protocol.ValidMsgID(id) {
		return id
	}
	return ""
}

// badFrame answers a frame that cannot be handled with a bad_frame error. Frames
// that are not JSON objects at all count toward MaxBadFrames per BadFrameWindow
// (a token bucket), which closes the connection with 1003 when exceeded; it
// returns true then. The log line (rate-limited) names the reason and the field
// only: msg may quote the frame, and frames carry payloads.
func (s *Server) badFrame(ss *session, re, msg string, counts bool, reason, field string) bool {
	s.replyError(ss, &protocol.Error{Re: re, Code: protocol.CodeBadFrame, Message: msg})
	if ok, suppressed := s.noisy.allow(noisyBadFrame, time.Now()); ok {
		ss.log.Debug("bad frame", "reason", reason, "field", field, "suppressed", suppressed)
	}
	if !counts {
		return false
	}
	rate := float64(s.cfg.MaxBadFrames) / s.cfg.BadFrameWindow.Seconds()
	if ss.bad.take(s.cfg.Now().UnixNano(), rate, s.cfg.MaxBadFrames, 1) && ss.bad.tokens >= 1 {
		return false
	}
	s.met.overBudget[budgetBadFrames].Inc()
	ss.end(CloseUnsupported, causeBadFrames)
	return true
}

// replyError sends an error frame in reply to a device's frame, within the
// connection's error budget; past it the reply is counted and not sent. Reader
// goroutine only.
func (s *Server) replyError(ss *session, e *protocol.Error) {
	if !ss.errs.take(s.cfg.Now().UnixNano(), s.cfg.ErrorRate, s.cfg.ErrorBurst, 1) {
		s.met.overBudget[budgetErrors].Inc()
		return
	}
	s.sendError(ss, e)
}

// sendError queues an error frame; a full queue drops it (the device is not keeping
// up, and the frame is advisory).
func (s *Server) sendError(ss *session, e *protocol.Error) {
	if err := s.send(ss, e, nil); err != nil {
		ss.log.Debug("error frame not queued", "code", e.Code, "err", err)
	}
}

// rateLimited answers a frame over a budget; MaxRateHits in a row (with no frame
// within every budget between them) close the connection with 1008, put the
// device in policy backoff (penalty.go) and return true.
func (s *Server) rateLimited(ss *session, re, msg string) bool {
	s.met.rateLimited[dirIn].Inc()
	s.replyError(ss, &protocol.Error{Re: re, Code: protocol.CodeRateLimited, Message: msg})
	ss.rateHits++
	if ok, suppressed := s.noisy.allow(noisyRateLimited, time.Now()); ok {
		ss.log.Info("device rate limited", "why", msg, "hits", ss.rateHits, "suppressed", suppressed)
	}
	if ss.rateHits >= s.cfg.MaxRateHits {
		s.penalize(ss) // before the close frame: the device may reconnect as soon as it has it
		ss.end(ClosePolicy, causePolicy)
		return true
	}
	return false
}
