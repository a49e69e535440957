package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/bench/ceiling"
)

// smokeConfig is a tiny run of mode: a few devices, half a second.
func smokeConfig(mode, url string) Config {
	c := devConfig(mode, url)
	c.Devices, c.Fanout, c.Rate = 4, 2, 40
	c.Duration, c.Settle, c.Drain = 500*time.Millisecond, 0, 10*time.Second
	c.JSON = true
	return c
}

// runBench runs cfg and returns its output and error.
func runBench(ctx context.Context, cfg Config) (stdout, stderr string, err error) {
	var out, progress bytes.Buffer
	err = Run(ctx, cfg, &out, &progress)
	return out.String(), progress.String(), err
}

// mustBenchSummary runs cfg and decodes its one-line JSON summary.
func mustBenchSummary(t *testing.T, ctx context.Context, cfg Config) *summary {
	t.Helper()
	stdout, stderr, err := runBench(ctx, cfg)
	if err != nil {
		t.Fatalf("bench: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	out := strings.TrimSpace(stdout)
	if strings.Count(out, "\n") != 0 {
		t.Fatalf("bench --json printed more than one line:\n%s", out)
	}
	var s summary
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		t.Fatalf("bench --json printed %q: %v", out, err)
	}
	return &s
}

// checkBenchTarget checks what every run of mode must report: its devices
// connected, and for the message modes messages sent and delivered with
// their latencies. No timing is asserted.
func checkBenchTarget(t *testing.T, mode string, s *targetSummary) {
	t.Helper()
	checkBenchBatch(t, mode, 1, s)
}

// checkBenchBatch is checkBenchTarget for batches of batch messages a request.
func checkBenchBatch(t *testing.T, mode string, batch int64, s *targetSummary) {
	t.Helper()
	if s == nil {
		t.Fatal("no figures")
	}
	if s.Connected != 4 || s.ConnectErrors != 0 {
		t.Errorf("connected %d, %d errors (%s), want 4 and 0", s.Connected, s.ConnectErrors, s.FirstError)
	}
	if s.ConnectsPerSec <= 0 || s.ConnectLatency == nil || s.ConnectLatency.Count != 4 {
		t.Errorf("connects_per_sec %v, connect latency %+v", s.ConnectsPerSec, s.ConnectLatency)
	}
	if mode == "idle" || mode == "connect" {
		return
	}
	// Fanout runs accounts of two, the sender and one sibling: one delivery a msg.
	if s.Sent == 0 || s.SendErrors != 0 || s.Expected != s.Sent {
		t.Errorf("sent %d, %d errors, expected %d (%s)", s.Sent, s.SendErrors, s.Expected, s.FirstError)
	}
	if s.Delivered != s.Expected || s.DeliveredRatio != 1 {
		t.Errorf("delivered %d of %d (ratio %v; %s)", s.Delivered, s.Expected, s.DeliveredRatio, s.FirstError)
	}
	if s.Latency == nil || s.Latency.Count != s.Delivered || s.Latency.P50 <= 0 || s.Latency.Max < s.Latency.P99 {
		t.Errorf("latency %+v for %d deliveries", s.Latency, s.Delivered)
	} else if h, err := mergeHist(nil, s.Latency.Hist); err != nil || h == nil || h.TotalCount() != s.Delivered {
		t.Errorf("the latency histogram %q does not hold the %d deliveries (%v)", s.Latency.Hist, s.Delivered, err)
	}
	if s.SentPerSec <= 0 || s.DeliveredPerSec <= 0 {
		t.Errorf("sent_per_sec %v, delivered_per_sec %v", s.SentPerSec, s.DeliveredPerSec)
	}
	switch mode {
	case "push", "async":
		if s.ResponseLatency == nil || s.ResponseLatency.Count != (s.Sent+batch-1)/batch {
			t.Errorf("response latency %+v for %d requests", s.ResponseLatency, s.Sent)
		}
	case "d2d", "fanout":
		if s.Receipts != s.Sent || s.ReceiptLatency == nil || s.Statuses["delivered"] != s.Expected {
			t.Errorf("%d receipts for %d msgs, latency %+v, statuses %v", s.Receipts, s.Sent, s.ReceiptLatency, s.Statuses)
		}
	}
	if mode == "push" && s.Statuses["delivered"] != s.Sent {
		t.Errorf("push statuses %v for %d pushes", s.Statuses, s.Sent)
	}
}

// TestBenchModes runs each mode briefly, in-process, against herald dev and
// checks its JSON summary, the server figures read from /proc included.
func TestBenchModes(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			cfg := smokeConfig(mode, "http://"+dev.Addr)
			cfg.ServerPIDs = []int{dev.Pid()}
			s := mustBenchSummary(t, ctx, cfg)
			if s.Mode != mode || s.Devices != 4 || s.Procs != 1 || s.Ceiling != nil {
				t.Errorf("summary %+v", s)
			}
			checkBenchTarget(t, mode, s.Herald)
			if srv := s.Herald.Server; srv == nil || srv.RSSEndKiB <= 0 || len(srv.PIDs) != 1 {
				t.Errorf("server figures %+v", srv)
			}
		})
	}
}

// TestBenchConnectWarm runs a reconnect storm of known devices: the warm-up
// connections are not counted, and --warm is refused outside connect.
func TestBenchConnectWarm(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	cfg := smokeConfig("connect", "http://"+dev.Addr)
	cfg.Warm = true
	s := mustBenchSummary(t, ctx, cfg)
	checkBenchTarget(t, "connect", s.Herald)
	cfg.Mode = "push"
	var ue *UsageError
	if _, _, err := runBench(ctx, cfg); !errors.As(err, &ue) || !strings.Contains(err.Error(), "--warm is for connect only") {
		t.Errorf("push --warm: %v, want a UsageError about --warm", err)
	}
}

