package edge

import (
	"context"
	"fmt"
	"testing"
	"testing/fstest"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
)

// storedTypes are the built-in and extra types and one device-to-device type
// that stores for a minute: no built-in type both stores and may travel device
// to device.
func storedTypes(tb testing.TB) *protocol.Types {
	tb.Helper()
	types, err := protocol.LoadTypes(schemas.FS, extraTypes, fstest.MapFS{
		"tiny.stored.v1.json": {Data: []byte(`{
			"type": "object",
			"properties": {"text": {"type": "string"}},
			"x-herald": {"directions": ["device_to_device"], "store": 60, "description": "test stored"}
		}`)},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return types
}

// failingInbox is a memory inbox whose puts fail as an unreachable Redis does.
type failingInbox struct{ *inbox.Memory }

func (failingInbox) Put(context.Context, inbox.Message) (inbox.PutResult, error) {
	return inbox.PutResult{}, fmt.Errorf("inbox: put: %w", inbox.ErrUnavailable)
}

// sendTo sends a device msg of typ with ttl (and ack) from d to the device to
// and returns the first receipt's one result. A ttl of 0 is written as
// "ttl":0; a negative ttl leaves the member out.
func sendTo(tb testing.TB, d *device, id, typ, to string, ttl int, ack bool) protocol.Result {
	tb.Helper()
	m := &protocol.Msg{ID: id, Type: typ, To: &protocol.Target{Device: to}, TTL: max(ttl, 0), Ack: ack, Payload: payload(map[string]string{"text": id})}
	frame, err := protocol.Encode(m)
	if err != nil {
		tb.Fatal(err)
	}
	if ttl == 0 {
		frame = append([]byte(`{"ttl":0,`), frame[1:]...)
	}
	d.write(string(frame))
	r := d.readReceipt()
	if r.ID != id || len(r.Results) != 1 {
		tb.Fatalf("receipt %+v", r)
	}
	return r.Results[0]
}

func TestDeviceMsgStoredForOfflineSibling(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, func(c *Config) { c.Now, c.Types = clock.Now, storedTypes(t) })
	phone := e.mustDial(t, "a1", "phone1")
	e.mustList(t, "a1", "tv1")

	for _, tt := range []struct {
		name, typ string
		ttl       int
		ack       bool
		want      protocol.Status
	}{
		{"a storing type with a ttl is queued", "tiny.stored.v1", 600, false, protocol.StatusQueued},
		{"a type without store is offline", "tiny.echo.v1", 600, false, protocol.StatusOffline},
		{"ttl 0 is now or never", "tiny.stored.v1", 0, false, protocol.StatusOffline},
		{"a msg with ack is stored too", "tiny.stored.v1", 600, true, protocol.StatusQueued},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id := fmt.Sprintf("m-%s-%d-%v", tt.typ, tt.ttl, tt.ack)
			if r := sendTo(t, phone, id, tt.typ, "tv1", tt.ttl, tt.ack); r != (protocol.Result{Device: "tv1", Status: tt.want}) {
				t.Fatalf("result %+v, want %s", r, tt.want)
			}
		})
	}
	if n := e.metric(t, "herald_messages_total", "path", "d2d", "direction", "out", "status", "queued"); n != 2 {
		t.Errorf("counted %v queued, want 2", n)
	}
	st, err := box.Stats(context.Background(), "a1", "tv1")
	if err != nil || st.Messages != 2 {
		t.Fatalf("inbox stats %+v %v, want the two queued messages", st, err)
	}

	clock.advance(10 * time.Second)
	tv := e.mustDial(t, "a1", "tv1")
	m := tv.readMsg()
	if m.ID != "m-tiny.stored.v1-600-false" || m.Type != "tiny.stored.v1" || m.From == nil || m.From.Device != "phone1" || m.Seq == 0 {
		t.Fatalf("tv got %+v", m)
	}
	// Kept for the type's store, not the longer ttl.
	if m.TTL != 50 {
		t.Errorf("ttl %d, want the 50 s left of the type's store", m.TTL)
	}
	// The msg with ack comes next, and leaves the inbox when tv acks it.
	if m := tv.readMsg(); m.ID != "m-tiny.stored.v1-600-true" || !m.Ack || m.Seq == 0 {
		t.Fatalf("tv got %+v, want the stored msg with ack", m)
	}
	tv.send(&protocol.Ack{ID: "m-tiny.stored.v1-600-true"})
	wantEmpty(t, box)
	// The sender gets a late receipt for it: tv acked.
	if r := phone.readReceipt(); r.ID != "m-tiny.stored.v1-600-true" || len(r.Results) != 1 || r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusAcked}) {
		t.Fatalf("phone got %+v, want the late acked receipt", r)
	}

	t.Run("a connected sibling gets it live", func(t *testing.T) {
		if r := sendTo(t, phone, "live", "tiny.stored.v1", "tv1", 600, false); r.Status != protocol.StatusDelivered {
			t.Fatalf("result %+v", r)
		}
		if m := tv.readMsg(); m.ID != "live" || m.Seq != 0 {
			t.Fatalf("tv got %+v", m)
		}
	})
}

