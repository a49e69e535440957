package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// The drain mode measures store-and-forward's reconnect drain. prepare stores
// --stored messages for each of the worker's devices while none is connected
// (fill: sync pushes of notification.v1, each answered queued); run then
// connects every device, --concurrency dialling at a time, and waits, up to
// --drain after the last connect, until each has read its stored messages,
// then --settle more, so that the server's CPU includes the removal of the
// last messages from the inboxes. A message's latency is from the worker's
// first dial to the device reading it: its p50 is when half of the stored
// messages had arrived, its max the time to the last one.

// fill stores the worker's messages: message seq for the device of local unit
// seq mod count, sent through spec.Concurrency senders. A push answered
// rejected (an inbox that could not take it: Redis over its timeout under the
// fill's load) is counted in the statuses and not awaited; any other answer
// but queued (offline: no inbox; delivered: a device online; an error) fails
// the run, as does a fill of which nothing was stored.
func (w *worker) fill(ctx context.Context) error {
	total := len(w.sendAt)
	jobs := make(chan int, w.spec.Concurrency)
	var wg sync.WaitGroup
	for range w.spec.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rp, err := newRawPoster(w.cfg.URL, w.cfg.Key, time.Minute)
			if err == nil {
				defer rp.close()
			}
			var buf []byte
			for seq := range jobs {
				buf = w.push(ctx, rp, buf[:0], seq, 1)
			}
		}()
	}
feed:
	for seq := range total {
		select {
		case jobs <- seq:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return err
	}
	w.statMu.Lock()
	queued, rejected, statuses := w.statuses["queued"], w.statuses["rejected"], fmtCounts(w.statuses)
	w.statMu.Unlock()
	w.n.stored.Store(queued)
	if queued == 0 || queued+rejected != int64(total) {
		return fmt.Errorf("drain: %d of %d pushes were stored (statuses: %s; first error: %s): does the server have an inbox, and are the bench's devices offline?", queued, total, statuses, w.errText())
	}
	return nil
}

// drainRun connects the worker's devices and waits for their stored messages.
func (w *worker) drainRun(ctx context.Context) {
	receivers, _ := w.jobs()
	w.dialAll(ctx, receivers, w.spec.Concurrency)
	w.drain(ctx)
	sleepCtx(ctx, w.cfg.Settle)
}
