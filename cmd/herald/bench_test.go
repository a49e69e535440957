package main

import (
	"bufio"
	"context"
	"encoding/json"
	"math"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// benchSmokeArgs is a tiny run of mode: a few devices, half a second.
func benchSmokeArgs(mode, url string) []string {
	return []string{"bench", mode, "--url", url, "--devices", "4", "--fanout", "2", "--rate", "40",
		"--duration", "500ms", "--settle", "0s", "--drain", "10s", "--json"}
}

// mustBenchSummary decodes the one-line JSON summary of a bench run.
func mustBenchSummary(t *testing.T, r result) *benchSummary {
	t.Helper()
	if r.code != 0 {
		t.Fatalf("bench: exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	out := strings.TrimSpace(r.stdout)
	if strings.Count(out, "\n") != 0 {
		t.Fatalf("bench --json printed more than one line:\n%s", out)
	}
	var s benchSummary
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

// TestBenchModes runs each mode briefly, in-process, against an in-process
// herald dev and checks its JSON summary, the server figures read from /proc
// included.
func TestBenchModes(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	for _, mode := range benchModes {
		t.Run(mode, func(t *testing.T) {
			args := append(benchSmokeArgs(mode, dev.base), "--server-pid", strconv.Itoa(os.Getpid()))
			s := mustBenchSummary(t, runCmd(t, ctx, args...))
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
	s := mustBenchSummary(t, runCmd(t, ctx, append(benchSmokeArgs("connect", dev.base), "--warm")...))
	checkBenchTarget(t, "connect", s.Herald)
	if r := runCmd(t, ctx, append(benchSmokeArgs("push", dev.base), "--warm")...); r.code != 2 || !strings.Contains(r.stderr, "--warm is for connect only") {
		t.Errorf("push --warm: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestBenchCeilingServer runs the message modes against the ceiling server's
// handler in this process.
func TestBenchCeilingServer(t *testing.T) {
	c := newCeiling()
	srv := httptest.NewServer(c.handler())
	defer srv.Close()
	defer c.close() // hijacked connections first: srv.Close does not end them
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	for _, mode := range benchModes {
		t.Run(mode, func(t *testing.T) {
			s := mustBenchSummary(t, runCmd(t, ctx, benchSmokeArgs(mode, srv.URL)...))
			checkBenchTarget(t, mode, s.Herald)
		})
	}
	t.Run("push batch", func(t *testing.T) {
		// A batch answer of 40 results is chunked: the bench's client reads both.
		s := mustBenchSummary(t, runCmd(t, ctx, append(benchSmokeArgs("push", srv.URL), "--batch", "40", "--rate", "320")...))
		checkBenchBatch(t, "push", 40, s.Herald)
	})
}

// TestBenchPushBatch runs push with POST /v1/push/batch against herald dev.
func TestBenchPushBatch(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	if !hasBatchPush(ctx, benchConfig{URL: dev.base, Key: devAPIKey}) {
		t.Skip("herald has no POST /v1/push/batch")
	}
	s := mustBenchSummary(t, runCmd(t, ctx, append(benchSmokeArgs("push", dev.base), "--batch", "3")...))
	checkBenchBatch(t, "push", 3, s.Herald)
}

// TestBenchProcsAndCeiling runs the built binary with workers in child
// processes and a ceiling, against herald dev in this process.
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
			args := append(benchSmokeArgs(mode, dev.base), "--procs", "2", "--ceiling", "--source-addrs", "127.0.0.1,127.0.0.2")
			cmd := exec.CommandContext(ctx, bin, args...)
			var stdout, stderr syncBuffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			code := 0
			if err := cmd.Run(); err != nil {
				code = -1
				if ee, ok := err.(*exec.ExitError); ok {
					code = ee.ExitCode()
				}
			}
			s := mustBenchSummary(t, result{code: code, stdout: stdout.String(), stderr: stderr.String()})
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

func TestBenchUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no mode", []string{"bench"}, "a mode is required"},
		{"unknown mode", []string{"bench", "storm"}, `unknown mode "storm"`},
		{"odd d2d devices", []string{"bench", "d2d", "--devices", "3"}, "even"},
		{"fanout devices", []string{"bench", "fanout", "--devices", "15", "--fanout", "10"}, "multiple of --fanout"},
		{"too many per process", []string{"bench", "idle", "--devices", "40000"}, "raise --procs"},
		{"batch outside push", []string{"bench", "async", "--batch", "10"}, "push only"},
		{"bad source address", []string{"bench", "idle", "--source-addrs", "localhost"}, "not an IP address"},
		{"bad pid", []string{"bench", "idle", "--server-pid", "x"}, "--server-pid"},
		{"soak without admin", []string{"bench", "soak", "--server-pid", "1"}, "--admin-url is required"},
		{"soak without pid", []string{"bench", "soak", "--admin-url", "http://127.0.0.1:1"}, "--server-pid is required"},
		{"soak odd devices", []string{"bench", "soak", "--admin-url", "http://127.0.0.1:1", "--server-pid", "1", "--devices", "3"}, "even"},
		{"soak churn", []string{"bench", "soak", "--admin-url", "http://127.0.0.1:1", "--server-pid", "1", "--churn", "2"}, "--churn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, context.Background(), tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit code %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.stderr)
			}
		})
	}
}

func TestReadRawResponse(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		status int
		body   string
		keep   bool
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", 200, "hello", true},
		{"chunked", "HTTP/1.1 202 Accepted\r\ntransfer-encoding: chunked\r\n\r\n3;x=1\r\nhel\r\n2\r\nlo\r\n0\r\n\r\n", 202, "hello", true},
		{"connection close", "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 2\r\n\r\nno", 503, "no", false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", 200, "", false},
		{"to the end", "HTTP/1.1 200 OK\r\n\r\nrest", 200, "rest", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, keep, err := readRawResponse(bufio.NewReader(strings.NewReader(tt.in)))
			if err != nil || status != tt.status || string(body) != tt.body || keep != tt.keep {
				t.Errorf("got %d %q keep %v, %v; want %d %q keep %v", status, body, keep, err, tt.status, tt.body, tt.keep)
			}
		})
	}
	for _, bad := range []string{"", "SPDY/3 200 OK\r\n\r\n", "HTTP/1.1 2xx OK\r\n\r\n", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nshort"} {
		if _, _, _, err := readRawResponse(bufio.NewReader(strings.NewReader(bad))); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// TestBenchSoak runs a short soak against an in-process herald dev and checks
// that the samples and every figure of the summary are there. No timing is
// asserted: the verdict on the series is not, only that each has one.
func TestBenchSoak(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	r := runCmd(t, ctx, "bench", "soak", "--url", dev.base, "--admin-url", "http://"+dev.node.addr("admin"),
		"--server-pid", strconv.Itoa(os.Getpid()), "--devices", "4", "--rate", "40", "--duration", "3s",
		"--sample", "500ms", "--churn", "0.5", "--drain", "10s", "--json")
	if r.code != 0 {
		t.Fatalf("bench soak: exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	var s soakSummary
	if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &s); err != nil {
		t.Fatalf("bench soak --json printed %q: %v", r.stdout, err)
	}
	if s.Mode != "soak" || s.Devices != 4 || s.Rate != 40 || s.Duration != "3s" || s.Sample != "500ms" {
		t.Errorf("summary header %+v", s)
	}
	// The first sample is taken before the load and the last after the drain.
	if len(s.Samples) < 2 {
		t.Fatalf("%d samples, want at least 2", len(s.Samples))
	}
	for i, x := range s.Samples {
		if x.Goroutines <= 0 || x.HeapInuseBytes <= 0 || x.RSSKiB <= 0 {
			t.Errorf("sample %d lacks a server figure: %+v", i, x)
		}
		if i > 0 && x.AtSeconds < s.Samples[i-1].AtSeconds {
			t.Errorf("sample %d at %vs comes before sample %d at %vs", i, x.AtSeconds, i-1, s.Samples[i-1].AtSeconds)
		}
	}
	last := s.Samples[len(s.Samples)-1]
	if !last.AfterLoad || last.Sent != s.Sent || last.Delivered != s.Delivered {
		t.Errorf("last sample %+v, summary sent %d delivered %d", last, s.Sent, s.Delivered)
	}
	var names []string
	for _, se := range s.Series {
		names = append(names, se.Name)
		if se.Samples < 2 || se.Mean <= 0 {
			t.Errorf("series %+v: fitted on fewer than 2 samples", se)
		}
	}
	if got := strings.Join(names, ","); got != "goroutines,heap_inuse_mib,rss_mib" {
		t.Errorf("series %s", got)
	}
	if s.Sent == 0 || s.Pushes == 0 || s.D2D == 0 || s.Pushes+s.D2D != s.Sent {
		t.Errorf("sent %d: %d pushes, %d d2d", s.Sent, s.Pushes, s.D2D)
	}
	if s.Lost != 0 || s.Unresolved != 0 || s.Delivered != s.Accepted || s.Accepted == 0 {
		t.Errorf("accepted %d, delivered %d, lost %d, unresolved %d (%s)", s.Accepted, s.Delivered, s.Lost, s.Unresolved, s.FirstError)
	}
	if s.Reconnects == 0 || s.ConnectErrors != 0 || s.Disconnects != 0 {
		t.Errorf("reconnects %d, connect errors %d, disconnects %d (%s)", s.Reconnects, s.ConnectErrors, s.Disconnects, s.FirstError)
	}
}

// TestSoakFit checks the line fitted to a series: the second half only, the
// growth as a share of the mean, and unread figures left out.
func TestSoakFit(t *testing.T) {
	at := func(sec float64, g float64) soakSample { return soakSample{AtSeconds: sec, Goroutines: g} }
	value := func(x soakSample) float64 { return x.Goroutines }
	tests := []struct {
		name    string
		samples []soakSample
		growth  float64
		flat    bool
		n       int
	}{
		{"flat after a warm-up", []soakSample{at(0, 10), at(10, 500), at(20, 100), at(30, 100), at(40, 100)}, 0, true, 3},
		{"growing", []soakSample{at(0, 100), at(10, 100), at(20, 100), at(30, 110), at(40, 120)}, 100 * 20.0 / 110, false, 3},
		{"falling is no growth", []soakSample{at(0, 100), at(10, 100), at(20, 100), at(30, 90), at(40, 80)}, -100 * 20.0 / 90, true, 3},
		{"unread left out", []soakSample{at(0, 1), at(20, 100), at(30, -1), at(40, 100)}, 0, true, 2},
		{"too few", []soakSample{at(0, 1), at(40, 100)}, 0, false, 1},
		{"after the load left out", []soakSample{at(0, 1), at(20, 100), at(30, 100), at(40, 100), {AtSeconds: 45, Goroutines: 10, AfterLoad: true}}, 0, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			se := fitSeries("g", tt.samples, value, 0.05)
			if se.Samples != tt.n || se.Flat != tt.flat || math.Abs(se.GrowthPercent-tt.growth) > 1e-9 {
				t.Errorf("got %+v, want %d samples, growth %v%%, flat %v", se, tt.n, tt.growth, tt.flat)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	in := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_goroutines_total{a=\"b\"} 7\ngo_memstats_heap_inuse_bytes 1.5e+06\n"
	v, err := parseMetrics(strings.NewReader(in), "go_goroutines", "go_memstats_heap_inuse_bytes")
	if err != nil || v[0] != 42 || v[1] != 1.5e6 {
		t.Errorf("got %v, %v", v, err)
	}
	if _, err := parseMetrics(strings.NewReader(in), "go_threads"); err == nil {
		t.Error("a missing metric: no error")
	}
}