func TestDeviceMsgInboxUnavailable(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, _ := mustInboxEdge(t, clock, func(c *Config) {
		c.Now, c.Types = clock.Now, storedTypes(t)
		c.Inbox = failingInbox{c.Inbox.(*inbox.Memory)}
	})
	phone := e.mustDial(t, "a1", "phone1")
	e.mustList(t, "a1", "tv1")
	want := protocol.Result{Device: "tv1", Status: protocol.StatusRejected, Error: string(protocol.CodeUnavailable)}
	if r := sendTo(t, phone, "m1", "tiny.stored.v1", "tv1", 600, false); r != want {
		t.Fatalf("result %+v, want %+v", r, want)
	}
}

// TestLinkDeviceMsgStored checks that the sender's edge stores what another
// edge or the registry finds offline, and that the sibling gets it from any edge.
func TestLinkDeviceMsgStored(t *testing.T) {
	box, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	edges, _ := mustCluster(t, 2, func(c *Config) { c.Inbox, c.Types = box, storedTypes(t) })
	phone := edges[0].mustDial(t, "a1", "phone1")
	edges[0].mustList(t, "a1", "tv1")

	t.Run("not registered", func(t *testing.T) {
		if r := sendTo(t, phone, "r1", "tiny.stored.v1", "tv1", 600, false); r.Status != protocol.StatusQueued {
			t.Fatalf("result %+v", r)
		}
	})
	t.Run("gone from the edge the registry names", func(t *testing.T) {
		if _, err := edges[0].reg.Register(context.Background(), "a1", "tv1", registry.Entry{Edge: "edge-2", Session: "stale", Since: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if r := sendTo(t, phone, "r2", "tiny.stored.v1", "tv1", 600, false); r.Status != protocol.StatusQueued {
			t.Fatalf("result %+v", r)
		}
		// Edge 2 answered offline over the link; only edge 1 stored.
		if n := edges[1].metric(t, "herald_messages_total", "path", "d2d", "direction", "out", "status", "offline"); n != 1 {
			t.Fatalf("edge 2 counted %v offline, want 1", n)
		}
		if _, err := edges[0].reg.Unregister(context.Background(), "a1", "tv1", "stale"); err != nil {
			t.Fatal(err)
		}
	})
	tv := edges[1].mustDial(t, "a1", "tv1")
	for _, id := range []string{"r1", "r2"} {
		if m := tv.readMsg(); m.ID != id || m.From == nil || m.From.Device != "phone1" || m.Seq == 0 {
			t.Fatalf("tv got %+v, want %s", m, id)
		}
	}
}

// TestDeviceMsgWithoutTTLTakesStore checks the rule of a device msg's ttl for
// the inbox: absent (or null) takes the type's store, 0 is now or never.
func TestDeviceMsgWithoutTTLTakesStore(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, func(c *Config) { c.Now, c.Types = clock.Now, storedTypes(t) })
	phone := e.mustDial(t, "a1", "phone1")
	e.mustList(t, "a1", "tv1")

	if r := sendTo(t, phone, "no-ttl", "tiny.stored.v1", "tv1", -1, false); r.Status != protocol.StatusQueued {
		t.Fatalf("a msg without ttl: %+v, want queued for the type's store", r)
	}
	if r := sendTo(t, phone, "ttl-0", "tiny.stored.v1", "tv1", 0, false); r.Status != protocol.StatusOffline {
		t.Fatalf("a msg with ttl 0: %+v, want offline", r)
	}
	phone.write(`{"t":"msg","id":"ttl-null","type":"tiny.stored.v1","to":{"device":"tv1"},"ttl":null,"payload":{"text":"n"}}`)
	if r := phone.readReceipt(); len(r.Results) != 1 || r.Results[0].Status != protocol.StatusQueued {
		t.Fatalf("a msg with ttl null: %+v, want queued", r)
	}
	if st, err := box.Stats(context.Background(), "a1", "tv1"); err != nil || st.Messages != 2 {
		t.Fatalf("inbox %+v %v, want the two msgs without a ttl", st, err)
	}
	tv := e.mustDial(t, "a1", "tv1")
	if m := tv.readMsg(); m.ID != "no-ttl" || m.TTL != 60 {
		t.Fatalf("tv got %+v, want no-ttl kept for the type's 60 s", m)
	}
}
