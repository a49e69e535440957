package edge

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	rtmetrics "runtime/metrics"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/registry"
)

// The idle-connection harness (TestIdleMemory) is opt-in: it holds thousands of
// real connections and takes a minute or more. BENCHMARKS.md ("Idle connection
// memory") has the command lines and the figures.
var (
	idleConns   = flag.Int("idle.conns", 0, "TestIdleMemory: connections to hold (0 skips the test)")
	idleServer  = flag.String("idle.server", "edge", "TestIdleMemory: the server measured: edge, or bare (coder/websocket, one goroutine blocked in Read per connection, no pings)")
	idleHold    = flag.Duration("idle.hold", 0, "TestIdleMemory: how long to hold the connections idle after they are set up, measuring CPU and RSS")
	idlePing    = flag.Duration("idle.ping", 0, "TestIdleMemory: the edge's PingInterval (0: the default)")
	idleProfile = flag.String("idle.profile", "", "TestIdleMemory: write a heap profile with every allocation sampled to this file, and log the top allocation sites (slows the run; its RSS is not comparable)")
	idleCPUProf = flag.String("idle.cpuprofile", "", "TestIdleMemory: write a CPU profile of the server while the connections are held idle to this file")
	idleSetProf = flag.String("idle.setupprofile", "", "TestIdleMemory: write a CPU profile of the server while the connections are set up to this file")
	idleNoForce = flag.Bool("idle.noforce", false, "TestIdleMemory: never force a GC or return memory to the OS, to see what the runtime does by itself (no live row)")
	idlePark    = flag.Bool("idle.park", true, "TestIdleMemory: let idle connections park (false: a reader goroutine per connection, as on systems without epoll)")
	idleDialers = flag.Int("idle.dialers", 32, "TestIdleMemory: concurrent dials per client process")
	idlePerProc = flag.Int("idle.perproc", 15000, "TestIdleMemory: connections per client process (each holds one file per connection)")
	idleJSON    = flag.Bool("idle.json", false, "TestIdleMemory: print a one-line JSON summary on stdout")
)

// idleSample is one reading of the server process.
type idleSample struct {
	RSS        uint64 // VmRSS
	HeapInuse  uint64
	StackInuse uint64
	HeapAlloc  uint64
	Sys        uint64
	Goroutines int
	NumGC      uint32
}

func readIdleSample(tb testing.TB) idleSample {
	tb.Helper()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return idleSample{
		RSS:        vmRSS(tb),
		HeapInuse:  ms.HeapInuse,
		StackInuse: ms.StackInuse,
		HeapAlloc:  ms.HeapAlloc,
		Sys:        ms.Sys,
		Goroutines: runtime.NumGoroutine(),
		NumGC:      ms.NumGC,
	}
}

