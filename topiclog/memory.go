package topiclog

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Memory is a topic log in process memory, for a single process (`herald
// dev`). It is safe for concurrent use.
type Memory struct {
	lim Limits
	now func() time.Time

	mu     sync.Mutex
	topics map[string]*memTopic // guarded by mu
}

type memTopic struct {
	entries []Entry // in Seq order
	seq     uint64
}

// NewMemory returns an empty Memory with lim; now is its clock (nil:
// time.Now).
func NewMemory(lim Limits, now func() time.Time) (*Memory, error) {
	if err := lim.fill(); err != nil {
		return nil, err
	}
	if now == nil {
		now = time.Now
	}
	return &Memory{lim: lim, now: now, topics: make(map[string]*memTopic)}, nil
}

// Append logs frame for topic until expires (zero: MaxTTL) and returns its
// sequence number.
func (m *Memory) Append(ctx context.Context, topic string, frame []byte, expires time.Time) (uint64, error) {
	if err := check(topic, frame, true); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topics[topic]
	if t == nil {
		t = &memTopic{}
		m.topics[topic] = t
	}
	t.seq = max(t.seq+1, floor(now))
	// Expired entries go first, then the oldest beyond MaxEntries.
	t.entries = slices.DeleteFunc(t.entries, func(e Entry) bool { return !now.Before(e.Expires) })
	t.entries = append(t.entries, Entry{Seq: t.seq, Frame: slices.Clone(frame), Expires: m.lim.expiry(now, expires)})
	if over := len(t.entries) - m.lim.MaxEntries; over > 0 {
		t.entries = slices.Delete(t.entries, 0, over)
	}
	return t.seq, nil
}

// After returns up to limit live entries of topic with a sequence number
// above after, in order.
func (m *Memory) After(ctx context.Context, topic string, after uint64, limit int) ([]Entry, error) {
	if err := check(topic, nil, false); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := m.now()
	m.mu.Lock()
	defer m.mu.Unlock()
	t := m.topics[topic]
	if t == nil {
		return nil, nil
	}
	var out []Entry
	for _, e := range t.entries {
		if len(out) == limit {
			break
		}
		if e.Seq > after && now.Before(e.Expires) {
			e.Frame = slices.Clone(e.Frame)
			out = append(out, e)
		}
	}
	return out, nil
}
