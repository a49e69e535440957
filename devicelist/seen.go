package devicelist

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// seenKey names one device.
type seenKey struct{ account, id string }

// seenBatcher holds the last-seen updates waiting for the next flush, one per
// device (the latest time), at most max of them.
type seenBatcher struct {
	max     int
	dropped atomic.Uint64 // updates refused because pending was full or the store closed

	mu      sync.Mutex
	pending map[seenKey]time.Time // guarded by mu
	closed  bool                  // guarded by mu: Close has begun; later updates are dropped
}

// newSeenBatcher returns an empty batcher holding at most max devices.
func newSeenBatcher(max int) *seenBatcher {
	return &seenBatcher{max: max, pending: make(map[seenKey]time.Time)}
}

// add keeps t as the device's pending time unless a later one is pending. A
// new device beyond max, or any update after close, is dropped and counted.
func (b *seenBatcher) add(k seenKey, t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		b.dropped.Add(1)
		return
	}
	b.mergeLocked(k, t)
}

// mergeLocked keeps the later of t and the device's pending time; a new device
// beyond max is dropped and counted. The caller holds mu.
func (b *seenBatcher) mergeLocked(k seenKey, t time.Time) {
	prev, ok := b.pending[k]
	switch {
	case ok:
		if t.After(prev) {
			b.pending[k] = t
		}
	case len(b.pending) >= b.max:
		b.dropped.Add(1)
	default:
		b.pending[k] = t
	}
}

// take returns the pending updates and leaves none; nil when there are none.
// It never returns the map that add goes on writing: the caller reads what it
// took without the lock.
func (b *seenBatcher) take() map[seenKey]time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.pending) == 0 {
		return nil
	}
	batch := b.pending
	b.pending = make(map[seenKey]time.Time)
	return batch
}

// putBack returns the updates of a failed flush, so that the next flush tries
// them again, merged with those that arrived since. What no longer fits is
// dropped and counted.
func (b *seenBatcher) putBack(batch map[seenKey]time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k, t := range batch {
		b.mergeLocked(k, t)
	}
}

// close makes later adds drop their updates: nothing would flush them.
func (b *seenBatcher) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.closed = true
}

// Seen records that the device was seen at t; it never blocks and never queries:
// updates are coalesced per device and written in one statement per flush, every
// SeenFlush and at Close. last_seen never moves back, and a device that is not in
// the list (never touched, or deleted meanwhile) is not created. Updates for more
// than SeenBuffer devices between flushes, and updates after Close, are dropped
// and counted by SeenDropped. A zero t and invalid ids (which no device has, and
// which would fail the whole statement) are ignored without being counted.
func (p *Postgres) Seen(account, device string, t time.Time) {
	if t.IsZero() || !ValidID(account) || !ValidID(device) {
		return
	}
	p.seen.add(seenKey{account, device}, timestamp(t))
}

// SeenDropped counts updates dropped because the buffer was full.
// It also counts updates made after Close.
func (p *Postgres) SeenDropped() uint64 { return p.seen.dropped.Load() }

// flushLoop writes the pending last-seen updates every interval until Close.
func (p *Postgres) flushLoop(interval time.Duration) {
	defer close(p.done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-tick.C:
			ctx, cancel := p.bound(context.Background())
			if err := p.flush(ctx); err != nil {
				// At most one line per interval, however many devices wait.
				p.log.Warn("devicelist: last-seen flush failed; retrying at the next one", "err", err)
			}
			cancel()
		}
	}
}

// flush writes the pending last-seen updates in one statement. On failure the
// updates go back to the buffer for the next flush. Called by the flusher,
// Close and tests; it needs no lock of its own: each call writes what it took.
func (p *Postgres) flush(ctx context.Context) error {
	batch := p.seen.take()
	if len(batch) == 0 {
		return nil
	}
	keys := make([]seenKey, 0, len(batch))
	for k := range batch {
		keys = append(keys, k)
	}
	// In key order, so that concurrent flushes of several processes lock rows
	// in the same order.
	slices.SortFunc(keys, func(a, b seenKey) int {
		return cmp.Or(cmp.Compare(a.account, b.account), cmp.Compare(a.id, b.id))
	})
	accounts := make([]string, len(keys))
	ids := make([]string, len(keys))
	times := make([]time.Time, len(keys))
	for i, k := range keys {
		accounts[i], ids[i], times[i] = k.account, k.id, batch[k]
	}
	p.seenStatements.Add(1)
	_, err := p.pool.Exec(ctx, `
		UPDATE devices AS d SET last_seen = GREATEST(d.last_seen, u.t)
		FROM unnest($1::text[], $2::text[], $3::timestamptz[]) AS u(account, id, t)
		WHERE d.account = u.account AND d.id = u.id`,
		accounts, ids, times)
	if err != nil {
		p.seen.putBack(batch)
		return fail("seen: write "+strconv.Itoa(len(keys))+" updates", err)
	}
	return nil
}