// vmRSS returns the process's resident set size from /proc/self/status.
func vmRSS(tb testing.TB) uint64 {
	tb.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		tb.Fatal(err)
	}
	for line := range strings.Lines(string(b)) {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				tb.Fatal(err)
			}
			return kb << 10
		}
	}
	tb.Fatal("no VmRSS in /proc/self/status")
	return 0
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime(tb testing.TB) time.Duration {
	tb.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// settle collects garbage twice (a stack shrinks by half at most once per
// cycle) and returns freed memory to the OS: the live floor.
func settle() {
	runtime.GC()
	runtime.GC()
	debug.FreeOSMemory()
}

// idleTarget is a server under measurement.
type idleTarget struct {
	url  string
	open func() int // connections the server holds
	stop func()
}

func startIdleEdge(tb testing.TB) *idleTarget {
	tb.Helper()
	v, err := token.NewVerifier(token.VerifierConfig{HS256: []token.HS256Key{{Secret: testSecret}}})
	if err != nil {
		tb.Fatal(err)
	}
	reg := registry.NewMemory()
	// Logs go nowhere, but through the JSON handler herald serve uses at its default
	// level, so that per-connection loggers cost what they cost in production.
	logger := slog.New(slog.NewJSONHandler(io.Discard, nil))
	srv, err := New(Config{ID: "edge-1", Verifier: v, Registry: reg, Types: mustTypes(tb), Devices: devicelist.NewMemory(), Versions: reg, PingInterval: *idlePing, Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	if !*idlePark && srv.poller != nil {
		srv.poller.Close() // before any connection: none will park
		srv.poller = nil
	}
	hs, url := serveIdle(tb, srv.Handler())
	return &idleTarget{
		url:  url + "/v1/connect",
		open: func() int { return srv.Stats().Connections },
		stop: func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				tb.Errorf("shutdown: %v", err)
			}
			_ = hs.Close()
		},
	}
}

// startIdleBare starts the reference: a bare coder/websocket server whose
// handler goroutine stays blocked in Read, no pings, nothing else.
func startIdleBare(tb testing.TB) *idleTarget {
	tb.Helper()
	var (
		wg   sync.WaitGroup
		open atomic.Int64
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		wg.Add(1)
		defer wg.Done()
		open.Add(1)
		defer open.Add(-1)
		for {
			if _, _, err := c.Read(context.Background()); err != nil {
				_ = c.CloseNow()
				return
			}
		}
	})
	hs, url := serveIdle(tb, h)
	return &idleTarget{
		url:  url,
		open: func() int { return int(open.Load()) },
		stop: func() {
			_ = hs.Close()
			wg.Wait()
		},
	}
}

// serveIdle serves h on a loopback port the way cmd/herald serves the edge.
func serveIdle(tb testing.TB, h http.Handler) (*http.Server, string) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	return hs, "ws://" + ln.Addr().String()
}

// TestIdleMemory measures what an idle WebSocket connection costs the server:
// RSS, heap, goroutine stacks and goroutines per connection, the rate at which
// connections are set up, and (with -idle.hold) the CPU the server spends while
// they sit idle with pings on. The clients run in separate processes (this test
// binary, re-run as TestIdleClient), so the figures are the server's alone.
//
//	go test -run '^TestIdleMemory$' -v -idle.conns=15000 -idle.hold=65s ./edge/
//	go test -run '^TestIdleMemory$' -v -idle.conns=15000 -idle.server=bare ./edge/
func TestIdleMemory(t *testing.T) {
	if *idleConns <= 0 {
		t.Skip("opt-in: -idle.conns=N (see BENCHMARKS.md, Idle connection memory)")
	}
	if *idleProfile != "" {
		runtime.MemProfileRate = 1
	}
	r := idleResult{n: *idleConns}
	var target *idleTarget
	switch *idleServer {
	case "edge":
		target = startIdleEdge(t)
	case "bare":
		target = startIdleBare(t)
	default:
		t.Fatalf("-idle.server=%q: want edge or bare", *idleServer)
	}
	stopped := false
	defer func() {
		if !stopped {
			target.stop()
		}
	}()

	settle()
	r.before = readIdleSample(t)
	clients := r.setUp(t, target)
	time.Sleep(2 * time.Second)
	r.setup = readIdleSample(t)
	if !*idleNoForce {
		settle()
	}
	r.live = readIdleSample(t)
	if *idleProfile != "" {
		runtime.GC() // a heap profile is as of the last GC
		writeHeapProfile(t, *idleProfile)
	}
	if *idleHold > 0 {
		r.hold(t, target)
	}
	if *idleProfile != "" {
		settle()
		logIdleProfile(t, r.n)
	}
	r.log(t)

	for _, c := range clients {
		_ = c.stdin.Close()
	}
	for _, c := range clients {
		_ = c.cmd.Wait()
	}
	target.stop()
	stopped = true
}

// idleResult is what TestIdleMemory measures.
type idleResult struct {
	n                         int
	before, setup, live, held idleSample
	setupSeconds              float64       // first dial to last welcome, the slowest client process
	setupCPU                  time.Duration // the server's CPU while the connections were set up
	clientCPU                 float64       // the client processes' CPU seconds until then
	peakRSS                   uint64        // while held
	cpuShare                  float64       // of one core, while held
}

