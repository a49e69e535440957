package edge

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
)

// mustStoreAck puts a notification with ack for a1/tv1 into box and returns its
// seq.
func mustStoreAck(tb testing.TB, box *inbox.Memory, clock *testClock, id string) uint64 {
	tb.Helper()
	res, err := box.Put(context.Background(), inbox.Message{
		ID: id, Account: "a1", Device: "tv1", Type: "notification.v1",
		From: `{"service":"backend"}`, Payload: payload(map[string]string{"title": id}),
		Expires: clock.Now().Add(time.Hour), Ack: true, Enqueued: clock.Now(),
	})
	if err != nil {
		tb.Fatal(err)
	}
	return res.Seq
}

// storedIDs returns the ids a1/tv1's inbox holds, in order.
func storedIDs(tb testing.TB, box *inbox.Memory) []string {
	tb.Helper()
	page, err := box.Pending(context.Background(), "a1", "tv1", 0, 100)
	if err != nil {
		tb.Fatal(err)
	}
	var ids []string
	for _, m := range page.Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

// TestInboxAckRemovedOnAck checks that a stored message with ack is written with
// its ack flag on every connection, whatever the cursor, and leaves the inbox
// only when the device acks it, while one without ack leaves it once written.
func TestInboxAckRemovedOnAck(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, nil)
	ackSeq := mustStoreAck(t, box, clock, "a0")
	seqs := mustStore(t, box, clock, "n", 1, time.Hour)

	d := e.dialAfter(t, "0")
	if m := d.readMsg(); m.ID != "a0" || !m.Ack || m.Seq != ackSeq {
		t.Fatalf("first msg %+v, want a0 with ack and its seq", m)
	}
	if m := d.readMsg(); m.ID != "n0" || m.Ack {
		t.Fatalf("second msg %+v, want n0 without ack", m)
	}
	eventually(t, "n0 to be removed on its write", func() bool {
		return slices.Equal(storedIDs(t, box), []string{"a0"})
	})

	// The connection ends before the ack: the next one gets a0 again, though
	// the device's cursor is past it.
	d.c.CloseNow()
	d = e.dialAfter(t, strconv.FormatUint(seqs[0], 10))
	if m := d.readMsg(); m.ID != "a0" || !m.Ack || m.Seq != ackSeq {
		t.Fatalf("after a connection without the ack got %+v, want a0 again", m)
	}
	e.pushLive(t, "live")
	if m := d.readMsg(); m.ID != "live" {
		t.Fatalf("got %+v, want live: n0 is behind the cursor and gone", m)
	}
	if got := storedIDs(t, box); !slices.Equal(got, []string{"a0"}) {
		t.Fatalf("inbox holds %v before the ack, want a0", got)
	}
	d.send(&protocol.Ack{ID: "a0"})
	wantEmpty(t, box)

	d.c.CloseNow()
	d = e.dialAfter(t, "0")
	e.pushLive(t, "live2")
	if m := d.readMsg(); m.ID != "live2" {
		t.Fatalf("after the ack got %+v first, want live2", m)
	}
}

// TestInboxAckSSE checks that POST /v1/acks removes a stored message with ack
// that an SSE stream wrote, and counts it as acked.
func TestInboxAckSSE(t *testing.T) {
	clock := &testClock{now: time.Now()}
	e, box := mustInboxEdge(t, clock, nil)
	mustStoreAck(t, box, clock, "a0")
	events := e.mustEventsQuery(t, "a1", "tv1", "")
	nextEvent(t, events, true) // the welcome
	ev := nextEvent(t, events, true)
	if f, err := protocol.Decode([]byte(ev.data)); err != nil || f.(*protocol.Msg).ID != "a0" || !f.(*protocol.Msg).Ack {
		t.Fatalf("event %+v (%v), want a0 with ack", ev, err)
	}
	if got := storedIDs(t, box); !slices.Equal(got, []string{"a0"}) {
		t.Fatalf("inbox holds %v before the ack, want a0", got)
	}
	req, err := http.NewRequest(http.MethodPost, e.hs.URL+"/v1/acks", strings.NewReader(`{"ids":["a0","other"]}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token(t, "a1", "tv1"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != `{"acked":1}` {
		t.Fatalf("POST /v1/acks: %s %s, want 200 acked 1", resp.Status, body)
	}
	if got := storedIDs(t, box); len(got) != 0 {
		t.Fatalf("inbox holds %v after the ack, want nothing", got)
	}
}
