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
	dueToken                   // the device token expired: close with 4001
)

// slotLink is a session's entry in the keepalive wheel: an intrusive doubly
// linked list per slot, like dueLink, so that a connection costs the wheel no
// allocation and no map entry. Guarded by the wheel's mu.
type slotLink struct {
	prev, next *session
	in         int8 // 1 + the slot; 0 when not on the wheel
}

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
//     reconnect, the expiry of its token, whichever comes first): a hashed ring
//     of deadlineSlots lists; a tick every resolution fires the deadlines that
//     passed. A deadline fires at most one resolution (plus scheduling delay)
//     late, never early.
type wheel struct {
	tick  time.Duration // keepalive tick
	res   time.Duration // deadline resolution
	pong  time.Duration // how long after a visit its slot is checked again; 0: never
	start time.Time     // tick 0 of the deadline ring, and of the keepalive's clock

	mu    sync.Mutex
	slots [wheelSlots]*session    // guarded by mu: heads of the keepalive lists
	next  int                     // guarded by mu: the slot the next tick visits
	due   [deadlineSlots]*session // guarded by mu: heads of the deadline lists
	done  int64                   // guarded by mu: the last deadline tick fired
}

func newWheel(interval, resolution, pongTimeout time.Duration) *wheel {
	w := &wheel{tick: interval / wheelSlots, res: resolution, pong: pongTimeout, start: time.Now()}
	if w.tick <= 0 {
		w.tick = time.Millisecond
	}
	if w.res <= 0 {
		w.res = time.Millisecond
	}
	return w
}

// add puts ss in the keepalive slot visited last, so its first visit comes about
// one interval after it connected, and schedules the end of its lifetime at end.
func (w *wheel) add(ss *session, end time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := (w.next + wheelSlots - 1) % wheelSlots
	ss.slot = slotLink{next: w.slots[i], in: int8(i + 1)}
	if ss.slot.next != nil {
		ss.slot.next.slot.prev = ss
	}
	w.slots[i] = ss
	w.scheduleLocked(ss, end, dueLifetime)
}

// remove takes ss off the wheel, with its deadline.
func (w *wheel) remove(ss *session) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ss.slot.in > 0 {
		if ss.slot.prev != nil {
			ss.slot.prev.slot.next = ss.slot.next
		} else {
			w.slots[ss.slot.in-1] = ss.slot.next
		}
		if ss.slot.next != nil {
			ss.slot.next.slot.prev = ss.slot.prev
		}
		ss.slot = slotLink{}
	}
	w.unlinkLocked(ss)
}

// schedule replaces ss's deadline with one of kind k at t. It reports false, and
// schedules nothing, when ss is no longer on the wheel.
func (w *wheel) schedule(ss *session, t time.Time, k dueKind) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if ss.slot.in == 0 {
		return false
	}
	w.scheduleLocked(ss, t, k)
	return true
}

func (w *wheel) scheduleLocked(ss *session, t time.Time, k dueKind) {
	w.unlinkLocked(ss)
	t, k = ss.capToken(t, k)
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

// slotCheck is a keepalive slot to check again, for pongs, at a time on the
// keepalive's clock.
type slotCheck struct {
	at   time.Duration
	slot int
}

// wheelHooks are what the wheel calls, on its own goroutine and without its lock
// (so they may schedule); they must not block. now is the keepalive's clock: the
// time since the wheel started, monotonic.
type wheelHooks struct {
	visit  func(ss *session, now time.Duration) // the session's keepalive turn
	check  func(ss *session, now time.Duration) // pong timeout after the session's turn
	expire func(ss *session, k dueKind)         // a deadline passed
}

// run visits one keepalive slot per tick, checks each slot again pong after its
// visit and fires the deadlines that passed, until ctx is done.
func (w *wheel) run(ctx context.Context, h wheelHooks) {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	d := time.NewTicker(w.res)
	defer d.Stop()
	var (
		due    []*session
		gone   []fired
		checks []slotCheck // in the order they are due
	)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			now := time.Since(w.start)
			w.mu.Lock()
			slot := w.next
			due = w.slotLocked(slot, due[:0])
			w.next = (w.next + 1) % wheelSlots
			w.mu.Unlock()
			for _, ss := range due {
				h.visit(ss, now)
			}
			clear(due)
			if w.pong > 0 && h.check != nil {
				checks = append(checks, slotCheck{at: now + w.pong, slot: slot})
			}
		case at := <-d.C:
			now := time.Since(w.start)
			i := 0
			for ; i < len(checks) && checks[i].at <= now; i++ {
				w.mu.Lock()
				due = w.slotLocked(checks[i].slot, due[:0])
				w.mu.Unlock()
				for _, ss := range due {
					h.check(ss, now)
				}
				clear(due)
			}
			checks = append(checks[:0], checks[i:]...)
			gone = w.expired(at, gone[:0])
			for _, f := range gone {
				h.expire(f.ss, f.kind)
			}
			clear(gone)
		}
	}
}

// slotLocked appends the sessions of a keepalive slot to out. The caller holds
// mu.
func (w *wheel) slotLocked(i int, out []*session) []*session {
	for ss := w.slots[i]; ss != nil; ss = ss.slot.next {
		out = append(out, ss)
	}
	return out
}
