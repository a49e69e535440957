package herald_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestRealEdgeDuplicateAcks runs the client against a real edge with an inbox,
// through a proxy that cuts the connection between the write of a stored msg
// with ack (m1) and its ack, so that the ack never reaches the edge. On the next
// connection the edge writes m1 again, followed by m2 (stored meanwhile, no
// ack). The client drops the duplicate (OnMessage sees m1 once) and acks it
// again when AutoAck is on or the app had acked m1; otherwise m1 stays in the
// inbox until the app acks it on the new connection.
func TestRealEdgeDuplicateAcks(t *testing.T) {
	tests := []struct {
		name       string
		autoAck    bool
		appAck     bool // the app acks m1 after the cut, which loses the ack
		ackedAgain bool // the client acks the duplicate by itself
	}{
		{"auto-ack acks the duplicate again", true, false, true},
		{"a duplicate of what the app acked is acked again", false, true, true},
		{"a duplicate the app has not acked is left for its ack", false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			box, err := inbox.NewMemory(inbox.Config{})
			if err != nil {
				t.Fatal(err)
			}
			e := mustEdge(t, edge.Config{Inbox: box})
			proxy := testenv.StartProxy(t, strings.TrimPrefix(e.url, "http://"))
			mustPutMsg(t, box, "m1", true)

			var (
				mu     sync.Mutex
				got    []string // guarded by mu: OnMessage's ids
				frames int      // guarded by mu: msg frames of m1 seen by OnFrame
			)
			inM1, release := make(chan struct{}), make(chan struct{})
			gotM2 := make(chan struct{})
			c := startDevice(t, herald.Config{
				URL: "http://" + proxy.Addr, AutoAck: tt.autoAck,
				OnFrame: func(f protocol.Frame) {
					if m, ok := f.(*protocol.Msg); ok && m.ID == "m1" {
						mu.Lock()
						frames++
						mu.Unlock()
					}
				},
				OnMessage: func(m *protocol.Msg) {
					mu.Lock()
					got = append(got, m.ID)
					mu.Unlock()
					switch m.ID {
					case "m1":
						close(inM1)
						<-release // AutoAck acks once OnMessage returns: after the cut
					case "m2":
						close(gotM2)
					}
				},
			})

			recvEdge(t, inM1, "m1")
			proxy.Stop() // the edge's session ends with m1 unacked
			if tt.appAck {
				// Written to a cut connection, or refused: the ack is lost either way.
				err := c.Ack(context.Background(), "m1")
				t.Logf("Ack on the cut connection: %v", err)
			}
			close(release)
			mustPutMsg(t, box, "m2", false)
			proxy.Start()

			recvEdge(t, gotM2, "m2 on the next connection")
			roundTrip(t, c) // the edge has read whatever the client wrote before
			if left := pendingIDs(t, box); tt.ackedAgain != !slices.Contains(left, "m1") {
				t.Fatalf("after the duplicate the inbox holds %v; want m1 acked again by the client: %v", left, tt.ackedAgain)
			}
			if !tt.ackedAgain {
				if err := c.Ack(context.Background(), "m1"); err != nil {
					t.Fatalf("the app's Ack of m1 on the new connection: %v", err)
				}
				roundTrip(t, c)
				if left := pendingIDs(t, box); len(left) != 0 {
					t.Fatalf("after the app's ack the inbox holds %v, want nothing", left)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if want := []string{"m1", "m2"}; !slices.Equal(got, want) {
				t.Errorf("OnMessage got %v, want %v", got, want)
			}
			if frames != 2 {
				t.Errorf("m1 was written %d times, want 2 (the duplicate)", frames)
			}
		})
	}
}

// startDevice runs a client of a1/tv1 with cfg (its URL and callbacks) until
// the end of the test.
func startDevice(t *testing.T, cfg herald.Config) *herald.Client {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(edgeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Token, err = iss.Issue("a1", "tv1", time.Hour); err != nil {
		t.Fatal(err)
	}
	cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	c, err := herald.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return c
}

// mustPutMsg stores a notification for a1/tv1, with an ack or not.
func mustPutMsg(t *testing.T, box *inbox.Memory, id string, ack bool) {
	t.Helper()
	_, err := box.Put(context.Background(), inbox.Message{
		ID: id, Account: "a1", Device: "tv1", Type: "notification.v1", From: `{"service":"svc"}`, Ack: ack,
		Payload: []byte(`{"title":"` + id + `"}`), Expires: time.Now().Add(time.Hour), Enqueued: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
}

// pendingIDs returns the ids of what a1/tv1's inbox holds.
func pendingIDs(t *testing.T, box *inbox.Memory) []string {
	t.Helper()
	page, err := box.Pending(context.Background(), "a1", "tv1", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

// roundTrip sends a msg and waits for the edge's answer to it (a receipt, or
// an error frame for a target outside the device list): the edge reads a
// connection's frames in order, so it has then handled every frame the client
// wrote before, acks included.
func roundTrip(t *testing.T, c *herald.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), failAfterEdge)
	defer cancel()
	_, err := c.Send(ctx, protocol.Target{Device: "phone1"}, "playback.control.v1", map[string]any{"action": "pause"})
	var se *herald.ServerError
	if err != nil && !errors.As(err, &se) {
		t.Fatalf("round trip: %v", err)
	}
}

// recvEdge waits until ch is closed.
func recvEdge(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(failAfterEdge):
		t.Fatalf("gave up waiting for %s", what)
	}
}
