package api

import (
	"math"
	"sync"
	"time"
)

// bucket is a token bucket: it holds up to burst tokens, refilled at rate a
// second; a request takes one. A bucket with rate 0 admits everything.
type bucket struct {
	rate  float64
	burst float64

	mu      sync.Mutex // guards tokens, last and started
	tokens  float64
	last    time.Time
	started bool
}

// newBucket returns a full bucket; rate <= 0 is no limit, burst < 1 one second's
// worth of rate (at least 1).
func newBucket(rate float64, burst int) *bucket {
	if rate <= 0 {
		return &bucket{}
	}
	b := float64(burst)
	if burst < 1 {
		b = max(1, math.Floor(rate))
	}
	return &bucket{rate: rate, burst: b, tokens: b}
}

// take takes a token at now. When there is none it returns false and how long
// until there is one.
func (b *bucket) take(now time.Time) (bool, time.Duration) {
	if b.rate <= 0 {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.started {
		if d := now.Sub(b.last); d > 0 {
			b.tokens = min(b.burst, b.tokens+d.Seconds()*b.rate)
		}
	}
	if !b.started || now.After(b.last) {
		b.last, b.started = now, true
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
	return false, max(wait, time.Nanosecond)
}
