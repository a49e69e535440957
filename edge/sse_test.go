package edge

import (
	"bufio"
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// sseEvent is one parsed Server-Sent Event.
type sseEvent struct {
	id   string
	data string
}

// mustEvents opens GET /v1/events and returns a channel of its events.
func (e *testEdge) mustEvents(t *testing.T, account, device string) <-chan sseEvent {
	t.Helper()
	return e.mustEventsQuery(t, account, device, "")
}

// mustEventsQuery is mustEvents with a query string ("?after=5") on the URL.
func (e *testEdge) mustEventsQuery(t *testing.T, account, device, query string) <-chan sseEvent {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.hs.URL+"/v1/events"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token(t, account, device))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("events: %s %s", resp.Status, resp.Header.Get("Content-Type"))
	}
	events := make(chan sseEvent, 16)
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		var ev sseEvent
		for sc.Scan() {
			line := sc.Text()
			switch {
			case line == "":
				if ev.data != "" {
					events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, "id: "):
				ev.id = strings.TrimPrefix(line, "id: ")
			case strings.HasPrefix(line, "data: "):
				ev.data = strings.TrimPrefix(line, "data: ")
			case strings.HasPrefix(line, ":"):
				events <- sseEvent{data: line} // a keepalive comment
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return events
}

func nextEvent(t *testing.T, events <-chan sseEvent, skipComments bool) sseEvent {
	t.Helper()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("event stream ended")
			}
			if skipComments && strings.HasPrefix(ev.data, ":") {
				continue
			}
			return ev
		case <-time.After(5 * time.Second):
			t.Fatal("no event")
		}
	}
}

func TestSSE(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.PingInterval = 30 * time.Millisecond })
	events := e.mustEvents(t, "a1", "tv1")
	ev := nextEvent(t, events, true)
	f, err := protocol.Decode([]byte(ev.data))
	if w, ok := f.(*protocol.Welcome); err != nil || !ok || w.Device != "tv1" {
		t.Fatalf("first event %q: %v", ev.data, err)
	}

	t.Run("keepalive comments", func(t *testing.T) {
		if ev := nextEvent(t, events, false); !strings.HasPrefix(ev.data, ":") {
			t.Fatalf("got %+v, want a comment", ev)
		}
	})
	t.Run("a message carries its id and is acked over POST /v1/acks", func(t *testing.T) {
		res := make(chan protocol.Result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			res <- e.srv.Deliver(ctx, "a1", "tv1", &protocol.Msg{ID: "sse1", Type: "tiny.echo.v1", Ack: true, Payload: payload(map[string]string{"text": "hi"})}, nil)
		}()
		ev := nextEvent(t, events, true)
		if ev.id != "sse1" {
			t.Fatalf("event %+v, want id sse1", ev)
		}
		if m, err := protocol.Decode([]byte(ev.data)); err != nil || m.(*protocol.Msg).ID != "sse1" {
			t.Fatalf("event data %q: %v", ev.data, err)
		}
		req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/v1/acks", strings.NewReader(`{"ids":["sse1"]}`))
		req.Header.Set("Authorization", "Bearer "+e.token(t, "a1", "tv1"))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("acks: %s", resp.Status)
		}
		if r := <-res; r.Status != protocol.StatusAcked {
			t.Fatalf("result %+v, want acked", r)
		}
	})
	t.Run("acks need a token and a body", func(t *testing.T) {
		for _, tc := range []struct {
			auth, body string
			want       int
		}{
			{"", `{"ids":["x"]}`, http.StatusUnauthorized},
			{"Bearer " + e.token(t, "a1", "tv1"), `{"ids":[]}`, http.StatusBadRequest},
			{"Bearer " + e.token(t, "a1", "tv1"), `nope`, http.StatusBadRequest},
			{"Bearer " + e.token(t, "a1", "tv1"), `{"ids":["` + strings.Repeat("x", MaxAckBody) + `"]}`, http.StatusRequestEntityTooLarge},
		} {
			req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/v1/acks", strings.NewReader(tc.body))
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("acks %q: %s, want %d", tc.body[:min(len(tc.body), 20)], resp.Status, tc.want)
			}
		}
	})
	t.Run("an SSE device is registered and replaced like any other", func(t *testing.T) {
		d := e.mustDial(t, "a1", "tv1")
		for {
			ev, ok := <-events
			if !ok {
				break // the SSE stream ended: replaced
			}
			_ = ev
		}
		if r := e.srv.Deliver(context.Background(), "a1", "tv1", &protocol.Msg{ID: "ws1", Type: "tiny.echo.v1", Payload: payload(map[string]string{})}, nil); r.Status != protocol.StatusDelivered {
			t.Fatalf("deliver: %+v", r)
		}
		if m := d.readMsg(); m.ID != "ws1" {
			t.Fatalf("got %+v", m)
		}
	})
}
