package inbox

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Config configures a [Memory] inbox. The zero value is valid.
type Config struct {
	// Limits bound each device's inbox.
	Limits
	// Now is the clock; default time.Now. Tests move it to expire messages.
	Now func() time.Time
}

// Memory is an inbox held in process memory, for `herald dev` and tests of the
// code that uses an inbox. It keeps the same limits and gives the same answers
// as [Redis]; it is safe for concurrent use and serves one process only.
type Memory struct {
	lim Limits
	now func() time.Time

	mu      sync.Mutex
	boxes   map[string]*memBox // guarded by mu: account/device -> inbox
	created int                // guarded by mu: boxes made since the last sweep
}

// memBox is one device's inbox. An emptied box stays, with no messages, until
// hold, so that its next sequence stays above the last one (as Redis keeps its
// meta key).
type memBox struct {
	msgs  []Message // in Seq order; payloads are the store's own copies
	bytes int64
	last  uint64
	hold  time.Time
}

// NewMemory validates cfg, fills its defaults and returns an empty inbox.
func NewMemory(cfg Config) (*Memory, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Memory{lim: cfg.Limits, now: cfg.Now, boxes: make(map[string]*memBox)}, nil
}

// sweepEvery is how many new boxes Memory makes before it forgets the emptied
// boxes whose hold has passed.
const sweepEvery = 256

// box returns the device's inbox, making it when create is set; nil otherwise.
// Called with mu held.
func (s *Memory) box(account, device string, now time.Time, create bool) *memBox {
	key := account + "/" + device
	b := s.boxes[key]
	if b != nil && len(b.msgs) == 0 && now.After(b.hold) {
		delete(s.boxes, key)
		b = nil
	}
	if b == nil && create {
		if s.created++; s.created >= sweepEvery {
			s.created = 0
			for k, o := range s.boxes {
				if len(o.msgs) == 0 && now.After(o.hold) {
					delete(s.boxes, k)
				}
			}
		}
		b = &memBox{}
		s.boxes[key] = b
	}
	return b
}