// TestBenchCeilingServer runs the message modes against the ceiling server's
// handler in this process.
func TestBenchCeilingServer(t *testing.T) {
	c := ceiling.New()
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.Close() // hijacked connections first: srv.Close does not end them
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	for _, mode := range modes {
		t.Run(mode, func(t *testing.T) {
			s := mustBenchSummary(t, ctx, smokeConfig(mode, srv.URL))
			checkBenchTarget(t, mode, s.Herald)
		})
	}
	t.Run("push batch", func(t *testing.T) {
		// A batch answer of 40 results is chunked: the bench's client reads both.
		cfg := smokeConfig("push", srv.URL)
		cfg.Batch, cfg.Rate = 40, 320
		s := mustBenchSummary(t, ctx, cfg)
		checkBenchBatch(t, "push", 40, s.Herald)
	})
	t.Run("async batch", func(t *testing.T) {
		cfg := smokeConfig("async", srv.URL)
		cfg.Batch, cfg.Rate = 40, 320
		s := mustBenchSummary(t, ctx, cfg)
		checkBenchBatch(t, "async", 40, s.Herald)
	})
}

// TestBenchPushBatch runs push with POST /v1/push/batch against herald dev.
func TestBenchPushBatch(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	if !hasBatchPush(ctx, workload{URL: "http://" + dev.Addr, Key: devAPIKey}) {
		t.Skip("herald has no POST /v1/push/batch")
	}
	cfg := smokeConfig("push", "http://"+dev.Addr)
	cfg.Batch = 3
	s := mustBenchSummary(t, ctx, cfg)
	checkBenchBatch(t, "push", 3, s.Herald)
}

// TestBenchAsyncBatch runs async with POST /v1/messages/batch against herald
// dev: every message accepted and delivered.
func TestBenchAsyncBatch(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	cfg := smokeConfig("async", "http://"+dev.Addr)
	cfg.Batch = 3
	s := mustBenchSummary(t, ctx, cfg)
	checkBenchBatch(t, "async", 3, s.Herald)
}

// TestBenchProcsAndCeiling runs workers in child processes of the built
// binary and a ceiling, against herald dev.
func TestBenchProcsAndCeiling(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dev := mustDev(t)
	bin := heraldBinary(t)
	for _, mode := range []string{"idle", "push", "d2d"} {
		t.Run(mode, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
			defer cancel()
			cfg := smokeConfig(mode, "http://"+dev.Addr)
			cfg.Procs, cfg.Ceiling, cfg.SourceAddrs, cfg.Binary = 2, true, []string{"127.0.0.1", "127.0.0.2"}, bin
			s := mustBenchSummary(t, ctx, cfg)
			if s.Procs != 2 {
				t.Errorf("procs %d, want 2", s.Procs)
			}
			checkBenchTarget(t, mode, s.Herald)
			checkBenchTarget(t, mode, s.Ceiling)
			if s.Ceiling.Server == nil || s.Ceiling.Server.RSSEndKiB <= 0 {
				t.Errorf("no server figures for the ceiling: %+v", s.Ceiling.Server)
			}
			if _, ok := s.Ratios["connected"]; !ok {
				t.Errorf("ratios %v lack connected", s.Ratios)
			}
		})
	}
}

// TestBenchAsyncKeys runs async with Keys against the ceiling server, one
// message a request and batches, and checks that every message came with an
// idempotency key of its own (the header, or idempotency_key in a batch),
// and that every message was still delivered; then against herald dev,
// whose API claims the keys.
func TestBenchAsyncKeys(t *testing.T) {
	c := ceiling.New()
	var mu sync.Mutex
	keys := map[string]int{}
	missing := 0
	note := func(k string) {
		mu.Lock()
		defer mu.Unlock()
		if k == "" {
			missing++
			return
		}
		keys[k]++
	}
	h := c.Handler()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/messages":
			note(r.Header.Get("Idempotency-Key"))
		case "/v1/messages/batch":
			body, _ := io.ReadAll(r.Body)
			var b struct {
				Messages []struct {
					Key string `json:"idempotency_key"`
				} `json:"messages"`
			}
			if err := json.Unmarshal(body, &b); err != nil {
				t.Errorf("a batch that is not JSON: %v: %s", err, body)
			}
			for _, m := range b.Messages {
				note(m.Key)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		h.ServeHTTP(w, r)
	}))
	defer srv.Close()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	for _, batch := range []int{1, 4} {
		t.Run(fmt.Sprintf("batch %d", batch), func(t *testing.T) {
			mu.Lock()
			clear(keys)
			missing = 0
			mu.Unlock()
			cfg := smokeConfig("async", srv.URL)
			cfg.Batch, cfg.Keys = batch, true
			s := mustBenchSummary(t, ctx, cfg)
			checkBenchBatch(t, "async", int64(batch), s.Herald)
			if !s.Keys {
				t.Error("the summary does not say the messages had keys")
			}
			mu.Lock()
			defer mu.Unlock()
			if missing > 0 || int64(len(keys)) != s.Herald.Sent {
				t.Fatalf("%d distinct keys and %d messages without one, for %d sent", len(keys), missing, s.Herald.Sent)
			}
			for k, n := range keys {
				if n > 1 {
					t.Fatalf("key %q sent %d times", k, n)
				}
			}
		})
	}
	t.Run("herald dev", func(t *testing.T) {
		dev := mustDev(t)
		cfg := smokeConfig("async", "http://"+dev.Addr)
		cfg.Batch, cfg.Keys = 3, true
		s := mustBenchSummary(t, ctx, cfg)
		checkBenchBatch(t, "async", 3, s.Herald)
	})
}
