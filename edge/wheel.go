package edge

import (
	"context"
	"sync"
	"time"
)

// wheelSlots is the number of slots of the keepalive wheel: each tick visits one
// slot, so a connection is visited once per interval and the work is spread evenly.
const wheelSlots = 16

// deadlineSlots is the number of slots of the deadline ring. A deadline lands in
// the slot of its tick modulo deadlineSlots; one turn of the ring is
// deadlineSlots*resolution (320 s with the defaults), so a 30-minute lifetime is
// looked at about six times before it is due.
const deadlineSlots = 512

// dueKind is what happens when a session's deadline passes.
type dueKind uint8

const (
	dueNone     dueKind = iota // not scheduled
	dueLifetime                // the lifetime ended: send reconnect
	dueGrace                   // the grace after reconnect ended: close
)

// dueLink is a session's entry in the deadline ring: an intrusive doubly linked
// list per slot, so scheduling and removal cost no allocation. Guarded by the
// wheel's mu.
type dueLink struct {
	prev, next *session
	tick       int64 // the deadline, in resolution ticks since the wheel's start
	kind       dueKind
}

// wheel drives every periodic and delayed action of an edge's sessions from one
// goroutine, instead of timers per connection:
//
//   - keepalive: a tick every interval/wheelSlots visits one slot, so every
//     session is visited once per interval;
//   - deadlines (the end of a session's lifetime, the end of the grace after a
//     reconnect): a hashed ring of deadlineSlots lists; a tick every resolution
//     fires the deadlines that passed. A deadline fires at most one resolution
//     (plus scheduling delay) late, never early.
type wheel struct {
	tick  time.Duration // keepalive tick
	res   time.Duration // deadline resolution
	start time.Time     // tick 0 of the deadline ring

	mu    sync.Mutex
	slots [wheelSlots]map[*session]struct{} // guarded by mu
	next  int                               // guarded by mu: the slot the next tick visits
	where map[*session]int                  // guarded by mu: each session's slot
	due   [deadlineSlots]*session           // guarded by mu: heads of the deadline lists
	done  int64                             // guarded by mu: the last deadline tick fired
}

func newWheel(interval, resolution time.Duration) *wheel {
	w := &wheel{tick: interval / wheelSlots, res: resolution, start: time.Now(), where: make(map[*session]int)}
	if w.tick <= 0 {
		w.tick = time.Millisecond
	}
	if w.res <= 0 {
		w.res = time.Millisecond
	}
	for i := range w.slots {
		w.slots[i] = make(map[*session]struct{})
	}
	return w
}

// add puts ss in the keepalive slot visited last, so its first visit comes about
// one interval after it connected, and schedules the end of its lifetime at end.
func (w *wheel) add(ss *session, end time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := (w.next + wheelSlots - 1) % wheelSlots
	w.slots[i][ss] = struct{}{}
	w.where[ss] = i
	w.scheduleLocked(ss, end, dueLifetime)
}

// remove takes ss off the wheel, with its deadline.
func (w *wheel) remove(ss *session) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if i, ok := w.where[ss]; ok {
		delete(w.slots[i], ss)
		delete(w.where, ss)
	}
	w.unlinkLocked(ss)
}

// schedule replaces ss's deadline with one of kind k at t. It reports false, and
// schedules nothing, when ss is no longer on the wheel.
func (w *wheel) schedule(ss *session, t time.Time, k dueKind) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if _, ok := w.where[ss]; !ok {
		return false
	}
	w.scheduleLocked(ss, t, k)
	return true
}

func (w *wheel) scheduleLocked(ss *session, t time.Time, k dueKind) {
	w.unlinkLocked(ss)
	d := t.Sub(w.start)
	tick := int64((d + w.res - 1) / w.res) // rounded up: never early
	if tick <= w.done {
		tick = w.done + 1
	}
	slot := tick % deadlineSlots
	ss.due = dueLink{next: w.due[slot], tick: tick, kind: k}
	if ss.due.next != nil {
		ss.due.next.due.prev = ss
	}
	w.due[slot] = ss
}

func (w *wheel) unlinkLocked(ss *session) {
	if ss.due.kind == dueNone {
		return
	}
	if ss.due.prev != nil {
		ss.due.prev.due.next = ss.due.next
	} else {
		w.due[ss.due.tick%deadlineSlots] = ss.due.next
	}
	if ss.due.next != nil {
		ss.due.next.due.prev = ss.due.prev
	}
	ss.due = dueLink{}
}

// fired is a deadline that passed.
type fired struct {
	ss   *session
	kind dueKind
}

// expired unlinks the deadlines due by now and appends them to out.
func (w *wheel) expired(now time.Time, out []fired) []fired {
	nowTick := int64(now.Sub(w.start) / w.res)
	w.mu.Lock()
	defer w.mu.Unlock()
	from := w.done + 1
	if nowTick-from >= deadlineSlots { // the ticker fell behind by a whole turn
		from = nowTick - deadlineSlots + 1
	}
	for k := from; k <= nowTick; k++ {
		for ss := w.due[k%deadlineSlots]; ss != nil; {
			next := ss.due.next
			if ss.due.tick <= nowTick {
				out = append(out, fired{ss, ss.due.kind})
				w.unlinkLocked(ss)
			}
			ss = next
		}
	}
	w.done = max(w.done, nowTick)
	return out
}

// run visits one keepalive slot per tick and fires the deadlines that passed,
// until ctx is done. visit and expire run on the wheel's goroutine without the
// wheel's lock, so they may schedule; they must not block.
func (w *wheel) run(ctx context.Context, visit func(*session), expire func(*session, dueKind)) {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	d := time.NewTicker(w.res)
	defer d.Stop()
	var due []*session
	var gone []fired
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
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
		case now := <-d.C:
			gone = w.expired(now, gone[:0])
			for _, f := range gone {
				expire(f.ss, f.kind)
			}
			clear(gone)
		}
	}
}
