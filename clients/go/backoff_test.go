package herald

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBackoffBounds(t *testing.T) {
	const ms = time.Millisecond
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		name     string
		min, max time.Duration
		attempt  int
		lo, hi   time.Duration // the delay's range for that attempt
	}{
		{"first", 500 * ms, 30 * time.Second, 0, 500 * ms, 1000 * ms},
		{"second", 500 * ms, 30 * time.Second, 1, 1000 * ms, 2000 * ms},
		{"fourth", 500 * ms, 30 * time.Second, 3, 4000 * ms, 8000 * ms},
		{"capped", 500 * ms, 30 * time.Second, 10, 15 * time.Second, 30 * time.Second},
		{"no overflow", 500 * ms, 30 * time.Second, 200, 15 * time.Second, 30 * time.Second},
		{"max below twice min", time.Second, 1500 * ms, 0, time.Second, 1500 * ms},
		{"min equals max", time.Second, time.Second, 5, time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, r := range []struct {
				name string
				f    func(int64) int64
				want time.Duration
			}{{"lowest", lowest, tt.lo}, {"highest", highest, tt.hi}} {
				b := newBackoff(tt.min, tt.max)
				b.int64n = r.f
				b.attempt = tt.attempt
				if got := b.next(); got != r.want {
					t.Errorf("%s random: next() = %v, want %v", r.name, got, r.want)
				}
			}
			b := newBackoff(tt.min, tt.max)
			for range 1000 {
				b.attempt = tt.attempt
				if d := b.next(); d < tt.lo || d > tt.hi {
					t.Fatalf("next() = %v, outside [%v, %v]", d, tt.lo, tt.hi)
				}
			}
		})
	}
}

func TestBackoffGrowsAndResets(t *testing.T) {
	b := newBackoff(100*time.Millisecond, 10*time.Second)
	b.int64n = func(int64) int64 { return 0 }
	var got []time.Duration
	for range 4 {
		got = append(got, b.next())
	}
	b.reset()
	got = append(got, b.next())
	want := []time.Duration{100, 200, 400, 800, 100}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
}

func TestJitterAfter(t *testing.T) {
	tests := []struct {
		name   string
		after  time.Duration
		lo, hi time.Duration
	}{
		{"20 percent", 10 * time.Second, 10 * time.Second, 12 * time.Second},
		{"at least 250ms", 50 * time.Millisecond, 50 * time.Millisecond, 300 * time.Millisecond},
		{"zero", 0, 0, 250 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jitterAfter(tt.after, func(int64) int64 { return 0 }); got != tt.lo {
				t.Errorf("lowest = %v, want %v", got, tt.lo)
			}
			if got := jitterAfter(tt.after, func(n int64) int64 { return n - 1 }); got != tt.hi {
				t.Errorf("highest = %v, want %v", got, tt.hi)
			}
			for range 1000 {
				if d := jitterAfter(tt.after, rand.Int64N); d < tt.lo || d > tt.hi {
					t.Fatalf("jitterAfter = %v, outside [%v, %v]", d, tt.lo, tt.hi)
				}
			}
		})
	}
}

func TestJitterRetry(t *testing.T) {
	tests := []struct {
		name  string
		retry time.Duration
		pick  func(n int64) int64
		want  time.Duration
	}{
		{"no jitter drawn", 10 * time.Minute, func(int64) int64 { return 0 }, 10 * time.Minute},
		{"largest jitter is 20%", 10 * time.Minute, func(n int64) int64 { return n - 1 }, 12 * time.Minute},
		{"short retry", 200 * time.Millisecond, func(n int64) int64 { return n - 1 }, 240 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jitterRetry(tt.retry, tt.pick); got != tt.want {
				t.Errorf("jitterRetry(%v) = %v, want %v", tt.retry, got, tt.want)
			}
		})
	}
}