// setUp has the client processes open the connections and waits until the
// server holds them all.
func (r *idleResult) setUp(t *testing.T, target *idleTarget) []*idleClient {
	t.Helper()
	if *idleSetProf != "" {
		stop := startCPUProfile(t, *idleSetProf)
		defer stop()
	}
	cpu0 := cpuTime(t)
	clients, reports := startIdleClients(t, target.url, r.n, *idleServer == "edge")
	for _, rep := range reports {
		if rep.Err != "" || rep.Failed > 0 {
			t.Fatalf("client: %d connected, %d failed: %s", rep.Connected, rep.Failed, rep.Err)
		}
		r.setupSeconds = max(r.setupSeconds, rep.Seconds)
		r.clientCPU += rep.CPU
	}
	eventually(t, "every connection held", func() bool { return target.open() == r.n })
	r.setupCPU = cpuTime(t) - cpu0
	return clients
}

// hold keeps the connections idle for -idle.hold, sampling RSS every second and
// measuring the server's CPU.
func (r *idleResult) hold(t *testing.T, target *idleTarget) {
	t.Helper()
	stopProfile := func() {}
	if *idleCPUProf != "" {
		stopProfile = startCPUProfile(t, *idleCPUProf)
		defer stopProfile()
	}
	c0, t0 := cpuTime(t), time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for time.Since(t0) < *idleHold {
		<-tick.C
		r.peakRSS = max(r.peakRSS, vmRSS(t))
		if got := target.open(); got != r.n {
			t.Fatalf("%d of %d connections left while idle", got, r.n)
		}
	}
	cpu := cpuTime(t) - c0
	stopProfile()
	r.held = readIdleSample(t)
	r.cpuShare = cpu.Seconds() / time.Since(t0).Seconds()
	if *idleProfile != "" {
		// Compare: go tool pprof -sample_index=alloc_space -base P P.held
		runtime.GC()
		writeHeapProfile(t, *idleProfile+".held")
	}
}

// kib returns the growth from b to a, in KiB per connection.
func (r *idleResult) kib(a, b uint64) float64 {
	return (float64(a) - float64(b)) / float64(r.n) / 1024
}

// log logs the figures and, with -idle.json, prints them as one JSON line.
func (r *idleResult) log(t *testing.T) {
	t.Helper()
	n := float64(r.n)
	t.Logf("%s: %d connections, set up at %.0f/s (%.2f s); CPU per connection set up: server %.0f µs, clients %.0f µs",
		*idleServer, r.n, n/r.setupSeconds, r.setupSeconds, r.setupCPU.Seconds()/n*1e6, r.clientCPU/n*1e6)
	t.Logf("%-34s %9s %9s %9s %9s %6s", "per connection, KiB", "RSS", "heap", "stacks", "heap+stk", "gor.")
	row := func(name string, s idleSample) {
		b := r.before
		t.Logf("%-34s %9.2f %9.2f %9.2f %9.2f %6.2f", name, r.kib(s.RSS, b.RSS), r.kib(s.HeapInuse, b.HeapInuse),
			r.kib(s.StackInuse, b.StackInuse), r.kib(s.HeapInuse+s.StackInuse, b.HeapInuse+b.StackInuse),
			float64(s.Goroutines-b.Goroutines)/n)
	}
	row("after setup (no forced GC)", r.setup)
	if !*idleNoForce {
		row("live (2 GCs, memory freed to OS)", r.live)
	}
	if *idleHold > 0 {
		row(fmt.Sprintf("after %v idle (no forced GC)", *idleHold), r.held)
		t.Logf("peak RSS while idle: %.2f KiB per connection; %d GCs while idle", r.kib(r.peakRSS, r.before.RSS), r.held.NumGC-r.live.NumGC)
		t.Logf("idle CPU: %.2f %% of one core", 100*r.cpuShare)
	}
	t.Logf("goroutine starting stack size: %d B", startingStack())
	if !*idleJSON {
		return
	}
	sum := map[string]any{
		"server": *idleServer, "conns": r.n, "setup_per_s": n / r.setupSeconds, "gomaxprocs": runtime.GOMAXPROCS(0),
		"setup_server_cpu_us": r.setupCPU.Seconds() / n * 1e6, "setup_client_cpu_us": r.clientCPU / n * 1e6,
		"rss_kib_per_conn_setup": r.kib(r.setup.RSS, r.before.RSS), "rss_kib_per_conn_live": r.kib(r.live.RSS, r.before.RSS),
		"heap_kib_per_conn": r.kib(r.live.HeapInuse, r.before.HeapInuse), "stack_kib_per_conn": r.kib(r.live.StackInuse, r.before.StackInuse),
		"goroutines_per_conn": float64(r.live.Goroutines-r.before.Goroutines) / n,
	}
	if *idleHold > 0 {
		sum["hold_s"] = idleHold.Seconds()
		sum["rss_kib_per_conn_held"] = r.kib(r.held.RSS, r.before.RSS)
		sum["rss_kib_per_conn_peak"] = r.kib(r.peakRSS, r.before.RSS)
		sum["idle_cpu_pct"] = 100 * r.cpuShare
	}
	b, _ := json.Marshal(sum)
	fmt.Println(string(b))
}

