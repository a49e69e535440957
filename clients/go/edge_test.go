package herald_test

import (
	"context"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
)

const edgeSecret = "sdk-test-token-secret-of-32-bytes!!"

// realEdge is an edge.Server on an httptest server, in memory.
type realEdge struct {
	srv     *edge.Server
	url     string
	metrics *prometheus.Registry
}

// mustEdge starts a real edge with cfg's lifetime settings (and verifier, when
// set) and stops it at the end of the test.
func mustEdge(t *testing.T, cfg edge.Config) *realEdge {
	t.Helper()
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(token.VerifierConfig{HS256: []token.HS256Key{{Secret: []byte(edgeSecret)}}})
	if err != nil {
		t.Fatal(err)
	}
	reg := registry.NewMemory()
	e := &realEdge{metrics: prometheus.NewRegistry()}
	if cfg.Verifier == nil {
		cfg.Verifier = v
	}
	cfg.ID, cfg.Registry, cfg.Types, cfg.Devices, cfg.Versions, cfg.Metrics = "edge-1", reg, types, devicelist.NewMemory(), reg, e.metrics
	if e.srv, err = edge.New(cfg); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(e.srv.Handler())
	e.url = hs.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), failAfterEdge)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("edge shutdown: %v", err)
		}
		hs.Close()
	})
	return e
}

// failAfterEdge bounds the waits of these tests; it only matters when one fails.
const failAfterEdge = 10 * time.Second

// disconnects returns herald_edge_disconnects_total{reason, code}.
func (e *realEdge) disconnects(t *testing.T, reason, code string) float64 {
	t.Helper()
	mfs, err := e.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "herald_edge_disconnects_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["reason"] == reason && labels["code"] == code {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// watched is a client whose frames and disconnect errors a test reads.
type watched struct {
	c *herald.Client

	mu         sync.Mutex
	welcomes   int      // guarded by mu
	reconnects []string // guarded by mu: the reasons of the reconnect frames
	errs       []error  // guarded by mu: what each StateDisconnected reported, nil for no error
	done       chan error
}

func startWatched(t *testing.T, url string) (*watched, context.CancelFunc) {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(edgeSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue("a1", "tv1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	w := &watched{done: make(chan error, 1)}
	w.c, err = herald.New(herald.Config{
		URL: url, Token: tok,
		MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
		OnFrame: func(f protocol.Frame) {
			w.mu.Lock()
			defer w.mu.Unlock()
			switch f := f.(type) {
			case *protocol.Welcome:
				w.welcomes++
			case *protocol.Reconnect:
				w.reconnects = append(w.reconnects, f.Reason)
			}
		},
		OnState: func(s herald.State, err error) {
			if s == herald.StateDisconnected {
				w.mu.Lock()
				w.errs = append(w.errs, err)
				w.mu.Unlock()
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { w.done <- w.c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-w.done; err != nil {
			t.Errorf("Run = %v", err)
		}
	})
	return w, cancel
}

// waitUntil polls cond until it holds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(failAfterEdge)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRealEdgeLifetime runs the client against a real edge whose connections
// live 300ms: at each lifetime's end the client gets reconnect (lifetime), closes
// with 1000 itself, well before the edge would close it with 4002, and
// reconnects without reporting an error.
func TestRealEdgeLifetime(t *testing.T) {
	e := mustEdge(t, edge.Config{MinLifetime: 300 * time.Millisecond, MaxLifetime: 300 * time.Millisecond, ReconnectGrace: 5 * time.Second})
	w, _ := startWatched(t, e.url)
	waitUntil(t, "three connections", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return w.welcomes >= 3
	})
	w.mu.Lock()
	reasons, errs := append([]string(nil), w.reconnects...), append([]error(nil), w.errs...)
	w.mu.Unlock()
	if len(reasons) < 2 {
		t.Fatalf("reconnect frames %v, want at least 2", reasons)
	}
	for _, r := range reasons {
		if r != protocol.ReasonLifetime {
			t.Errorf("reconnect reason %q, want %q", r, protocol.ReasonLifetime)
		}
	}
	for _, err := range errs {
		if err != nil {
			t.Errorf("a reconnect asked for by the edge reported an error: %v", err)
		}
	}
	waitUntil(t, "the edge to count the client's own closes", func() bool { return e.disconnects(t, "lifetime", "1000") >= 2 })
	if n := e.disconnects(t, "lifetime", "4002"); n != 0 {
		t.Errorf("the edge closed %v connections with 4002: the client did not close in time", n)
	}
}

// TestRealEdgeDrain drains a real edge: the client gets reconnect (drain), closes
// with 1000 without an error, and Drain returns once it has gone. The drained
// edge refuses the client's next attempts, which it retries.
func TestRealEdgeDrain(t *testing.T) {
	e := mustEdge(t, edge.Config{ReconnectGrace: 5 * time.Second})
	w, _ := startWatched(t, e.url)
	select {
	case <-w.c.Connected():
	case <-time.After(failAfterEdge):
		t.Fatal("not connected")
	}
	ctx, cancel := context.WithTimeout(context.Background(), failAfterEdge)
	defer cancel()
	start := time.Now()
	if err := e.srv.Drain(ctx, 100*time.Millisecond); err != nil {
		t.Fatalf("Drain = %v", err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("Drain took %v: the client did not close before the grace", took)
	}
	waitUntil(t, "the client's disconnect", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		return len(w.errs) > 0
	})
	w.mu.Lock()
	reasons, errs := append([]string(nil), w.reconnects...), append([]error(nil), w.errs...)
	w.mu.Unlock()
	if len(reasons) != 1 || reasons[0] != protocol.ReasonDrain {
		t.Errorf("reconnect frames %v, want one with reason drain", reasons)
	}
	// Later disconnects are the refused attempts to reconnect: errors, retried.
	if len(errs) == 0 || errs[0] != nil {
		t.Errorf("disconnects reported %v, want the first, asked for by the drain, without an error", errs)
	}
	if n := e.disconnects(t, "drain", "1000"); n != 1 {
		t.Errorf("herald_edge_disconnects_total{reason=drain,code=1000} = %v, want 1", n)
	}
}
