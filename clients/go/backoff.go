package herald

import (
	"math/rand/v2"
	"time"
)

// backoff computes reconnect delays with "equal jitter": the n-th delay in a
// row (n from 0) lies in [ceil/2, ceil] with ceil = min(max, min<<(n+1)),
// clamped to [min, max]. Half of each window is fixed so that delays grow
// for sure while an edge is down; the other half is random so that devices
// dropped together do not come back together.
type backoff struct {
	min, max time.Duration
	attempt  int
	// int64n returns a number in [0, n); rand.Int64N unless a test sets it.
	int64n func(n int64) int64
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, int64n: rand.Int64N}
}

// next returns the delay before the next attempt and counts the attempt.
func (b *backoff) next() time.Duration {
	ceil := b.max
	// min<<(n+1) without overflow: stop doubling once it reaches max.
	if d := b.min; d < b.max {
		for i := 0; i <= b.attempt && d < b.max; i++ {
			d *= 2
		}
		ceil = min(d, b.max)
	}
	b.attempt++
	half := ceil / 2
	d := half + time.Duration(b.int64n(int64(ceil-half)+1))
	return min(max(d, b.min), b.max)
}

// reset starts the next run of failures from the smallest window again.
func (b *backoff) reset() { b.attempt = 0 }

// jitterAfter returns the wait after a reconnect frame: after plus a random
// jitter of up to 20% of after, and up to at least 250ms, so that the devices
// of a draining edge spread out.
func jitterAfter(after time.Duration, int64n func(int64) int64) time.Duration {
	span := max(after/5, 250*time.Millisecond)
	return after + time.Duration(int64n(int64(span)+1))
}

// jitterRetry returns the wait before a client on a fallback checks the
// preferred endpoint: retry plus a random jitter of up to 20% of it, so that
// the devices that failed over together do not all return together when
// their region comes back.
func jitterRetry(retry time.Duration, int64n func(int64) int64) time.Duration {
	return retry + time.Duration(int64n(int64(retry/5)+1))
}
