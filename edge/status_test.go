package edge

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// recordedStatuses is a Statuses that keeps what it is told.
type recordedStatuses struct {
	mu  sync.Mutex
	out []StoredOutcome
}

func (r *recordedStatuses) Report(o StoredOutcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, o)
}

// of returns the outcomes recorded for id, in order.
func (r *recordedStatuses) of(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s []string
	for _, o := range r.out {
		if o.ID == id {
			s = append(s, o.Status)
		}
	}
	return s
}

func (r *recordedStatuses) find(id, status string) (StoredOutcome, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, o := range r.out {
		if o.ID == id && o.Status == status {
			return o, true
		}
	}
	return StoredOutcome{}, false
}

// TestStoredStatuses follows stored messages through the edge's reports: a
// device msg stored for an offline sibling is queued until its expiry, then
// delivered when written and acked when acked, and its sender gets a late
// acked receipt; a stored message found expired on connect is expired; and
// each outcome names the device it is for.
func TestStoredStatuses(t *testing.T) {
	clock := &testClock{now: time.Now()}
	st := &recordedStatuses{}
	e, box := mustInboxEdge(t, clock, func(c *Config) { c.Now, c.Types, c.Statuses = clock.Now, storedTypes(t), st })
	phone := e.mustDial(t, "a1", "phone1")
	e.mustList(t, "a1", "tv1")

	mustStore(t, box, clock, "old", 1, time.Second)
	if r := sendTo(t, phone, "d2d", "tiny.stored.v1", "tv1", 600, true); r.Status != protocol.StatusQueued {
		t.Fatalf("result %+v, want queued", r)
	}
	q, ok := st.find("d2d", StoredQueued)
	// The acceptance time the expiry counts from is in milliseconds.
	if left := q.Expires.Sub(clock.Now()); !ok || q.Account != "a1" || q.Device != "tv1" || left <= time.Minute-time.Millisecond || left > time.Minute {
		t.Fatalf("queued outcome %+v (found %v), want a1/tv1 expiring with the type's store of 60 s", q, ok)
	}

	clock.advance(2 * time.Second)
	tv := e.mustDial(t, "a1", "tv1")
	if m := tv.readMsg(); m.ID != "d2d" || !m.Ack {
		t.Fatalf("tv got %+v, want the stored msg with ack", m)
	}
	eventually(t, "d2d delivered and old expired", func() bool {
		return slices.Equal(st.of("d2d"), []string{StoredQueued, StoredDelivered}) && slices.Equal(st.of("old0"), []string{StoredExpired})
	})
	tv.send(&protocol.Ack{ID: "d2d"})
	eventually(t, "d2d acked", func() bool {
		return slices.Equal(st.of("d2d"), []string{StoredQueued, StoredDelivered, StoredAcked})
	})
	if o, _ := st.find("d2d", StoredAcked); o.Device != "tv1" || o.Account != "a1" {
		t.Errorf("acked outcome %+v, want a1/tv1", o)
	}
	// The sender, still connected, gets a late receipt: tv1 acked.
	if r := phone.readReceipt(); r.ID != "d2d" || len(r.Results) != 1 || r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusAcked}) {
		t.Fatalf("phone got %+v, want the late acked receipt of d2d", r)
	}

	// A live message is nobody's stored message: no outcome.
	e.pushLive(t, "live")
	if m := tv.readMsg(); m.ID != "live" {
		t.Fatalf("tv got %+v, want live", m)
	}
	if got := st.of("live"); len(got) != 0 {
		t.Errorf("a live delivery reported %v", got)
	}
}
