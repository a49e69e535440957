package edge

import (
	"errors"
	"math/rand/v2"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// reconnectJitter bounds the after_ms hint of a reconnect frame: each device is
// told to wait a random time below it (plus its own jitter) before reconnecting.
// Lifetimes and drains already spread the reconnect frames, so the hint only
// breaks up what arrives in the same tick.
const reconnectJitter = time.Second

// drawLifetime returns a lifetime drawn uniformly from [lo, hi].
func drawLifetime(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	return lo + rand.N(hi-lo+1)
}

// deadlineResolution is the tick of the wheel's deadline ring: fine enough that a
// lifetime or a grace period ends at most a sixteenth of the shorter one late,
// between 1 ms and 1 s.
func deadlineResolution(minLifetime, grace time.Duration) time.Duration {
	return min(max(min(minLifetime, grace)/16, time.Millisecond), time.Second)
}

// setTokenEnd records when the session's device token stops being accepted (its
// exp plus the verifier's clock skew); zero means never.
func (ss *session) setTokenEnd(until time.Time) {
	if !until.IsZero() {
		ss.tokenEnd = until.UnixNano()
	}
}

// capToken brings a deadline of kind k at t forward to the session's token end
// when that comes first: a session holds one deadline, so the token's expiry
// costs no timer and no second list entry.
func (ss *session) capToken(t time.Time, k dueKind) (time.Time, dueKind) {
	if ss.tokenEnd != 0 && ss.tokenEnd < t.UnixNano() {
		return time.Unix(0, ss.tokenEnd), dueToken
	}
	return t, k
}

// expire is called by the wheel when a session's deadline passes: at the end of its
// lifetime it is asked to reconnect; at the end of the grace that follows it is
// closed, with 4002 after a lifetime and 1001 after a drain. When its token
// expires it is closed with 4001 (reason token_expired), whatever came before.
func (s *Server) expire(ss *session, k dueKind) {
	switch k {
	case dueToken:
		ss.end(CloseTokenExpired, causeTokenExpired)
	case dueLifetime:
		s.reconnect(ss, causeLifetime)
	case dueGrace:
		c := cause(ss.reconnect.Load())
		code := CloseGoingAway
		if c == causeLifetime {
			code = CloseLifetime
		}
		ss.end(code, c)
	}
}

// reconnect sends ss a reconnect frame for cause c (lifetime or drain), once per
// session, and schedules its close ReconnectGrace later unless the device closes
// first. It never blocks: a reconnect frame for a full queue is dropped and the
// close follows the grace all the same.
func (s *Server) reconnect(ss *session, c cause) {
	if !ss.reconnect.CompareAndSwap(uint32(causeNone), uint32(c)) {
		return
	}
	ss.cause.CompareAndSwap(uint32(causeNone), uint32(c))
	reason := protocol.ReasonLifetime
	if c == causeDrain {
		reason = protocol.ReasonDrain
	}
	f := &protocol.Reconnect{AfterMS: rand.Int64N(reconnectJitter.Milliseconds()), Reason: reason}
	if err := s.send(ss, f, nil); errors.Is(err, errClosed) {
		return
	}
	s.wheel.schedule(ss, time.Now().Add(s.cfg.ReconnectGrace), dueGrace)
}
