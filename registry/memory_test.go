package registry

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestMemoryCompareAndDelete(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	old := Entry{Edge: "e1", Session: "s1", Since: time.Unix(1, 0)}
	newer := Entry{Edge: "e2", Session: "s2", Since: time.Unix(2, 0)}

	if prev, err := m.Register(ctx, "a1", "tv1", old); err != nil || prev != (Entry{}) {
		t.Fatalf("first register: prev=%v err=%v", prev, err)
	}
	if prev, err := m.Register(ctx, "a1", "tv1", newer); err != nil || prev != old {
		t.Fatalf("second register: prev=%v err=%v, want %v", prev, err, old)
	}
	// The stale session must not remove the newer registration.
	if ok, err := m.Unregister(ctx, "a1", "tv1", "s1"); err != nil || ok {
		t.Fatalf("stale unregister: ok=%v err=%v", ok, err)
	}
	if got, err := m.Lookup(ctx, "a1", "tv1"); err != nil || got != newer {
		t.Fatalf("lookup after stale unregister: %v %v", got, err)
	}
	if ok, err := m.Unregister(ctx, "a1", "tv1", "s2"); err != nil || !ok {
		t.Fatalf("unregister: ok=%v err=%v", ok, err)
	}
	if _, err := m.Lookup(ctx, "a1", "tv1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("lookup after unregister: err=%v, want ErrNotFound", err)
	}
}

func TestMemoryConnected(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	for _, d := range []string{"tv1", "phone1", "tab1"} {
		if _, err := m.Register(ctx, "a1", d, Entry{Edge: "e1", Session: "s-" + d}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := m.Register(ctx, "a2", "tv9", Entry{Edge: "e1", Session: "x"}); err != nil {
		t.Fatal(err)
	}
	got, err := m.Connected(ctx, "a1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"phone1", "tab1", "tv1"}
	if len(got) != len(want) {
		t.Fatalf("Connected = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Connected = %v, want %v", got, want)
		}
	}
}

func TestMemoryHonoursContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	m := NewMemory()
	if _, err := m.Register(ctx, "a", "d", Entry{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Register with cancelled ctx: %v", err)
	}
	if _, err := m.Lookup(ctx, "a", "d"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lookup with cancelled ctx: %v", err)
	}
}

// TestMemoryEdgeNeverHeartbeated checks that Memory, unlike Redis, treats a
// device on an edge that never heartbeated as live, so that single-process use
// needs no heartbeats.
func TestMemoryEdgeNeverHeartbeated(t *testing.T) {
	m := NewMemory()
	e := Entry{Edge: "silent", Session: "s1"}
	mustRegister(t, m, "a1", "tv1", e)
	wantLookup(t, m, "a1", "tv1", e)
	mustConnected(t, m, "a1", "tv1")
	if addr, err := m.EdgeAddr(context.Background(), "silent"); err != ErrNotFound {
		t.Fatalf("EdgeAddr = %q, %v; want ErrNotFound", addr, err)
	}
}

// TestMemoryTopicEdgeNeverHeartbeated checks that Memory, unlike Redis, lists
// an edge that never heartbeated among a topic's edges, as it counts its
// devices live.
func TestMemoryTopicEdgeNeverHeartbeated(t *testing.T) {
	m := NewMemory()
	mustAddTopic(t, m, "t1", "silent")
	mustTopicEdges(t, m, "t1", "silent")
}
