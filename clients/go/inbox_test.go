package herald_test

import (
	"context"
	"sync"
	"testing"
	"time"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
)

// stored is a client of device tv1 that records the messages it is given.
type stored struct {
	c    *herald.Client
	mu   sync.Mutex
	msgs []*protocol.Msg // guarded by mu
	stop func()
}

// startStored runs a client of a1/tv1 against url, starting from cursor
// after; stop ends its Run and checks it returned nil.
func startStored(t *testing.T, url string, after uint64) *stored {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(edgeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue("a1", "tv1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	s := &stored{}
	s.c, err = herald.New(herald.Config{
		URL: url, Token: tok, After: after,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		OnMessage: func(m *protocol.Msg) {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.msgs = append(s.msgs, m)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.c.Run(ctx) }()
	var once sync.Once
	s.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run = %v", err)
			}
		})
	}
	t.Cleanup(s.stop)
	return s
}

// ids returns the ids of the messages received so far, in order.
func (s *stored) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []string
	for _, m := range s.msgs {
		ids = append(ids, m.ID)
	}
	return ids
}

// mustPut stores a notification for a1/tv1 and returns its seq.
func mustPut(t *testing.T, box *inbox.Memory, id string) uint64 {
	t.Helper()
	res, err := box.Put(context.Background(), inbox.Message{
		ID: id, Account: "a1", Device: "tv1", Type: "notification.v1", From: "svc",
		Payload: []byte(`{"title":"` + id + `"}`), Expires: time.Now().Add(time.Hour), Enqueued: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return res.Seq
}

// TestStoredMessagesResume runs the client against a real edge with an
// inbox: what waited arrives with its seq and moves the cursor; a message
// stored while the client was away arrives alone on the next connection; a
// client started from a persisted cursor skips what is before it, and one
// started with no cursor gets all that is left.
func TestStoredMessagesResume(t *testing.T) {
	box, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	e := mustEdge(t, edge.Config{Inbox: box})

	seq1 := mustPut(t, box, "m1")
	c1 := startStored(t, e.url, 0)
	waitUntil(t, "m1", func() bool { return len(c1.ids()) == 1 })
	c1.mu.Lock()
	got := c1.msgs[0]
	c1.mu.Unlock()
	if got.ID != "m1" || got.Seq != seq1 {
		t.Fatalf("got %s seq %d, want m1 seq %d", got.ID, got.Seq, seq1)
	}
	waitUntil(t, "the cursor at m1", func() bool { return c1.c.Cursor() == seq1 })
	c1.stop()

	// A persisted cursor: the next run starts from it and gets only m2.
	seq2 := mustPut(t, box, "m2")
	c2 := startStored(t, e.url, c1.c.Cursor())
	waitUntil(t, "m2", func() bool { return len(c2.ids()) == 1 })
	if ids := c2.ids(); ids[0] != "m2" {
		t.Fatalf("second run got %v, want [m2]", ids)
	}
	waitUntil(t, "the cursor at m2", func() bool { return c2.c.Cursor() == seq2 })
	c2.stop()

	// m3 is before the cursor the next run starts from, m4 after it.
	mustPut(t, box, "m3")
	seq4 := mustPut(t, box, "m4")
	c3 := startStored(t, e.url, seq4-1)
	waitUntil(t, "m4", func() bool { return len(c3.ids()) == 1 })
	if ids := c3.ids(); ids[0] != "m4" {
		t.Fatalf("run from cursor %d got %v, want [m4]", seq4-1, ids)
	}
	time.Sleep(50 * time.Millisecond) // room for m3 to arrive, which it must not
	if ids := c3.ids(); len(ids) != 1 {
		t.Fatalf("run from cursor %d got %v, want [m4] only", seq4-1, ids)
	}
	c3.stop()

	// m3 stayed in the inbox: a run with no cursor gets it.
	c4 := startStored(t, e.url, 0)
	waitUntil(t, "m3", func() bool { return len(c4.ids()) == 1 })
	if ids := c4.ids(); ids[0] != "m3" {
		t.Fatalf("run with no cursor got %v, want [m3]", ids)
	}
}
