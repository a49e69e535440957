package edge

import "time"

// Defaults of the memory release after a burst of connections (see
// Config.ReleaseMemoryAfterConns).
const (
	DefaultReleaseMemoryAfterConns = 1000
	DefaultReleaseMemoryQuiet      = 10 * time.Second
)

// releaseTick is how often the edge looks at the count of accepted connections.
const releaseTick = time.Second

// releaseQuietRate is the most new connections a second, on average over
// ReleaseMemoryQuiet, that still let the edge count as quiet: the reconnects of
// lifetimes drawn around 30 minutes on an edge of 15,000 connections come at
// about 8 a second, and should not keep a burst's garbage in RSS for good.
const releaseQuietRate = 10

// releaser decides when to hand freed memory back to the OS. It is fed the
// accepted-connections counter once a tick and says release after at least
// after connections were accepted since the last release, once the last window
// ticks saw at most quiet of them. It holds no lock: one goroutine owns it.
type releaser struct {
	after   int64   // connections since the last release that make a burst
	quiet   int64   // the most connections the window may see and still be quiet
	last    int64   // the counter at the last release (or at start)
	samples []int64 // ring: the counter at the last len(samples) ticks
	ticks   int     // samples taken, up to len(samples)
	next    int     // the ring slot the next sample goes to
}

// newReleaser returns the releaser of a quiet period of quiet (whole ticks, at
// least one) that starts with the counter at start, or nil when quiet is
// negative: the release is off.
func newReleaser(after int, quiet, tick time.Duration, quietRate, start int64) *releaser {
	if quiet < 0 {
		return nil
	}
	window := max(1, int((quiet+tick-1)/tick))
	r := &releaser{after: int64(after), quiet: quietRate * int64(window), last: start, samples: make([]int64, window)}
	r.observe(start)
	return r
}

// observe records the counter at one tick and reports whether to release now.
// A nil releaser never releases.
func (r *releaser) observe(accepted int64) bool {
	if r == nil {
		return false
	}
	oldest := r.samples[r.next] // the counter window ticks ago, once the ring is full
	r.samples[r.next] = accepted
	r.next = (r.next + 1) % len(r.samples)
	if r.ticks < len(r.samples) {
		r.ticks++
		return false
	}
	if accepted-r.last < r.after || accepted-oldest > r.quiet {
		return false
	}
	r.last = accepted
	return true
}

// releaseMemory watches the accepted connections until the server stops and
// hands freed memory back to the OS after each burst (see
// Config.ReleaseMemoryAfterConns). Each handshake leaves about 17 KiB of garbage
// that the runtime would otherwise keep, up to its heap goal.
func (s *Server) releaseMemory(r *releaser) {
	t := time.NewTicker(releaseTick)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
		}
		n := s.accepted.Load()
		if !r.observe(n) {
			continue
		}
		start := time.Now()
		s.cfg.releaseMemory()
		s.met.memReleases.Inc()
		s.cfg.Logger.Info("returned freed memory to the OS after a burst of connections", "accepted", n, "took", time.Since(start))
	}
}
