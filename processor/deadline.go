package processor

import (
	"context"
	"sync"
	"time"
)

// deadlines hands the delivery attempts of one batch, all its lanes, a context
// that ends DeliveryTimeout after the attempt started, give or take a tenth
// of it: one context serves every attempt that starts within a tenth of
// DeliveryTimeout of its creation, instead of a context and a timer for each
// attempt, which was a tenth of a processor's allocations. So an attempt has
// at least nine tenths of DeliveryTimeout and at most all of it.
type deadlines struct {
	parent  context.Context
	timeout time.Duration

	mu     sync.Mutex // the lanes, and the devices of one account, run concurrently
	ctx    context.Context
	cancel context.CancelFunc
	end    time.Time
}

// newDeadlines returns the deadlines of a batch whose attempts run under parent.
func newDeadlines(parent context.Context, timeout time.Duration) *deadlines {
	return &deadlines{parent: parent, timeout: timeout}
}

// within returns a context for an attempt under ctx that starts now; cancel
// releases it. When ctx is not the batch's context (a span was added to it),
// the context is ctx's own, as when d is nil.
func (d *deadlines) within(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	if d == nil || ctx != d.parent {
		return context.WithTimeout(ctx, timeout)
	}
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.ctx == nil || d.end.Sub(now) < d.timeout-d.timeout/10 {
		// The context replaced is not cancelled: an attempt of another
		// lane, or another device of the same account, may still be under
		// it. Its timer
		// releases it at its deadline.
		d.end = now.Add(d.timeout)
		d.ctx, d.cancel = context.WithDeadline(d.parent, d.end)
	}
	return d.ctx, func() {}
}

// stop releases the batch's current context, once no attempt holds it.
func (d *deadlines) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cancel != nil {
		d.cancel()
	}
}
