package processor

import (
	"context"
	"sync"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// MemoryIdempotency is Idempotency in process memory, for a single process. It
// holds at most maxEntries keys, dropping expired ones first and then the
// oldest.
type MemoryIdempotency struct {
	now        func() time.Time
	maxEntries int

	mu    sync.Mutex
	keys  map[string]memClaim
	order []claimRef // oldest first
	seq   uint64
}

type memClaim struct {
	value   string
	expires time.Time
	seq     uint64
}

// claimRef names one claim in the order; a key claimed again after it expired
// appears twice, and only the ref whose seq matches is the live one.
type claimRef struct {
	key string
	seq uint64
}

// NewMemoryIdempotency returns a MemoryIdempotency bounded to maxEntries keys
// (default [DefaultMaxStatusEntries]).
func NewMemoryIdempotency(maxEntries int) *MemoryIdempotency {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxStatusEntries
	}
	return &MemoryIdempotency{now: time.Now, maxEntries: maxEntries, keys: make(map[string]memClaim)}
}

// InProcess reports that m's calls never leave the process: a caller with
// many keys gains nothing from making its calls concurrently.
func (m *MemoryIdempotency) InProcess() bool { return true }

// Claim implements Idempotency.
func (m *MemoryIdempotency) Claim(_ context.Context, key, value string, ttl time.Duration) (string, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.keys[key]; ok && now.Before(c.expires) {
		return c.value, nil
	}
	n := 0
	for ; n < len(m.order); n++ {
		ref := m.order[n]
		c, ok := m.keys[ref.key]
		live := ok && c.seq == ref.seq
		if live && len(m.keys) < m.maxEntries && now.Before(c.expires) {
			break
		}
		if live {
			delete(m.keys, ref.key)
		}
	}
	m.seq++
	m.order = append(m.order[n:], claimRef{key: key, seq: m.seq})
	m.keys[key] = memClaim{value: value, expires: now.Add(ttl), seq: m.seq}
	return "", nil
}

// Confirm implements Idempotency.
func (m *MemoryIdempotency) Confirm(_ context.Context, key, old, value string, ttl time.Duration) (bool, error) {
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.keys[key]
	if !ok || c.value != old || !now.Before(c.expires) {
		return false, nil
	}
	c.value, c.expires = value, now.Add(ttl)
	m.keys[key] = c
	return true, nil
}

// Release implements Idempotency.
func (m *MemoryIdempotency) Release(_ context.Context, key, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.keys[key]; ok && c.value == value {
		delete(m.keys, key)
	}
	return nil
}

func priority(s string) protocol.Priority { return protocol.Priority(s) }

var (
	_ Idempotency = (*MemoryIdempotency)(nil)
	_ Idempotency = (*RedisIdempotency)(nil)
	_ StatusStore = (*MemoryStatus)(nil)
	_ StatusStore = (*RedisStatus)(nil)
)
