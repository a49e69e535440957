package herald

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// storedFrame is a stored msg frame with id and seq, as the edge writes one
// from a device's inbox.
func storedFrame(id string, seq int) string {
	return `{"t":"msg","id":"` + id + `","type":"notification.v1","from":{"service":"svc"},"payload":{"title":"` + id + `"},"seq":` + strconv.Itoa(seq) + `}`
}

// TestCursorResumes checks that the client sends the highest seq it received
// as ?after= on each reconnect (Config.After on the first), that live
// messages (no seq) leave it alone, that a seq below it does not move it
// back, and that a stored message written again after a connection cut
// mid-drain is dropped as a duplicate.
func TestCursorResumes(t *testing.T) {
	s := newScriptServer(t, func(sc *srvConn) {
		switch sc.n {
		case 1:
			sc.send(storedFrame("s1", 7))
			sc.send(storedFrame("s2", 9))
			sc.send(msgFrame("live1", false))
			// The connection is cut before the edge removed s2.
		case 2:
			sc.send(storedFrame("s2", 9))
			sc.send(storedFrame("old", 3))
			sc.send(msgFrame("end", false))
			sc.drain()
		}
	})
	var (
		mu  sync.Mutex
		got []string
	)
	end := make(chan struct{})
	r := startClient(t, Config{
		URL: s.URL, Token: "tok", After: 5, MinBackoff: 10 * time.Millisecond,
		OnMessage: func(m *protocol.Msg) {
			if m.ID == "end" {
				close(end)
				return
			}
			mu.Lock()
			got = append(got, m.ID)
			mu.Unlock()
		},
	})
	recv(t, end)
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"s1", "s2", "live1", "old"}; !slices.Equal(got, want) {
		t.Errorf("OnMessage got %v, want %v", got, want)
	}
	if want := []string{"5", "9"}; !slices.Equal(s.acceptedAfters(), want) {
		t.Errorf("connections sent after=%q, want %q", s.acceptedAfters(), want)
	}
	if c := r.c.Cursor(); c != 9 {
		t.Errorf("Cursor = %d, want 9", c)
	}
}

func TestCursorNotSentWithoutOne(t *testing.T) {
	s := newScriptServer(t, func(sc *srvConn) {
		sc.send(msgFrame("end", false))
		sc.drain()
	})
	end := make(chan struct{})
	r := startClient(t, Config{URL: s.URL, Token: "tok", OnMessage: func(*protocol.Msg) { close(end) }})
	recv(t, end)
	if a := s.acceptedAfters(); !slices.Equal(a, []string{""}) {
		t.Errorf("connections sent after=%q, want none", a)
	}
	if c := r.c.Cursor(); c != 0 {
		t.Errorf("Cursor = %d, want 0", c)
	}
}
