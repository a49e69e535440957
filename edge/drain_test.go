package edge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

// reconnectingDevice is a client that reads until it gets a reconnect frame, notes
// when, and closes as a real client does.
type reconnectingDevice struct {
	account, device string
	c               *websocket.Conn
	got             time.Time // when the reconnect arrived
	reason          string
	code            websocket.StatusCode // the close status seen, when the server closed
	done            chan struct{}
}

func (d *reconnectingDevice) run(close bool) {
	defer close_(d.done)
	for {
		_, data, err := d.c.Read(context.Background())
		if err != nil {
			d.code = websocket.CloseStatus(err)
			return
		}
		if r, ok := mustDecode(data).(*protocol.Reconnect); ok && d.got.IsZero() {
			d.got, d.reason = time.Now(), r.Reason
			if close {
				_ = d.c.Close(websocket.StatusNormalClosure, "reconnecting")
				return
			}
		}
	}
}

func close_(c chan struct{}) { close(c) }

func mustDecode(data []byte) protocol.Frame {
	f, err := protocol.Decode(data)
	if err != nil {
		return nil
	}
	return f
}

// mustDialMany connects n devices (one per account) from a few dialling goroutines.
func (e *testEdge) mustDialMany(t *testing.T, n int, closeOnReconnect bool) []*reconnectingDevice {
	t.Helper()
	devs := make([]*reconnectingDevice, n)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	next := make(chan int, n)
	for i := range n {
		next <- i
	}
	close(next)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				d := &reconnectingDevice{account: fmt.Sprintf("a%d", i), device: "d", done: make(chan struct{})}
				// A generous deadline: thousands of dials under the race detector on a
				// loaded host may queue behind each other.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				c, _, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{
					HTTPHeader:   http.Header{"Authorization": {"Bearer " + e.token(t, d.account, d.device)}},
					Subprotocols: []string{protocol.Subprotocol},
				})
				cancel()
				if err != nil {
					errs <- fmt.Errorf("dial %d: %w", i, err)
					return
				}
				// The welcome: the device is registered once it has it.
				if _, _, err := c.Read(context.Background()); err != nil {
					errs <- fmt.Errorf("welcome %d: %w", i, err)
					return
				}
				d.c = c
				devs[i] = d
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, d := range devs {
			if d != nil {
				_ = d.c.CloseNow()
				<-d.done
			}
		}
	})
	for _, d := range devs {
		if d != nil {
			go d.run(closeOnReconnect)
		}
	}
	close(errs)
	if err := <-errs; err != nil {
		t.Fatal(err)
	}
	return devs
}

