package processor

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/schemas"
)

// nudges records the devices a processor nudged.
type nudges struct {
	mu  sync.Mutex
	got []string // account/device
}

func (n *nudges) Nudge(_ context.Context, account, device string) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, account+"/"+device)
	return nil
}

func (n *nudges) list() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string(nil), n.got...)
}

// TestProcessorNudgesAfterStoring checks that the processor nudges the
// device's edge after each message it stored (queued), and only then: not for
// a message answered offline, delivered, or put again (a duplicate).
func TestProcessorNudgesAfterStoring(t *testing.T) {
	mem, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	n := &nudges{}
	p := startPipeline(t, newRecorder("a1/tv1"), false)
	p.adjust = func(c *Config) { c.Inbox, c.Types, c.Nudger = mem, types, n }
	p.start(t)
	hour := time.Now().Add(time.Hour).UnixMilli()
	for _, tt := range []struct {
		name string
		msg  Message
		want Outcome
	}{
		{"stored", Message{Account: "a1", Device: "off1", Expires: hour}, Queued},
		{"type without store", Message{Account: "a1", Device: "off2", Type: "playback.control.v1", Expires: hour}, Offline},
		{"online device", Message{Account: "a1", Device: "tv1", Expires: hour}, Delivered},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := p.send(t, tt.msg)
			p.waitStatus(t, m.ID, m.Device, tt.want)
		})
	}
	if got := n.list(); len(got) != 1 || got[0] != "a1/off1" {
		t.Fatalf("nudged %v, want a1/off1 once", got)
	}

	// A message put again (a redelivery) changed nothing: no nudge.
	page, err := mem.Pending(t.Context(), "a1", "off1", 0, 10)
	if err != nil || len(page.Messages) != 1 {
		t.Fatalf("inbox of a1/off1: %+v, %v", page, err)
	}
	again := &Message{ID: page.Messages[0].ID, Account: "a1", Device: "off1", Type: "notification.v1", Expires: hour}
	if e := p.proc.store(t.Context(), again, "off1", time.Hour, time.Now()); e.Status != Queued {
		t.Fatalf("put again: %+v, want queued", e)
	}
	if got := n.list(); len(got) != 1 {
		t.Fatalf("nudged %v after a duplicate put, want one nudge in all", got)
	}
}
