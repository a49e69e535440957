package processor

import "sync"

// lanePool runs the lanes of one priority's batches on goroutines that live
// as long as the priority's consume loop. A goroutine started per lane per
// batch began each time on a small stack and grew it in the deep write path
// of a delivery (Router.Deliver down to the frame encoder): copying stacks was
// about 7 % of the CPU at 1,000 messages a second in batches of 20. The
// pool's goroutines keep their stacks from batch to batch.
type lanePool struct {
	jobs chan laneJob
	wg   sync.WaitGroup
}

// laneJob is one job of lanePool.run and the group it reports to.
type laneJob struct {
	fn   func()
	done *sync.WaitGroup
}

// newLanePool starts n goroutines that run the jobs of run until stop.
func newLanePool(n int) *lanePool {
	lp := &lanePool{jobs: make(chan laneJob)}
	for range n {
		lp.wg.Go(func() {
			for job := range lp.jobs {
				job.fn()
				job.done.Done()
			}
		})
	}
	return lp
}

// run runs each of jobs on a goroutine of the pool, as many at once as the
// pool has goroutines, and returns when all have returned.
func (lp *lanePool) run(jobs []func()) {
	var done sync.WaitGroup
	done.Add(len(jobs))
	for _, fn := range jobs {
		lp.jobs <- laneJob{fn: fn, done: &done}
	}
	done.Wait()
}

// stop ends the pool's goroutines once their jobs have returned; the pool
// takes no jobs after it.
func (lp *lanePool) stop() {
	close(lp.jobs)
	lp.wg.Wait()
}
