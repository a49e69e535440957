package edge

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
)

// mustInboxEdge returns an edge with a memory inbox on clock, and the inbox.
func mustInboxEdge(tb testing.TB, clock *testClock, mutate func(*Config)) (*testEdge, *inbox.Memory) {
	tb.Helper()
	box, err := inbox.NewMemory(inbox.Config{Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	e := mustEdge(tb, func(c *Config) {
		c.Inbox = box
		if mutate != nil {
			mutate(c)
		}
	})
	return e, box
}

// mustStore puts n notifications for a1/tv1 into box, expiring keep after
// clock's now, and returns their seqs.
func mustStore(tb testing.TB, box *inbox.Memory, clock *testClock, prefix string, n int, keep time.Duration) []uint64 {
	tb.Helper()
	var seqs []uint64
	for i := range n {
		res, err := box.Put(context.Background(), inbox.Message{
			ID: prefix + strconv.Itoa(i), Account: "a1", Device: "tv1", Type: "notification.v1",
			From: `{"service":"backend"}`, Payload: payload(map[string]string{"title": prefix + strconv.Itoa(i)}),
			Expires: clock.Now().Add(keep), Enqueued: clock.Now(),
		})
		if err != nil {
			tb.Fatal(err)
		}
		seqs = append(seqs, res.Seq)
	}
	return seqs
}

// dialAfter connects a1/tv1 with the resume cursor after and reads its welcome.
func (e *testEdge) dialAfter(tb testing.TB, after string) *device {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hdr := http.Header{"Authorization": {"Bearer " + e.token(tb, "a1", "tv1")}}
	c, _, err := websocket.Dial(ctx, e.wsURL()+"?after="+after, &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.CloseNow() })
	d := &device{tb: tb, c: c}
	if _, ok := d.read().(*protocol.Welcome); !ok {
		tb.Fatal("first frame is not a welcome")
	}
	return d
}

// pushLive delivers a live notification with id to a1/tv1 and wants it written.
func (e *testEdge) pushLive(tb testing.TB, id string) {
	tb.Helper()
	m := &protocol.Msg{ID: id, Type: "notification.v1", From: &protocol.Sender{Service: "backend"}, Payload: payload(map[string]string{"title": id})}
	if res := e.srv.Deliver(context.Background(), "a1", "tv1", m, nil); res.Status != protocol.StatusDelivered {
		tb.Fatalf("live push: %+v", res)
	}
}

// wantEmpty waits until the device's inbox holds nothing: removal follows the
// write, on the session's own goroutine.
func wantEmpty(tb testing.TB, box *inbox.Memory) {
	tb.Helper()
	eventually(tb, "the inbox to be emptied", func() bool {
		st, err := box.Stats(context.Background(), "a1", "tv1")
		return err == nil && st.Messages == 0
	})
}

func TestInboxDeliveredOnConnect(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, func(c *Config) { c.Now = clock.Now })
	seqs := mustStore(t, box, clock, "s", 3, time.Hour)
	clock.advance(10 * time.Minute)

	d := e.dialAfter(t, "0")
	e.pushLive(t, "live")
	for i, seq := range seqs {
		m := d.readMsg()
		if m.ID != "s"+strconv.Itoa(i) || m.Seq != seq || m.From == nil || m.From.Service != "backend" || m.Type != "notification.v1" {
			t.Fatalf("stored msg %d: %+v, want id s%d seq %d from backend", i, m, i, seq)
		}
		if m.TTL != 50*60 {
			t.Errorf("ttl %d, want the 3000 s left", m.TTL)
		}
	}
	if m := d.readMsg(); m.ID != "live" || m.Seq != 0 {
		t.Fatalf("after the stored messages got %+v, want the live one without seq", m)
	}
	wantEmpty(t, box)
	if got := e.metric(t, "herald_edge_stored_delivered_total"); got != 3 {
		t.Errorf("stored delivered %v, want 3", got)
	}

	// A second connection gets nothing again: the live message is its first.
	d.c.CloseNow()
	d = e.dialAfter(t, "0")
	e.pushLive(t, "live2")
	if m := d.readMsg(); m.ID != "live2" {
		t.Fatalf("second connection got %+v first, want live2", m)
	}
}

func TestInboxPages(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, func(c *Config) { c.InboxPage = 2 })
	seqs := mustStore(t, box, clock, "p", 5, time.Hour)
	d := e.dialAfter(t, "0")
	for i, seq := range seqs {
		if m := d.readMsg(); m.Seq != seq {
			t.Fatalf("msg %d: seq %d, want %d", i, m.Seq, seq)
		}
	}
	wantEmpty(t, box)
}

func TestInboxExpired(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, nil)
	mustStore(t, box, clock, "old", 2, time.Minute)
	mustStore(t, box, clock, "new", 1, time.Hour)
	clock.advance(2 * time.Minute)
	d := e.dialAfter(t, "0")
	e.pushLive(t, "live")
	if m := d.readMsg(); m.ID != "new0" {
		t.Fatalf("first msg %+v, want new0: the expired ones are never sent", m)
	}
	if m := d.readMsg(); m.ID != "live" {
		t.Fatalf("second msg %+v, want live", m)
	}
}

func TestInboxResumeCursor(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, nil)
	seqs := mustStore(t, box, clock, "r", 3, time.Hour)
	d := e.dialAfter(t, strconv.FormatUint(seqs[1], 10))
	e.pushLive(t, "live")
	if m := d.readMsg(); m.ID != "r2" || m.Seq != seqs[2] {
		t.Fatalf("first msg %+v, want r2: the device has r0 and r1", m)
	}
	if m := d.readMsg(); m.ID != "live" {
		t.Fatalf("second msg %+v, want live", m)
	}

	t.Run("bad cursor", func(t *testing.T) {
		for _, after := range []string{"-1", "x", "18446744073709551616", "1.5"} {
			req, err := http.NewRequest(http.MethodGet, e.hs.URL+"/v1/connect?after="+after, nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+e.token(t, "a1", "tv2"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Content-Type") != protocol.ProblemContentType {
				t.Errorf("after=%s: %s %s, want 400 problem", after, resp.Status, resp.Header.Get("Content-Type"))
			}
		}
	})
}

