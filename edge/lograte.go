package edge

import (
	"sync"
	"time"
)

// noisy is a kind of log line that a misbehaving or hostile client can cause at
// will, and that is therefore rate-limited.
type noisy uint8

// The noisy kinds.
const (
	noisyAuth        noisy = iota // a connection refused: no token, a bad one, a foreign origin
	noisyRateLimited              // a device over its message rate
	noisyBadFrame                 // an undecodable frame
	noisyRefused                  // a connection refused for capacity: limits, drain, shutdown
	noisyStore                    // a device-list write a device caused failed (a connect while the store is down, hello metadata)
	noisyInbox                    // a read, removal or put of the inbox failed
	noisyTopics                   // adding or withdrawing a topic in the registry failed
	numNoisy
)

// noisyPerSecond is how many lines of one kind are logged per second; the rest are
// counted and the count is reported with the next line logged.
const noisyPerSecond = 5

// logLimiter rate-limits noisy log lines per kind, in windows of one second.
type logLimiter struct {
	mu    sync.Mutex
	kinds [numNoisy]struct {
		window     time.Time // start of the current window
		n          int       // lines logged in the window
		suppressed int       // lines suppressed since the last line logged
	} // guarded by mu
}

// allow reports whether a line of kind k may be logged at now and, when it may, how
// many lines of the kind were suppressed before it (to be logged with it).
func (l *logLimiter) allow(k noisy, now time.Time) (ok bool, suppressed int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := &l.kinds[k]
	if now.Sub(st.window) >= time.Second || now.Before(st.window) {
		st.window, st.n = now, 0
	}
	if st.n >= noisyPerSecond {
		st.suppressed++
		return false, 0
	}
	st.n++
	suppressed, st.suppressed = st.suppressed, 0
	return true, suppressed
}
