package edge

import (
	"context"
	"sync"
	"time"
)

// wheelSlots is the number of slots of the keepalive wheel: each tick visits one
// slot, so a connection is visited once per interval and the work is spread evenly.
const wheelSlots = 16

// wheel visits every session once per interval from one goroutine, instead of one
// timer per connection.
type wheel struct {
	tick time.Duration

	mu    sync.Mutex
	slots [wheelSlots]map[*session]struct{} // guarded by mu
	next  int                               // guarded by mu: the slot the next tick visits
	where map[*session]int                  // guarded by mu: each session's slot
}

func newWheel(interval time.Duration) *wheel {
	w := &wheel{tick: interval / wheelSlots, where: make(map[*session]int)}
	if w.tick <= 0 {
		w.tick = time.Millisecond
	}
	for i := range w.slots {
		w.slots[i] = make(map[*session]struct{})
	}
	return w
}

// add puts ss in the slot visited last, so its first visit comes about one interval
// after it connected.
func (w *wheel) add(ss *session) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := (w.next + wheelSlots - 1) % wheelSlots
	w.slots[i][ss] = struct{}{}
	w.where[ss] = i
}

func (w *wheel) remove(ss *session) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i, ok := w.where[ss]; ok {
		delete(w.slots[i], ss)
		delete(w.where, ss)
	}
}

// run visits one slot per tick until ctx is done.
func (w *wheel) run(ctx context.Context, visit func(*session)) {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	var due []*session
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		w.mu.Lock()
		due = due[:0]
		for ss := range w.slots[w.next] {
			due = append(due, ss)
		}
		w.next = (w.next + 1) % wheelSlots
		w.mu.Unlock()
		for _, ss := range due {
			visit(ss)
		}
		clear(due)
	}
}
