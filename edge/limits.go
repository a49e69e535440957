package edge

import (
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// enterDevice admits a device connection before its token is checked: it is
// refused while the edge shuts down or drains, at MaxConnections, and over
// ConnectRate. When it admits, it adopts the calling handler goroutine into the
// server's WaitGroup and counts the connection; the caller must call leave when it
// returns. When it refuses, retry is the wait before a token is free (rate only).
func (s *Server) enterDevice() (r refusal, retry time.Duration, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closing:
		return refusedShutdown, 0, false
	case s.draining.Load():
		return refusedDraining, 0, false
	case s.cfg.MaxConnections > 0 && s.conns >= s.cfg.MaxConnections:
		return refusedMaxConnections, 0, false
	}
	if s.cfg.ConnectRate > 0 {
		if wait := s.takeConnectLocked(s.cfg.Now()); wait > 0 {
			return refusedRateLimited, wait, false
		}
	}
	s.conns++
	s.wg.Add(1)
	return 0, 0, true
}

// leave ends what enterDevice began, once the connection's session (if any) has
// ended and been unregistered.
func (s *Server) leave() {
	s.mu.Lock()
	s.conns--
	if s.conns == 0 && s.idle != nil {
		select {
		case <-s.idle:
		default:
			close(s.idle)
		}
	}
	s.mu.Unlock()
	s.wg.Done()
}

// takeConnectLocked takes a token from the edge's connect bucket and returns 0, or
// returns how long until a token is free. The caller holds s.mu.
func (s *Server) takeConnectLocked(now time.Time) time.Duration {
	if s.connBucket.take(now.UnixNano(), s.cfg.ConnectRate, s.cfg.ConnectBurst, 1) {
		return 0
	}
	return s.connBucket.wait(s.cfg.ConnectRate)
}

// refuse answers a connection refused before the upgrade, counts it and logs it
// (rate-limited). Capacity refusals are 503 problems; a refusal by ConnectRate
// carries Retry-After in whole seconds, at least 1.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, why refusal, retry time.Duration) {
	s.met.refused[why].Inc()
	if ok, suppressed := s.noisy.allow(noisyRefused, time.Now()); ok {
		s.cfg.Logger.Info("connection refused", "reason", refusalLabel[why], "remote", r.RemoteAddr, "suppressed", suppressed)
	}
	var detail string
	switch why {
	case refusedShutdown:
		detail = "edge is shutting down"
	case refusedDraining:
		detail = "edge is draining: connect to another edge"
	case refusedMaxConnections:
		detail = "edge is at its connection limit (" + strconv.Itoa(s.cfg.MaxConnections) + ")"
	case refusedRateLimited:
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int(math.Ceil(retry.Seconds())))))
		detail = "edge is accepting connections at its rate limit: retry later"
	}
	protocol.NewProblem(protocol.CodeUnavailable, detail).Write(w)
}
