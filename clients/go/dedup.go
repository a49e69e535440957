package herald

import "sync"

// dedup remembers the last size message ids, to drop duplicates of
// at-least-once delivery, and for each whether the device acked it (the app's
// Ack or AutoAck), so that a duplicate of an acked msg is acked again: its
// first ack was lost with the connection. A ring buffer keeps the order in
// which ids are forgotten, a map makes the lookup O(1). The read goroutine adds
// ids; Ack, on any goroutine, marks them acked, hence the lock.
type dedup struct {
	mu   sync.Mutex
	ring []string        // guarded by mu
	next int             // guarded by mu: index in ring of the slot written next (the oldest id once full)
	seen map[string]bool // guarded by mu: the remembered ids, true once acked
}

func newDedup(size int) *dedup {
	return &dedup{ring: make([]string, 0, size), seen: make(map[string]bool, size)}
}

// add records id and reports whether it is new and, for a duplicate, whether
// it was acked. A duplicate does not refresh the id's place: it is forgotten
// size ids after its first arrival.
func (d *dedup) add(id string) (isNew, acked bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if acked, ok := d.seen[id]; ok {
		return false, acked
	}
	if len(d.ring) < cap(d.ring) {
		d.ring = append(d.ring, id)
	} else {
		delete(d.seen, d.ring[d.next])
		d.ring[d.next] = id
		d.next = (d.next + 1) % len(d.ring)
	}
	d.seen[id] = false
	return true, false
}

// ack marks id as acked, if it is remembered; an id not remembered (never
// received, or already forgotten) is left out, so that acks do not take the
// place of received ids.
func (d *dedup) ack(id string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.seen[id]; ok {
		d.seen[id] = true
	}
}
