package edge

import (
	"context"
	"sync"
	"time"

	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/tracing"
)

// linkJob is one delivery that came in over a link: the decoded message and the
// context it runs under. It is its own context, so that a delivery costs no
// context.WithTimeout (a context, a timer, a closure and a channel): the timer
// is made once per job and reset, the channel reused until it is closed, and
// the jobs are pooled. A job is a context only while it runs; deliverLocal
// keeps no context past its return.
type linkJob struct {
	s    *Server
	lc   *link.Conn
	jobs *linkJobs
	in   link.InMsg

	deadline time.Time
	timer    *time.Timer // fires expire; stopped when the job finishes

	mu   sync.Mutex
	done chan struct{} // closed by cancel; a closed one is replaced before reuse
	err  error         // guarded by mu: why done is closed

	prev, next *linkJob // guarded by jobs.mu: the link's jobs in flight
}

var _ context.Context = (*linkJob)(nil)

// Deadline implements context.Context.
func (j *linkJob) Deadline() (time.Time, bool) { return j.deadline, true }

// Done implements context.Context.
func (j *linkJob) Done() <-chan struct{} { return j.done }

// Err implements context.Context.
func (j *linkJob) Err() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.err
}

// Value implements context.Context with the server's values.
func (j *linkJob) Value(key any) any { return j.s.ctx.Value(key) }

// cancel ends the job's context with err, once.
func (j *linkJob) cancel(err error) {
	j.mu.Lock()
	if j.err == nil {
		j.err = err
		close(j.done)
	}
	j.mu.Unlock()
}

func (j *linkJob) expire() { j.cancel(context.DeadlineExceeded) }

// linkJobPool holds finished jobs for reuse.
var linkJobPool sync.Pool

// newLinkJob returns a job of s on lc, ready for its message to be decoded into.
func newLinkJob(s *Server, lc *link.Conn, jobs *linkJobs) *linkJob {
	j, _ := linkJobPool.Get().(*linkJob)
	if j == nil {
		j = &linkJob{done: make(chan struct{})}
		j.timer = time.AfterFunc(time.Hour, j.expire)
		j.timer.Stop()
	}
	j.s, j.lc, j.jobs = s, lc, jobs
	return j
}

// release puts a job that never started back in the pool.
func (j *linkJob) release() {
	j.s, j.lc, j.jobs, j.in = nil, nil, nil, link.InMsg{}
	linkJobPool.Put(j)
}

// start arms the job's deadline, wait from now, and adds it to its link's jobs.
func (j *linkJob) start(wait time.Duration) {
	j.mu.Lock()
	if j.err != nil {
		j.err, j.done = nil, make(chan struct{})
	}
	j.mu.Unlock()
	j.deadline = time.Now().Add(wait)
	j.jobs.add(j)
	j.timer.Reset(wait)
}

// finish disarms the job and puts it back in the pool, unless its timer has
// fired or is firing, in which case the job is left to the garbage collector.
func (j *linkJob) finish() {
	stopped := j.timer.Stop()
	j.jobs.remove(j)
	if stopped {
		j.release()
	}
}

// run delivers the job's message and sends its outcome back over the link.
func (j *linkJob) run() {
	s := j.s
	defer s.wg.Done()
	defer j.finish()
	var res protocol.Result
	// The job is the delivery's context; a traced msg runs under a child
	// of it that carries the span of the receipt of the frame.
	var ctx context.Context = j
	ctx, span := s.cfg.Tracer.LinkReceive(ctx, j.in.TP, j.in.Account, j.in.Device, j.in.Msg.ID)
	if j.jobs.region {
		res = s.cfg.RegionRouter.Deliver(ctx, j.in.Account, j.in.Device, &j.in.Msg, j.progress)
	} else {
		res = s.deliverLocal(ctx, j.in.Account, j.in.Device, &j.in.Msg, j.progress)
	}
	tracing.End(span, string(res.Status), res.Error)
	s.linkReceipt(j.lc, j.in.Msg.ID, res)
}

// progress reports the delivered result of a message that awaits its ack.
func (j *linkJob) progress(r protocol.Result) { j.s.linkReceipt(j.lc, j.in.Msg.ID, r) }

// linkJobs are the jobs in flight of one incoming link. When the server's
// context ends, it cancels them, as a context derived from it would be.
type linkJobs struct {
	stop func() bool // ends the watch on the server's context

	mu     sync.Mutex
	head   *linkJob // guarded by mu
	err    error    // guarded by mu: the server's context ended with it
	served bool     // guarded by mu: the link is still being read
	// region is set for the jobs of a region link (regions.go), before the
	// link's first frame is read; it never changes.
	region bool
}

// watchLinkJobs starts the set of an incoming link's jobs.
func watchLinkJobs(ctx context.Context) *linkJobs {
	js := &linkJobs{served: true}
	js.stop = context.AfterFunc(ctx, func() { js.cancelAll(ctx.Err()) })
	return js
}

func (js *linkJobs) add(j *linkJob) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if js.err != nil {
		j.cancel(js.err)
		return
	}
	j.prev, j.next = nil, js.head
	if js.head != nil {
		js.head.prev = j
	}
	js.head = j
}

func (js *linkJobs) remove(j *linkJob) {
	js.mu.Lock()
	defer js.mu.Unlock()
	if j.prev != nil {
		j.prev.next = j.next
	} else if js.head == j {
		js.head = j.next
	}
	if j.next != nil {
		j.next.prev = j.prev
	}
	j.prev, j.next = nil, nil
	if !js.served && js.head == nil {
		js.stop()
	}
}

// unserved records that the link is no longer read: once its last job
// finishes, the watch on the server's context ends.
func (js *linkJobs) unserved() {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.served = false
	if js.head == nil {
		js.stop()
	}
}

func (js *linkJobs) cancelAll(err error) {
	js.mu.Lock()
	defer js.mu.Unlock()
	js.err = err
	for j := js.head; j != nil; j = j.next {
		j.cancel(err)
	}
}