// startCPUProfile starts a CPU profile written to path; the returned function
// stops it (again, harmlessly) and closes the file.
func startCPUProfile(t *testing.T, path string) func() {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		t.Fatal(err)
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}
}

// startingStack reads the size new goroutines' stacks start at (Go sizes it from
// the average stack in use at the last GC).
func startingStack() uint64 {
	s := []rtmetrics.Sample{{Name: "/gc/stack/starting-size:bytes"}}
	rtmetrics.Read(s)
	if s[0].Value.Kind() != rtmetrics.KindUint64 {
		return 0
	}
	return s[0].Value.Uint64()
}

// writeHeapProfile writes the heap profile to path.
func writeHeapProfile(t *testing.T, path string) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := pprof.Lookup("heap").WriteTo(f, 0); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// logIdleProfile logs the allocation sites holding the most bytes, per
// connection.
func logIdleProfile(t *testing.T, n int) {
	t.Helper()
	recs := make([]runtime.MemProfileRecord, 4096)
	k, ok := runtime.MemProfile(recs, false)
	if !ok {
		recs = make([]runtime.MemProfileRecord, k+1024)
		k, _ = runtime.MemProfile(recs, false)
	}
	sites := map[string]int64{}
	objs := map[string]int64{}
	for _, r := range recs[:k] {
		if r.InUseBytes() == 0 {
			continue
		}
		site := allocSite(r.Stack())
		sites[site] += r.InUseBytes()
		objs[site] += r.InUseObjects()
	}
	keys := make([]string, 0, len(sites))
	for s := range sites {
		keys = append(keys, s)
	}
	slices.SortFunc(keys, func(a, b string) int { return int(sites[b] - sites[a]) })
	t.Logf("heap in use by allocation site (every allocation sampled), bytes per connection:")
	for _, s := range keys[:min(len(keys), 30)] {
		t.Logf("%8.1f B  %6.2f obj  %s", float64(sites[s])/float64(n), float64(objs[s])/float64(n), s)
	}
}

// allocSite names an allocation by its first two frames outside the runtime and
// the standard library's containers.
func allocSite(stk []uintptr) string {
	frames := runtime.CallersFrames(stk)
	var parts []string
	for {
		fr, more := frames.Next()
		fn := fr.Function
		if fn != "" && !strings.HasPrefix(fn, "runtime.") && !strings.HasPrefix(fn, "internal/") && !strings.HasPrefix(fn, "sync.") {
			parts = append(parts, strings.TrimPrefix(strings.TrimPrefix(fn, "github.com/"), "heraldpush/herald/"))
			if len(parts) == 3 {
				break
			}
		} else if fn == "runtime.malg" || fn == "runtime.newproc1" {
			parts = append(parts, strings.TrimPrefix(fn, "runtime."))
		}
		if !more {
			break
		}
	}
	if len(parts) == 0 {
		return "?"
	}
	return strings.Join(parts, " < ")
}
