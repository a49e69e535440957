package edge

import "time"

// bucket is a token bucket: tokens come back at a rate per second up to a burst,
// and each admitted event takes some. Every per-connection and per-edge budget of
// the edge (messages, frames, hellos, error replies, undecodable frames, outbound
// messages, new connections) is one, so that they all follow one rule. The zero
// bucket is full at its first use. It is not safe for concurrent use: its owner
// (a reader goroutine, or a mutex) serializes it.
type bucket struct {
	tokens float64
	fill   int64 // last refill, Unix ns; 0 before the first take
}

// refill adds the tokens earned since the last refill, up to burst.
func (b *bucket) refill(now int64, rate float64, burst int) {
	if b.fill == 0 {
		b.tokens, b.fill = float64(burst), now
		return
	}
	if d := now - b.fill; d > 0 {
		b.tokens = min(b.tokens+time.Duration(d).Seconds()*rate, float64(burst))
		b.fill = now
	}
}

// take takes n tokens at time now (Unix ns) and reports true, or takes nothing
// and reports false when fewer than n are left.
func (b *bucket) take(now int64, rate float64, burst int, n float64) bool {
	b.refill(now, rate, burst)
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// wait is how long until one token is back (0 when one is there).
func (b *bucket) wait(rate float64) time.Duration {
	if b.tokens >= 1 || rate <= 0 {
		return 0
	}
	return time.Duration((1 - b.tokens) / rate * float64(time.Second))
}
