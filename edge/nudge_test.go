package edge

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
)

// hookedInbox is a memory inbox that calls a hook once after a device's next
// Pending or before its next Remove: a test holds a connecting device between
// its inbox read and its attach, or its stored reader before a remove.
type hookedInbox struct {
	*inbox.Memory
	mu      sync.Mutex
	pending map[string]func() // guarded by mu: device -> hook
	remove  map[string]func() // guarded by mu: device -> hook
}

func (h *hookedInbox) take(hooks map[string]func(), device string) func() {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := hooks[device]
	delete(hooks, device)
	return f
}

// hold makes the next Pending of device, once it has read, signal on read and
// wait for release to be closed.
func (h *hookedInbox) hold(hooks map[string]func(), device string) (read, release chan struct{}) {
	read, release = make(chan struct{}), make(chan struct{})
	h.mu.Lock()
	hooks[device] = func() { close(read); <-release }
	h.mu.Unlock()
	return read, release
}

func (h *hookedInbox) Pending(ctx context.Context, account, device string, after uint64, limit int) (inbox.Page, error) {
	p, err := h.Memory.Pending(ctx, account, device, after, limit)
	if f := h.take(h.pending, device); f != nil {
		f()
	}
	return p, err
}

func (h *hookedInbox) Remove(ctx context.Context, account, device string, ids ...string) (int, error) {
	if f := h.take(h.remove, device); f != nil {
		f()
	}
	return h.Memory.Remove(ctx, account, device, ids...)
}

// nudgeEdge is an edge with a hooked memory inbox and the Router its writers
// nudge through, as `herald serve` wires them (Config.Nudger, Router.Nudges).
type nudgeEdge struct {
	*testEdge
	box    *hookedInbox
	router *Router
	clock  *testClock
}

