package processor

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
)

// failingStore fails its first fail RecordAll calls, then records through
// the StatusStore it wraps.
type failingStore struct {
	StatusStore
	fail  int64
	calls atomic.Int64
}

func (s *failingStore) RecordAll(ctx context.Context, es []Event) error {
	if s.calls.Add(1) <= s.fail {
		return errors.New("test store: unavailable")
	}
	return s.StatusStore.RecordAll(ctx, es)
}

// TestMaterializerRetriesStore: when the store refuses a poll's events, the
// materializer stores them again, all of them, until it takes them, and the
// status API then shows the message's outcome.
func TestMaterializerRetriesStore(t *testing.T) {
	rec := newRecorder("a1/tv1")
	p := startPipeline(t, rec, false)
	fs := &failingStore{StatusStore: p.store, fail: 2}
	p.materialized = fs
	p.start(t)
	m := p.send(t, Message{Account: "a1", Device: "tv1"})
	p.waitStatus(t, m.ID, "tv1", Delivered)
	if n := fs.calls.Load(); n < 3 {
		t.Fatalf("%d RecordAll calls, want the 2 refused and at least one more", n)
	}
}
