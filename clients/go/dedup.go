package herald

// dedup remembers the last size message ids, to drop duplicates of
// at-least-once delivery. A ring buffer keeps the order in which ids are
// forgotten, a map makes the lookup O(1). It is used only by the read
// goroutine of the current connection; connections follow one another, so it
// needs no lock.
type dedup struct {
	ring []string
	next int // index in ring of the slot written next (the oldest id once full)
	seen map[string]struct{}
}

func newDedup(size int) *dedup {
	return &dedup{ring: make([]string, 0, size), seen: make(map[string]struct{}, size)}
}

// add records id and reports whether it is new. A duplicate does not refresh
// the id's place: it is forgotten size ids after its first arrival.
func (d *dedup) add(id string) bool {
	if _, ok := d.seen[id]; ok {
		return false
	}
	if len(d.ring) < cap(d.ring) {
		d.ring = append(d.ring, id)
	} else {
		delete(d.seen, d.ring[d.next])
		d.ring[d.next] = id
		d.next = (d.next + 1) % len(d.ring)
	}
	d.seen[id] = struct{}{}
	return true
}
