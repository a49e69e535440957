package processor

import (
	"sync"
	"sync/atomic"
	"testing"
)

// TestLanePool checks that run runs every job once, on at most the pool's
// goroutines at a time, returns only when all have returned, and that the pool
// serves batch after batch until stop (goleak, in TestMain, checks that stop
// ends its goroutines).
func TestLanePool(t *testing.T) {
	for _, tc := range []struct {
		name          string
		workers, jobs int
	}{
		{"fewer jobs than workers", 4, 2},
		{"as many", 4, 4},
		{"more jobs than workers", 2, 7},
		{"no jobs", 3, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			lp := newLanePool(tc.workers)
			defer lp.stop()
			for round := range 3 {
				var ran, running, most atomic.Int64
				var mu sync.Mutex
				seen := make(map[int]int)
				jobs := make([]func(), tc.jobs)
				for i := range jobs {
					jobs[i] = func() {
						n := running.Add(1)
						for {
							m := most.Load()
							if n <= m || most.CompareAndSwap(m, n) {
								break
							}
						}
						mu.Lock()
						seen[i]++
						mu.Unlock()
						ran.Add(1)
						running.Add(-1)
					}
				}
				lp.run(jobs)
				if got := ran.Load(); got != int64(tc.jobs) {
					t.Fatalf("round %d: %d jobs ran by the time run returned, want %d", round, got, tc.jobs)
				}
				for i := range tc.jobs {
					if seen[i] != 1 {
						t.Fatalf("round %d: job %d ran %d times", round, i, seen[i])
					}
				}
				if most.Load() > int64(tc.workers) {
					t.Fatalf("round %d: %d jobs ran at once on a pool of %d", round, most.Load(), tc.workers)
				}
			}
		})
	}
}