func TestDrainSpreadsReconnects(t *testing.T) {
	const (
		n      = 2000
		window = 3 * time.Second
	)
	// A grace long enough that clients lagging on a loaded host still close
	// first (1000), rather than the edge after the grace (4002).
	e := mustEdge(t, func(c *Config) { c.ReconnectGrace = 30 * time.Second })
	devs := e.mustDialMany(t, n, true)
	if got := e.srv.Stats().Connections; got != n {
		t.Fatalf("%d connections, want %d", got, n)
	}
	t.Logf("%d connections, %d goroutines", n, runtime.NumGoroutine())

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	start := time.Now()
	if err := e.srv.Drain(ctx, window); err != nil {
		t.Fatalf("drain: %v", err)
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	cpu := time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	t.Logf("drain returned after %v, using %v of CPU", time.Since(start), cpu)

	// Every device got its reconnect (reason drain) and its connection ended.
	got := make([]time.Duration, 0, n)
	for i, d := range devs {
		<-d.done
		if d.got.IsZero() || d.reason != protocol.ReasonDrain {
			t.Fatalf("device %d: reconnect at %v, reason %q", i, d.got, d.reason)
		}
		got = append(got, d.got.Sub(start))
	}
	// The reconnects are spread over the window: the edge sends the k-th
	// (from 0) no earlier than k*window/n after Drain began, so the k-th
	// that any device received came at least that long after start. A
	// loaded host only delays sends and receipts, so the bound holds however
	// slow the host; an edge that sent them all at once fails it for all but
	// the first few.
	slices.Sort(got)
	t.Logf("receipts: first %v, a quarter %v, half %v, last %v", got[0], got[n/4], got[n/2], got[n-1])
	for k, at := range got {
		if due := time.Duration(k) * window / n; at < due {
			t.Fatalf("the reconnect received %d-th came %v after the drain began, before its due %v: not spread over %v", k, at, due, window)
		}
	}
	// Drain returned only once every registration was gone.
	if got := e.srv.Stats().Connections; got != 0 {
		t.Fatalf("%d connections after the drain", got)
	}
	for _, d := range devs {
		if _, err := e.reg.Lookup(context.Background(), d.account, d.device); !errors.Is(err, registry.ErrNotFound) {
			t.Fatalf("%s/%s still registered after the drain: %v", d.account, d.device, err)
		}
	}
	if got := e.metric(t, "herald_edge_disconnects_total", "reason", "drain", "code", "1000"); got != n {
		t.Fatalf("%v drain disconnects counted, want %d", got, n)
	}
	if got := e.metric(t, "herald_edge_connections"); got != 0 {
		t.Fatalf("herald_edge_connections = %v after the drain", got)
	}
}

func TestDrain(t *testing.T) {
	const grace = 200 * time.Millisecond
	short := func(c *Config) { c.ReconnectGrace = grace }

	t.Run("a draining edge refuses new connections with 503", func(t *testing.T) {
		e := mustEdge(t, short)
		if e.srv.Draining() {
			t.Fatal("draining before Drain")
		}
		if err := e.srv.Drain(context.Background(), 0); err != nil {
			t.Fatal(err)
		}
		if !e.srv.Draining() {
			t.Fatal("not draining after Drain")
		}
		_, resp, err := e.dial("a1", "tv1", nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != protocol.ProblemContentType {
			t.Fatalf("dial while draining: %v %v", resp, err)
		}
		req, _ := http.NewRequest(http.MethodGet, e.hs.URL+"/v1/events", nil)
		req.Header.Set("Authorization", "Bearer "+e.token(t, "a1", "tv1"))
		sse, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		sse.Body.Close()
		if sse.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("SSE while draining: %s", sse.Status)
		}
		if got := e.metric(t, "herald_edge_connections_refused_total", "reason", "draining"); got != 2 {
			t.Fatalf("refused{draining} = %v, want 2", got)
		}
	})

	t.Run("devices that ignore reconnect are closed with 1001 after the grace", func(t *testing.T) {
		e := mustEdge(t, short)
		devs := e.mustDialMany(t, 20, false)
		events := e.mustEvents(t, "sse", "tv1")
		nextEvent(t, events, true) // the welcome
		if err := e.srv.Drain(context.Background(), 100*time.Millisecond); err != nil {
			t.Fatal(err)
		}
		for i, d := range devs {
			<-d.done
			if d.reason != protocol.ReasonDrain || d.code != CloseGoingAway {
				t.Fatalf("device %d: reconnect %q, closed with %v", i, d.reason, d.code)
			}
		}
		f, err := protocol.Decode([]byte(nextEvent(t, events, true).data))
		if r, ok := f.(*protocol.Reconnect); err != nil || !ok || r.Reason != protocol.ReasonDrain {
			t.Fatalf("SSE event %#v: %v, want a reconnect", f, err)
		}
		for range events { // the stream ends
		}
		if got := e.metric(t, "herald_edge_disconnects_total", "reason", "drain", "code", "1001"); got != 21 {
			t.Fatalf("disconnects{drain,1001} = %v, want 21", got)
		}
	})

	t.Run("a drain ends with ctx", func(t *testing.T) {
		e := mustEdge(t, func(c *Config) { c.ReconnectGrace = time.Hour })
		e.mustDialMany(t, 3, false)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if err := e.srv.Drain(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("drain: %v, want the context's error", err)
		}
		// Shutdown still closes what the drain left.
		sctx, scancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer scancel()
		if err := e.srv.Shutdown(sctx); err != nil {
			t.Fatal(err)
		}
		// The first device was due at once and counts as drained; the others were
		// never asked to reconnect and count as shut down.
		drained := e.metric(t, "herald_edge_disconnects_total", "reason", "drain", "code", "1001")
		shut := e.metric(t, "herald_edge_disconnects_total", "reason", "shutdown", "code", "1001")
		if drained != 1 || shut != 2 {
			t.Fatalf("disconnects{drain,1001} = %v, {shutdown,1001} = %v; want 1 and 2", drained, shut)
		}
	})

	t.Run("an idle edge drains at once and shuts down after", func(t *testing.T) {
		e := mustEdge(t, short)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.srv.Drain(ctx, time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
	})
}