func TestInboxSSE(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, nil)
	seqs := mustStore(t, box, clock, "e", 2, time.Hour)
	events := e.mustEventsQuery(t, "a1", "tv1", "?after="+strconv.FormatUint(seqs[0], 10))
	if f, err := protocol.Decode([]byte(nextEvent(t, events, true).data)); err != nil || f.Kind() != protocol.KindWelcome {
		t.Fatalf("first event %v %v, want the welcome", f, err)
	}
	ev := nextEvent(t, events, true)
	f, err := protocol.Decode([]byte(ev.data))
	if err != nil {
		t.Fatal(err)
	}
	if m, ok := f.(*protocol.Msg); !ok || m.ID != "e1" || m.Seq != seqs[1] || ev.id != "e1" {
		t.Fatalf("event %+v, want stored e1 with its seq: the cursor is past e0", ev)
	}
	eventually(t, "e1 to be removed", func() bool {
		page, err := box.Pending(context.Background(), "a1", "tv1", 0, 10)
		return err == nil && len(page.Messages) == 1 && page.Messages[0].ID == "e0"
	})
}

// TestInboxNotTakenStaysStored checks that a stored message the session does not
// take (here over the device's outbound rate) stays in the inbox, with those
// after it, while those written are removed.
func TestInboxNotTakenStaysStored(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, func(c *Config) {
		c.MaxOutRate, c.MaxOutBurst = 0.001, 2
		c.InboxPage = 3
	})
	seqs := mustStore(t, box, clock, "k", 4, time.Hour)
	d := e.dialAfter(t, "0")
	for i := range 2 {
		if m := d.readMsg(); m.Seq != seqs[i] {
			t.Fatalf("msg %d: seq %d, want %d", i, m.Seq, seqs[i])
		}
	}
	eventually(t, "the two written messages to be removed", func() bool {
		st, err := box.Stats(context.Background(), "a1", "tv1")
		return err == nil && st.Messages == 2
	})
	page, err := box.Pending(context.Background(), "a1", "tv1", 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 2 || page.Messages[0].Seq != seqs[2] || page.Messages[1].Seq != seqs[3] {
		t.Errorf("inbox holds %+v, want the last two", page.Messages)
	}
}

// TestInboxPageConfig checks InboxPage at its edges: it defaults to
// DefaultInboxPage, or to SendQueue-1 below it, and must stay below SendQueue,
// which also holds the welcome.
func TestInboxPageConfig(t *testing.T) {
	box, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		queue, page int
		wantPage    int
		wantErr     bool
	}{
		{name: "defaults", wantPage: DefaultInboxPage},
		{name: "small queue", queue: 8, wantPage: 7},
		{name: "largest", queue: 8, page: 7, wantPage: 7},
		{name: "as large as the queue", queue: 8, page: 8, wantErr: true},
		{name: "a queue of one", queue: 1, wantErr: true},
		{name: "negative", page: -1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEdge(t, nil)
			cfg := e.srv.cfg
			cfg.Inbox, cfg.SendQueue, cfg.InboxPage = box, tt.queue, tt.page
			err := cfg.setDefaults()
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "InboxPage") {
					t.Fatalf("setDefaults: %v, want an InboxPage error", err)
				}
				return
			}
			if err != nil || cfg.InboxPage != tt.wantPage {
				t.Errorf("InboxPage %d (%v), want %d", cfg.InboxPage, err, tt.wantPage)
			}
		})
	}
}

// closingTransport writes every frame at once, but on the frame of the id
// closeOn it ends the session first, and only returns (written) a while
// after: a stored message that the device got just as it went away. Writes
// after that fail.
type closingTransport struct {
	ss      *session // set before the session runs
	closeOn string
	closed  chan struct{}
}

func (t *closingTransport) write(_ time.Time, f outFrame) error {
	select {
	case <-t.closed:
		return errClosed // after the close, as a closed socket's writes
	default:
	}
	if f.id == t.closeOn {
		t.ss.end(closeAbort, causeClientClosed)
		<-t.closed
		time.Sleep(50 * time.Millisecond)
	}
	return nil
}

func (t *closingTransport) close(_ websocket.StatusCode, _ string, done func()) {
	done()
	close(t.closed)
}

// TestInboxWrittenAsTheSessionEnds holds that a stored message written while
// its session ends counts as delivered and leaves the inbox, and that one
// after it, never written, stays: the device got the first, and would get it
// again on its next connection if it stayed stored.
func TestInboxWrittenAsTheSessionEnds(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, nil)
	seqs := mustStore(t, box, clock, "w", 2, time.Hour)
	ct := &closingTransport{closeOn: "w0", closed: make(chan struct{})}
	if _, _, ok := e.srv.enterDevice(); !ok {
		t.Fatal("not admitted")
	}
	ss := e.srv.newSession("a1", "tv1", "test", ct, nil)
	ct.ss = ss
	loopDone := make(chan struct{})
	go func() {
		defer e.srv.leave()
		defer close(loopDone)
		e.srv.run(ss, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	}()
	<-loopDone
	eventually(t, "the written message to leave the inbox", func() bool {
		page, err := box.Pending(context.Background(), "a1", "tv1", 0, 10)
		return err == nil && len(page.Messages) == 1 && page.Messages[0].Seq == seqs[1]
	})
}
