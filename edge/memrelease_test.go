package edge

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestReleaser feeds the releaser the new connections of each tick and checks
// the ticks (counted from 1) at which it releases.
func TestReleaser(t *testing.T) {
	repeat := func(n int, v int64) []int64 { return slices.Repeat([]int64{v}, n) }
	join := func(parts ...[]int64) []int64 { return slices.Concat(parts...) }
	// 100 connections make a burst; 3 ticks with at most 30 connections (10 a
	// tick) are quiet.
	tests := []struct {
		name  string
		after int
		quiet time.Duration
		ticks []int64 // new connections in each tick
		want  []int   // the ticks that release
	}{
		{name: "burst then quiet", ticks: join([]int64{500}, repeat(6, 0)), want: []int{4}},
		{name: "burst over several ticks", ticks: join(repeat(5, 200), repeat(5, 0)), want: []int{8}},
		{name: "a handful during the quiet period", ticks: join([]int64{1000}, repeat(5, 8)), want: []int{4}},
		{name: "too many during the quiet period", ticks: join([]int64{1000}, repeat(4, 20), repeat(4, 0)), want: []int{7}},
		{name: "two bursts", ticks: join([]int64{500}, repeat(3, 0), []int64{500}, repeat(4, 0)), want: []int{4, 8}},
		{name: "burst below the threshold", ticks: join([]int64{99}, repeat(6, 0)), want: nil},
		{name: "trickle below the threshold", ticks: repeat(15, 5), want: nil},
		{name: "trickle that adds up", ticks: repeat(45, 5), want: []int{20, 40}},
		{name: "continuous load never quiet", ticks: repeat(30, 200), want: nil},
		{name: "quiet start, then a burst", ticks: []int64{0, 0, 0, 300, 0, 0, 0}, want: []int{7}},
		{name: "quiet period shorter than a tick", quiet: time.Millisecond, ticks: []int64{500, 0, 0}, want: []int{2}},
		{name: "disabled", quiet: -1, ticks: join([]int64{5000}, repeat(20, 0)), want: nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			after, quiet := cmp.Or(tt.after, 100), cmp.Or(tt.quiet, 3*time.Second)
			r := newReleaser(after, quiet, time.Second, 10, 0)
			if (r == nil) != (tt.quiet < 0) {
				t.Fatalf("newReleaser(quiet %v) = %v", quiet, r)
			}
			var got []int
			var n int64
			for i, d := range tt.ticks {
				n += d
				if r.observe(n) {
					got = append(got, i+1)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("released at ticks %v, want %v", got, tt.want)
			}
		})
	}
}

func TestReleaseMemoryConfig(t *testing.T) {
	tests := []struct {
		name      string
		after     int
		quiet     time.Duration
		wantAfter int
		wantQuiet time.Duration
		wantErr   string
	}{
		{name: "defaults", wantAfter: DefaultReleaseMemoryAfterConns, wantQuiet: DefaultReleaseMemoryQuiet},
		{name: "set", after: 50, quiet: time.Minute, wantAfter: 50, wantQuiet: time.Minute},
		{name: "off", quiet: -1, wantAfter: DefaultReleaseMemoryAfterConns, wantQuiet: -1},
		{name: "negative connections", after: -1, wantErr: "ReleaseMemoryAfterConns must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEdge(t, nil)
			cfg := e.srv.cfg
			cfg.ReleaseMemoryAfterConns, cfg.ReleaseMemoryQuiet, cfg.releaseMemory = tt.after, tt.quiet, nil
			err := cfg.setDefaults()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("setDefaults: %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.ReleaseMemoryAfterConns != tt.wantAfter || cfg.ReleaseMemoryQuiet != tt.wantQuiet || cfg.releaseMemory == nil {
				t.Errorf("got %d, %v (release func set: %t), want %d, %v", cfg.ReleaseMemoryAfterConns, cfg.ReleaseMemoryQuiet, cfg.releaseMemory != nil, tt.wantAfter, tt.wantQuiet)
			}
		})
	}
}

// TestReleaseMemoryAfterBurst connects a burst of real WebSocket devices to a
// running edge and waits for it to return memory once they have stopped coming.
func TestReleaseMemoryAfterBurst(t *testing.T) {
	const after, burst = 20, 25 // one release: a second needs 20 more connections
	var released atomic.Int32
	e := mustEdge(t, func(c *Config) {
		c.ReleaseMemoryAfterConns = after
		c.ReleaseMemoryQuiet = time.Second
		c.releaseMemory = func() { released.Add(1) }
	})
	for i := range burst {
		e.mustDial(t, "a1", fmt.Sprintf("d%d", i))
	}
	eventually(t, "a release after the burst", func() bool { return released.Load() >= 1 })
	eventually(t, "the release to be counted", func() bool { return e.metric(t, "herald_edge_memory_releases_total") == 1 })
	if got := released.Load(); got != 1 {
		t.Errorf("released %d times after %d connections, want once", got, burst)
	}
}
