package edge

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

// downRegistry is a memory registry whose registrations and heartbeats fail
// while down is set, as while Redis is unreachable.
type downRegistry struct {
	*registry.Memory
	down atomic.Bool
}

var errRegistryDown = errors.New("registry down")

func (r *downRegistry) Register(ctx context.Context, account, device string, e registry.Entry) (registry.Entry, error) {
	if r.down.Load() {
		return registry.Entry{}, errRegistryDown
	}
	return r.Memory.Register(ctx, account, device, e)
}

func (r *downRegistry) Heartbeat(ctx context.Context, edge, addr string) (bool, error) {
	if r.down.Load() {
		return false, errRegistryDown
	}
	return r.Memory.Heartbeat(ctx, edge, addr)
}

// downInbox is a hooked memory inbox whose reads fail while down is set.
type downInbox struct {
	*hookedInbox
	down atomic.Bool
}

func (b *downInbox) Pending(ctx context.Context, account, device string, after uint64, limit int) (inbox.Page, error) {
	if b.down.Load() {
		return inbox.Page{}, inbox.ErrUnavailable
	}
	return b.hookedInbox.Pending(ctx, account, device, after, limit)
}

// TestStoredReadAgainAfterReregister connects a device while the registry
// cannot register it, and stores a message for it as a writer that found it
// offline does (its nudge finds no edge): once the registry is back, the edge
// registers the device again at a heartbeat and reads its inbox, and the
// message arrives on the same connection, once.
func TestStoredReadAgainAfterReregister(t *testing.T) {
	var reg *downRegistry
	e := mustNudgeEdge(t, func(c *Config) {
		reg = &downRegistry{Memory: c.Registry.(*registry.Memory)}
		c.Registry, c.Liveness, c.HeartbeatInterval = reg, reg, 20*time.Millisecond
	})
	reg.down.Store(true)
	d := e.mustDial(t, "a1", "tv1")
	next := receiver(func(tb testing.TB) protocol.Frame { tb.Helper(); return d.read() })
	if _, err := e.reg.Lookup(context.Background(), "a1", "tv1"); !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("lookup while the registry is down: %v, want not found", err)
	}
	e.put(t, "m1", false)

	reg.down.Store(false)
	wantMsg(t, next, "m1")
	eventually(t, "the registration", func() bool {
		_, err := e.reg.Lookup(context.Background(), "a1", "tv1")
		return err == nil
	})
	// Nothing twice: the next frame is the next message.
	wantMsgAfter(t, e, next, "m2", false)
	wantEmpty(t, e.box.Memory)
	if got := e.srv.Stats().Accepted; got != 1 {
		t.Fatalf("%d connections accepted, want 1", got)
	}
}

// TestStoredReadAgainAfterFailedRead connects a device whose inbox holds a
// message while the inbox cannot be read: the edge reads it again at the
// heartbeats until a read succeeds, and the message arrives on the same
// connection, once.
func TestStoredReadAgainAfterFailedRead(t *testing.T) {
	var box *downInbox
	e := mustNudgeEdge(t, func(c *Config) {
		box = &downInbox{hookedInbox: c.Inbox.(*hookedInbox)}
		c.Inbox, c.HeartbeatInterval = box, 20*time.Millisecond
	})
	e.put(t, "m1", false)
	box.down.Store(true)
	d := e.mustDial(t, "a1", "tv1")
	next := receiver(func(tb testing.TB) protocol.Frame { tb.Helper(); return d.read() })
	// The reads fail at a few heartbeats before the inbox is back.
	reads := func() float64 { return e.metric(t, "herald_inbox_nudges_total", "result", "read") }
	eventually(t, "reads again while the inbox is down", func() bool { return reads() >= 2 })
	box.down.Store(false)
	wantMsg(t, next, "m1")
	wantMsgAfter(t, e, next, "m2", false)
	wantEmpty(t, e.box.Memory)
	if got := e.srv.Stats().Accepted; got != 1 {
		t.Fatalf("%d connections accepted, want 1", got)
	}
}