func mustNudgeEdge(tb testing.TB, mutate func(*Config)) *nudgeEdge {
	tb.Helper()
	clock := &testClock{now: time.Now()}
	mem, err := inbox.NewMemory(inbox.Config{Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	box := &hookedInbox{Memory: mem, pending: map[string]func(){}, remove: map[string]func(){}}
	router := &Router{}
	e := mustEdge(tb, func(c *Config) {
		c.Inbox, c.Now, c.Nudger = box, clock.Now, router
		if mutate != nil {
			mutate(c)
		}
	})
	router.Local, router.Registry = e.srv, e.reg
	if router.Nudges, err = NewNudgeCounters(e.metrics); err != nil {
		tb.Fatal(err)
	}
	return &nudgeEdge{testEdge: e, box: box, router: router, clock: clock}
}

// put stores a notification with id for a1/tv1, as a writer that found the
// device offline does, and returns its seq.
func (e *nudgeEdge) put(tb testing.TB, id string, ack bool) uint64 {
	tb.Helper()
	res, err := e.box.Put(context.Background(), inbox.Message{
		ID: id, Account: "a1", Device: "tv1", Type: "notification.v1", From: `{"service":"backend"}`,
		Payload: payload(map[string]string{"title": id}), Expires: e.clock.Now().Add(time.Hour), Enqueued: e.clock.Now(), Ack: ack,
	})
	if err != nil || res.Duplicate {
		tb.Fatalf("put %s: %+v, %v", id, res, err)
	}
	return res.Seq
}

// nudge is the writer's step after its put: it nudges a1/tv1's edge.
func (e *nudgeEdge) nudge(tb testing.TB) {
	tb.Helper()
	if err := e.router.Nudge(context.Background(), "a1", "tv1"); err != nil {
		tb.Fatalf("nudge: %v", err)
	}
}

// waitClosed fails the test if ch is not closed within 5 s.
func waitClosed(tb testing.TB, ch <-chan struct{}, what string) {
	tb.Helper()
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		tb.Fatalf("timed out waiting for %s", what)
	}
}

// receiver reads the frames of one connection of a1/tv1, WebSocket or SSE.
type receiver func(tb testing.TB) protocol.Frame

// open connects a1/tv1 over transport without reading anything: the edge may
// still be registering the device.
func (e *nudgeEdge) open(t *testing.T, transport string) receiver {
	t.Helper()
	if transport == "sse" {
		events := e.mustEvents(t, "a1", "tv1")
		return func(tb testing.TB) protocol.Frame {
			tb.Helper()
			ev := nextEvent(t, events, true)
			f, err := protocol.Decode([]byte(ev.data))
			if err != nil {
				tb.Fatalf("decode %s: %v", ev.data, err)
			}
			return f
		}
	}
	c, _, err := e.dial("a1", "tv1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	d := &device{tb: t, c: c}
	return func(tb testing.TB) protocol.Frame { tb.Helper(); return d.read() }
}

// wantMsg reads the next frame and requires the msg id.
func wantMsg(tb testing.TB, next receiver, id string) *protocol.Msg {
	tb.Helper()
	m, ok := next(tb).(*protocol.Msg)
	if !ok || m.ID != id {
		tb.Fatalf("got %+v, want msg %s", m, id)
	}
	return m
}

// TestNudgeWhileConnecting holds a connecting device after its edge read its
// (empty) inbox and before the edge attached it, and runs a writer's steps
// then: the delivery is answered offline, the message stored, the edge
// nudged. The message must reach the device on that same connection, right
// after the welcome, over both transports.
func TestNudgeWhileConnecting(t *testing.T) {
	for _, transport := range []string{"ws", "sse"} {
		t.Run(transport, func(t *testing.T) {
			e := mustNudgeEdge(t, nil)
			read, release := e.box.hold(e.box.pending, "tv1")
			next := e.open(t, transport)
			waitClosed(t, read, "the connecting device's inbox read")

			m := &protocol.Msg{ID: "late", Type: "notification.v1", From: &protocol.Sender{Service: "backend"}, Payload: payload(map[string]string{"title": "late"})}
			if res := e.router.Deliver(context.Background(), "a1", "tv1", m, nil); res.Status != protocol.StatusOffline {
				t.Fatalf("a delivery between the registration and the attach: %+v, want offline", res)
			}
			seq := e.put(t, "late", false)
			e.nudge(t)
			close(release)

			w, ok := next(t).(*protocol.Welcome)
			if !ok {
				t.Fatal("first frame is not a welcome")
			}
			if got := wantMsg(t, next, "late"); got.Seq != seq {
				t.Fatalf("stored msg seq %d, want %d", got.Seq, seq)
			}
			e.pushLive(t, "live")
			wantMsg(t, next, "live")
			wantEmpty(t, e.box.Memory)
			if got := e.srv.Stats().Accepted; got != 1 {
				t.Fatalf("%d connections accepted, want the one of session %s", got, w.Session)
			}
			for result, want := range map[string]float64{"sent": 1, "read": 1, "ignored": 0, "failed": 0} {
				if n := e.metric(t, "herald_inbox_nudges_total", "result", result); n != want {
					t.Errorf("herald_inbox_nudges_total{result=%q} = %v, want %v", result, n, want)
				}
			}
		})
	}
}

// TestNudgeAfterConnect nudges a device's edge for messages put after the
// device connected and its inbox was read, while it stays connected: each
// arrives on the same connection, and none twice, a message with ack
// included, however often the edge is nudged.
func TestNudgeAfterConnect(t *testing.T) {
	e := mustNudgeEdge(t, nil)
	d := e.mustDial(t, "a1", "tv1")
	next := receiver(func(tb testing.TB) protocol.Frame { tb.Helper(); return d.read() })

	e.put(t, "m1", false)
	e.nudge(t)
	wantMsg(t, next, "m1")
	wantEmpty(t, e.box.Memory)

	if m := wantMsgAfter(t, e, next, "ack1", true); !m.Ack {
		t.Fatalf("stored msg with ack written without it: %+v", m)
	}
	e.nudge(t)
	e.nudge(t)
	// The message with ack waits in the inbox for the device's ack; the
	// nudges read after it, so the next frame is the next message.
	wantMsgAfter(t, e, next, "m2", false)
	d.send(&protocol.Ack{ID: "ack1"})
	wantEmpty(t, e.box.Memory)

	if got := e.srv.Stats().Accepted; got != 1 {
		t.Fatalf("%d connections accepted, want 1", got)
	}
	if n := e.metric(t, "herald_inbox_nudges_total", "result", "read"); n != 5 {
		t.Errorf("nudges read: %v, want 5", n)
	}
}

// wantMsgAfter puts id (with ack) for a1/tv1, nudges, and requires it next.
func wantMsgAfter(tb testing.TB, e *nudgeEdge, next receiver, id string, ack bool) *protocol.Msg {
	tb.Helper()
	e.put(tb, id, ack)
	e.nudge(tb)
	return wantMsg(tb, next, id)
}

// TestNudgeHeldButNotRegistered nudges a device held here whose registration
// the registry lost (or never took): the Router nudges the session it holds
// all the same.
func TestNudgeHeldButNotRegistered(t *testing.T) {
	e := mustNudgeEdge(t, nil)
	d := e.mustDial(t, "a1", "tv1")
	if ok, err := e.reg.Unregister(context.Background(), "a1", "tv1", d.welcome.Session); err != nil || !ok {
		t.Fatalf("unregister: %v, %v", ok, err)
	}
	e.put(t, "m1", false)
	e.nudge(t)
	wantMsg(t, func(tb testing.TB) protocol.Frame { tb.Helper(); return d.read() }, "m1")
}

// TestNudgeWhileForwarding nudges a session whose stored reader is still
// busy with the page it queued on connect: the reader reads again after that
// page rather than a second reader starting, and the new message follows.
func TestNudgeWhileForwarding(t *testing.T) {
	e := mustNudgeEdge(t, nil)
	e.put(t, "m1", false)
	removing, release := e.box.hold(e.box.remove, "tv1")
	d := e.mustDial(t, "a1", "tv1")
	next := receiver(func(tb testing.TB) protocol.Frame { tb.Helper(); return d.read() })
	wantMsg(t, next, "m1")
	waitClosed(t, removing, "the stored reader's remove")

	e.put(t, "m2", false)
	e.nudge(t)
	close(release)
	wantMsg(t, next, "m2")
	wantEmpty(t, e.box.Memory)
}

// TestNudgeIgnored sends nudges that must change nothing: for another session
// of the device, for a device not held, for an edge without an inbox.
func TestNudgeIgnored(t *testing.T) {
	e := mustNudgeEdge(t, nil)
	d := e.mustDial(t, "a1", "tv1")
	e.put(t, "m1", false)
	for _, n := range []struct{ account, device, session string }{
		{"a1", "tv1", "s_older"},
		{"a1", "tv2", d.welcome.Session},
		{"a2", "tv1", d.welcome.Session},
	} {
		e.srv.nudged(n.account, n.device, n.session)
	}
	if n := e.metric(t, "herald_inbox_nudges_total", "result", "ignored"); n != 3 {
		t.Fatalf("nudges ignored: %v, want 3", n)
	}
	// m1 stays stored: the next frame is a live message.
	e.pushLive(t, "live")
	wantMsg(t, func(tb testing.TB) protocol.Frame { tb.Helper(); return d.read() }, "live")
	if st, err := e.box.Stats(context.Background(), "a1", "tv1"); err != nil || st.Messages != 1 {
		t.Fatalf("inbox %+v, %v: want m1 still stored", st, err)
	}

	plain := mustEdge(t, nil)
	pd := plain.mustDial(t, "a1", "tv1")
	plain.srv.nudged("a1", "tv1", pd.welcome.Session)
	if n := plain.metric(t, "herald_inbox_nudges_total", "result", "ignored"); n != 1 {
		t.Fatalf("a nudge to an edge without an inbox: ignored %v, want 1", n)
	}
}

// TestReplaceWhileConnecting closes, on a replace from another edge, a
// session that is registered and not yet attached: the newer connection
// elsewhere wins even then.
func TestReplaceWhileConnecting(t *testing.T) {
	e := mustNudgeEdge(t, nil)
	read, release := e.box.hold(e.box.pending, "tv1")
	c, _, err := e.dial("a1", "tv1", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	d := &device{tb: t, c: c}
	waitClosed(t, read, "the connecting device's inbox read")
	entry, err := e.reg.Lookup(context.Background(), "a1", "tv1")
	if err != nil {
		t.Fatal(err)
	}
	e.srv.closeSession("a1", "tv1", entry.Session, CloseReplaced)
	close(release)
	if _, ok := d.read().(*protocol.Welcome); !ok {
		t.Fatal("first frame is not a welcome")
	}
	if code := d.closeStatus(); code != CloseReplaced {
		t.Fatalf("close code %d, want %d (replaced)", code, CloseReplaced)
	}
	eventually(t, "the replaced session to end", func() bool { return e.srv.Stats().Connections == 0 })
}

// TestDeviceMsgNudgesConnectingSibling sends a device msg to a sibling held
// between its registration and its attach: the sending edge answers queued
// and nudges (Config.Nudger), and the sibling gets the msg on that
// connection.
func TestDeviceMsgNudgesConnectingSibling(t *testing.T) {
	e := mustNudgeEdge(t, func(c *Config) { c.Types = storedTypes(t) })
	e.mustList(t, "a1", "phone1", "tv1")
	phone := e.mustDial(t, "a1", "phone1")
	read, release := e.box.hold(e.box.pending, "tv1")
	next := e.open(t, "ws")
	waitClosed(t, read, "the connecting device's inbox read")

	if r := sendTo(t, phone, "d1", "tiny.stored.v1", "tv1", 600, false); r.Status != protocol.StatusQueued {
		t.Fatalf("device msg to a connecting sibling: %+v, want queued", r)
	}
	close(release)
	if _, ok := next(t).(*protocol.Welcome); !ok {
		t.Fatal("first frame is not a welcome")
	}
	if m := wantMsg(t, next, "d1"); m.From == nil || m.From.Device != "phone1" {
		t.Fatalf("stored device msg %+v, want from phone1", m)
	}
}

// TestStoredReaderBound walks a session's stored reader through nudges: at
// most one reader runs, however many nudges come, and nudges while it runs
// make it read once more before it stops, not once per nudge.
func TestStoredReaderBound(t *testing.T) {
	steps := []struct {
		name string
		do   func(ss *session) bool
		want bool
	}{
		{"a nudge on an idle session starts the reader", (*session).nudge, true},
		{"a second nudge starts none", (*session).nudge, false},
		{"nor does a third", (*session).nudge, false},
		{"the reader, done, reads again once", (*session).storedNext, true},
		{"then stops", (*session).storedNext, false},
		{"a nudge then starts it again", (*session).nudge, true},
		{"stopped with its session", func(ss *session) bool { ss.stopStored(); return ss.storedBusy }, false},
		{"a nudge after that starts one", (*session).nudge, true},
	}
	ss := &session{}
	for _, st := range steps {
		if got := st.do(ss); got != st.want {
			t.Fatalf("%s: got %v, want %v", st.name, got, st.want)
		}
	}
}