// Put stores m for its device, applying the collapse key and the limits.
func (s *Memory) Put(ctx context.Context, m Message) (PutResult, error) {
	now := s.now()
	exp, err := prepare(&m, s.lim, now)
	if err != nil {
		return PutResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return PutResult{}, unavailable("put "+m.Account+"/"+m.Device, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(m.Account, m.Device, now, true)
	res := PutResult{Expires: exp, Expired: b.purge(now)}
	if i := b.find(m.ID); i >= 0 {
		res.Seq, res.Expires, res.Duplicate = b.msgs[i].Seq, b.msgs[i].Expires, true
		b.settle(now)
		return res, nil
	}
	if !exp.After(now) {
		res.Expired = append(res.Expired, m.ID)
		b.settle(now)
		return res, nil
	}
	if m.CollapseKey != "" {
		keys, oldest := 0, -1
		for i, o := range b.msgs {
			if o.CollapseKey == m.CollapseKey {
				res.Replaced = o.ID
				b.remove(i)
				keys = -1
				break
			}
			if o.CollapseKey != "" {
				keys++
				if oldest < 0 {
					oldest = i
				}
			}
		}
		if keys >= s.lim.MaxCollapseKeys {
			res.Dropped = append(res.Dropped, b.msgs[oldest].ID)
			b.remove(oldest)
		}
	} else {
		n, oldest := 0, -1
		for i, o := range b.msgs {
			if o.CollapseKey == "" {
				n++
				if oldest < 0 {
					oldest = i
				}
			}
		}
		if n >= s.lim.MaxMessages {
			res.Dropped = append(res.Dropped, b.msgs[oldest].ID)
			b.remove(oldest)
		}
	}
	for b.bytes+int64(len(m.Payload)) > s.lim.MaxBytes {
		res.Dropped = append(res.Dropped, b.msgs[0].ID)
		b.remove(0)
	}
	m.Seq = nextSeq(b.last, now)
	m.Expires = exp
	m.Enqueued = m.Enqueued.Truncate(time.Millisecond)
	m.Payload = slices.Clone(m.Payload)
	b.last = m.Seq
	b.msgs = append(b.msgs, m)
	b.bytes += int64(len(m.Payload))
	res.Seq = m.Seq
	return res, nil
}

// Pending returns up to limit live messages of the device with a sequence
// above after, in Seq order (all of them when limit <= 0), and removes the
// expired ones it finds.
func (s *Memory) Pending(ctx context.Context, account, device string, after uint64, limit int) (Page, error) {
	if err := checkDevice("pending", account, device); err != nil {
		return Page{}, err
	}
	if err := ctx.Err(); err != nil {
		return Page{}, unavailable("pending "+account+"/"+device, err)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(account, device, now, false)
	if b == nil {
		return Page{}, nil
	}
	var p Page
	p.Expired = b.purge(now)
	i, _ := slices.BinarySearchFunc(b.msgs, after+1, func(m Message, seq uint64) int {
		return cmpSeq(m.Seq, seq)
	})
	for ; i < len(b.msgs) && (limit <= 0 || len(p.Messages) < limit); i++ {
		m := b.msgs[i]
		m.Payload = slices.Clone(m.Payload)
		p.Messages = append(p.Messages, m)
	}
	b.settle(now)
	return p, nil
}

// Remove deletes the given messages of the device (delivered, or acked) and
// returns how many it held.
func (s *Memory) Remove(ctx context.Context, account, device string, ids ...string) (int, error) {
	if err := checkDevice("remove", account, device); err != nil {
		return 0, err
	}
	if err := ctx.Err(); err != nil {
		return 0, unavailable("remove "+account+"/"+device, err)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(account, device, now, false)
	if b == nil {
		return 0, nil
	}
	n := 0
	for _, id := range ids {
		if i := b.find(id); i >= 0 {
			b.remove(i)
			n++
		}
	}
	b.settle(now)
	return n, nil
}

// Stats returns the size of the device's inbox.
func (s *Memory) Stats(ctx context.Context, account, device string) (Stats, error) {
	if err := checkDevice("stats", account, device); err != nil {
		return Stats{}, err
	}
	if err := ctx.Err(); err != nil {
		return Stats{}, unavailable("stats "+account+"/"+device, err)
	}
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.box(account, device, now, false)
	if b == nil {
		return Stats{}, nil
	}
	st := Stats{Bytes: b.bytes}
	for _, m := range b.msgs {
		if m.Expires.After(now) {
			st.Messages++
		}
	}
	return st, nil
}

func cmpSeq(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// find returns the index of the message with id, or -1.
func (b *memBox) find(id string) int {
	return slices.IndexFunc(b.msgs, func(m Message) bool { return m.ID == id })
}

// remove deletes the message at i.
func (b *memBox) remove(i int) {
	b.bytes -= int64(len(b.msgs[i].Payload))
	b.msgs = slices.Delete(b.msgs, i, i+1)
}

// purge removes the messages expired at now and returns their ids, in Seq
// order.
func (b *memBox) purge(now time.Time) []string {
	var ids []string
	b.msgs = slices.DeleteFunc(b.msgs, func(m Message) bool {
		if m.Expires.After(now) {
			return false
		}
		ids = append(ids, m.ID)
		b.bytes -= int64(len(m.Payload))
		return true
	})
	return ids
}

// settle sets an emptied box's hold: its sequence is remembered until a
// while after the last one's time.
func (b *memBox) settle(now time.Time) {
	if len(b.msgs) > 0 {
		return
	}
	b.hold = now.Add(seqHold)
	if t := time.UnixMilli(int64(b.last)).Add(seqHold); t.After(b.hold) {
		b.hold = t
	}
}
