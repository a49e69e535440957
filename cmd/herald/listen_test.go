package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldpush/herald/protocol"
)

// TestListenResumes runs herald listen --after against an edge stand-in that
// writes one stored message after each welcome and then cuts the connection:
// listen prints the message with its seq, starts from --after and resumes
// after the seq it printed.
func TestListenResumes(t *testing.T) {
	var (
		mu     sync.Mutex
		afters []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		afters = append(afters, r.URL.Query().Get("after"))
		n := len(afters)
		mu.Unlock()
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.Subprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
		defer cancel()
		frames := []string{
			`{"t":"welcome","session":"s_1","account":"a1","device":"tv1","edge":"edge-1","ping_ms":30000,"server_time":1763884800000}`,
			`{"t":"msg","id":"m` + strconv.Itoa(n) + `","type":"notification.v1","from":{"service":"svc"},"ts":1763884800000,"payload":{"title":"hi"},"seq":` + strconv.Itoa(n*10+7) + `}`,
		}
		for _, f := range frames {
			if ws.Write(ctx, websocket.MessageText, []byte(f)) != nil {
				return
			}
		}
		ws.Close(websocket.StatusGoingAway, "cut")
	}))
	defer srv.Close()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"listen", "--url", srv.URL, "--account", "a1", "--device", "tv1", "--after", "5"}, &out, &errs)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), `"seq":27`) {
		if time.Now().After(deadline) {
			t.Fatalf("listen printed %q, want the second stored message", out.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("listen exited %d: %s", code, errs.String())
	}
	if !strings.Contains(out.String(), `"id":"m1"`) || !strings.Contains(out.String(), `"seq":17`) {
		t.Errorf("listen printed %q, want m1 with seq 17", out.String())
	}
	mu.Lock()
	defer mu.Unlock()
	if want := []string{"5", "17"}; len(afters) < 2 || !slices.Equal(afters[:2], want) {
		t.Errorf("connections sent after=%q, want %q first", afters, want)
	}
}

// TestListenRefreshesItsToken runs herald listen with short-lived tokens
// against herald dev: its one connection outlives several tokens through
// refresh frames, and it still gets messages.
func TestListenRefreshesItsToken(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"listen", "--url", dev.base, "--account", "a1", "--device", "tv1", "--token-ttl", "3s"}, &out, &errs)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(out.String(), `"t":"refreshed"`) < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("listen printed %q, want two refreshed frames", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := strings.Count(out.String(), `"t":"welcome"`); n != 1 {
		t.Fatalf("%d welcomes: the connection was not kept through the refreshes\n%s", n, out.String())
	}
	if r := runCmd(t, ctx, "send", "--url", dev.base, "--key", "dev-api-key", "--account", "a1", "--device", "tv1",
		"--type", "notification.v1", "--payload", `{"title":"still here"}`); r.code != 0 || !strings.Contains(r.stdout, "delivered") {
		t.Fatalf("send after the refreshes: %d %s %s", r.code, r.stdout, r.stderr)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("listen exited %d: %s", code, errs.String())
	}
}
