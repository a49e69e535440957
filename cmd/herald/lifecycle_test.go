package main

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// listenProc is a `herald listen` command running in the test's process.
type listenProc struct {
	out, errs *syncBuffer
	cancel    context.CancelFunc
	done      chan struct{} // closed when run returned
	code      int           // run's exit code, once done is closed
	once      sync.Once
}

// startListen runs `herald listen` for device a1/device against base, and stops
// it when the test ends.
func startListen(t *testing.T, base, device string, args ...string) *listenProc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	l := &listenProc{out: &syncBuffer{}, errs: &syncBuffer{}, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(l.done)
		l.code = run(ctx, append([]string{"listen", "--url", base, "--account", "a1", "--device", device}, args...), l.out, l.errs)
	}()
	t.Cleanup(func() { l.stop(t) })
	return l
}

// stop ends the listener and checks that it exits 0.
func (l *listenProc) stop(t *testing.T) {
	t.Helper()
	l.once.Do(func() {
		l.cancel()
		select {
		case <-l.done:
			if l.code != 0 {
				t.Errorf("listen exited with %d\nstderr: %s", l.code, l.errs)
			}
		case <-time.After(waitBound):
			t.Errorf("listen did not stop")
		}
	})
}

// running reports whether the listener is still running.
func (l *listenProc) running() bool {
	select {
	case <-l.done:
		return false
	default:
		return true
	}
}

// count counts the frames of kind that the listener printed and match accepts
// (nil: all).
func (l *listenProc) count(kind protocol.Kind, match func(protocol.Frame) bool) int {
	n := 0
	for _, f := range frames(l.out.String()) {
		if f.Kind() == kind && (match == nil || match(f)) {
			n++
		}
	}
	return n
}

// edgeConnections scrapes herald_edge_connections from an admin listener.
func edgeConnections(t *testing.T, admin string) int {
	t.Helper()
	for _, line := range strings.Split(scrape(t, admin), "\n") {
		if v, ok := strings.CutPrefix(line, "herald_edge_connections "); ok {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("herald_edge_connections %q", v)
			}
			return int(n)
		}
	}
	t.Fatal("no herald_edge_connections in /metrics")
	return -1
}

// waitConnections waits until herald_edge_connections is want.
func waitConnections(t *testing.T, admin string, want int) {
	t.Helper()
	last := -1
	deadline := time.Now().Add(waitBound)
	for {
		if last = edgeConnections(t, admin); last == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("herald_edge_connections is %d, want %d", last, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestMetricsCountConnections opens and closes `herald listen` devices on `herald
// dev` and checks /metrics on the admin listener: herald_edge_connections is the
// number open, after each open and each close.
func TestMetricsCountConnections(t *testing.T) {
	dev := mustDev(t)
	admin := dev.node.addr("admin")
	waitConnections(t, admin, 0)
	var ls []*listenProc
	for i := range 4 {
		l := startListen(t, dev.base, fmt.Sprint("tv", i))
		mustFrame(t, l.out, "the welcome", func(f protocol.Frame) bool { return f.Kind() == protocol.KindWelcome })
		ls = append(ls, l)
		waitConnections(t, admin, i+1)
	}
	for i, l := range ls {
		l.stop(t)
		waitConnections(t, admin, len(ls)-i-1)
	}
	m := scrape(t, admin)
	for _, want := range []string{"herald_edge_connects_total", "herald_edge_disconnects_total", "go_goroutines", "process_open_fds"} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestListenHonoursLifetime runs `herald dev` with one-second connection lifetimes:
// `herald listen` prints each reconnect frame (reason lifetime) and keeps
// listening on a new connection, without an error.
func TestListenHonoursLifetime(t *testing.T) {
	dev := mustDev(t, "--min-lifetime", "1s", "--max-lifetime", "1s", "--reconnect-grace", "5s")
	l := startListen(t, dev.base, "tv1", "-v")
	waitFor(t, "three connections", func() bool { return l.count(protocol.KindWelcome, nil) >= 3 })
	if !l.running() {
		t.Fatalf("listen exited after a reconnect frame\nstderr: %s", l.errs)
	}
	lifetime := func(f protocol.Frame) bool { return f.(*protocol.Reconnect).Reason == protocol.ReasonLifetime }
	if n, all := l.count(protocol.KindReconnect, lifetime), l.count(protocol.KindReconnect, nil); n < 2 || n != all {
		t.Errorf("%d reconnect frames with reason lifetime of %d, want at least 2, all lifetime:\n%s", n, all, l.out)
	}
	w := frames(l.out.String())[0].(*protocol.Welcome)
	if w.LifetimeMS != 1000 {
		t.Errorf("welcome lifetime_ms %d, want 1000", w.LifetimeMS)
	}
	if s := l.errs.String(); strings.Contains(s, "herald listen:") || strings.Contains(s, "level=WARN") || strings.Contains(s, "level=ERROR") {
		t.Errorf("listen -v reported errors:\n%s", s)
	}
	if !strings.Contains(l.errs.String(), "reconnecting as the server asked") {
		t.Errorf("listen -v does not log the reconnects:\n%s", l.errs)
	}
	// The device closed first each time (1000), before the edge would close it with 4002.
	m := scrape(t, dev.node.addr("admin"))
	if !strings.Contains(m, `herald_edge_disconnects_total{code="1000",reason="lifetime"}`) || strings.Contains(m, `code="4002"`) {
		t.Errorf("disconnects:\n%s", grepLines(m, "herald_edge_disconnects_total"))
	}
}

// TestDevDrainOnSIGTERM is the path of a new user: run `herald dev`, open
// listeners, read herald_edge_connections on /metrics, send SIGTERM. /readyz turns
// 503, each listener prints reconnect (drain) and keeps retrying without an error,
// and dev exits 0 within its drain window and grace.
func TestDevDrainOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	dev := startCmd(t, "dev", "dev", "--drain-window", "1s")
	base := "http://" + dev.addr
	var ls []*listenProc
	for i := range 3 {
		l := startListen(t, base, fmt.Sprint("tv", i))
		mustFrame(t, l.out, "the welcome", func(f protocol.Frame) bool { return f.Kind() == protocol.KindWelcome })
		ls = append(ls, l)
	}
	waitConnections(t, dev.admin, 3)
	stop := make(chan struct{})
	codes := watchReadyz(dev.admin, stop)
	if err := dev.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := dev.exitCode(t, 1*time.Second+settings.DefaultShutdownGrace+5*time.Second); code != 0 {
		t.Fatalf("dev exited with %d, want 0:\n%s", code, dev.Logs())
	}
	close(stop)
	if seen := <-codes; len(seen) < 2 || seen[0] != http.StatusOK || seen[1] != http.StatusServiceUnavailable {
		t.Errorf("/readyz answered %v, want 200, then 503 while draining", seen)
	}
	for i, l := range ls {
		mustFrame(t, l.out, "the reconnect frame", func(f protocol.Frame) bool {
			r, ok := f.(*protocol.Reconnect)
			return ok && r.Reason == protocol.ReasonDrain
		})
		if !l.running() {
			t.Errorf("listener %d exited when its edge drained", i)
		}
		if s := l.errs.String(); s != "" {
			t.Errorf("listener %d printed errors:\n%s", i, s)
		}
	}
}

// TestDevDrainEndpoint posts /drain to `herald dev`: serve returns nil once the
// drain is done, as after SIGTERM.
func TestDevDrainEndpoint(t *testing.T) {
	dev := mustDev(t, "--drain-window", "200ms")
	l := startListen(t, dev.base, "tv1")
	mustFrame(t, l.out, "the welcome", func(f protocol.Frame) bool { return f.Kind() == protocol.KindWelcome })
	resp, err := http.Post("http://"+dev.node.addr("admin")+"/drain", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /drain: %s", resp.Status)
	}
	select {
	case err := <-dev.done:
		if err != nil {
			t.Fatalf("serve = %v after POST /drain", err)
		}
		dev.done <- err // for the cleanup's stop
	case <-time.After(waitBound):
		t.Fatal("serve did not return after POST /drain")
	}
	mustFrame(t, l.out, "the reconnect frame", func(f protocol.Frame) bool {
		r, ok := f.(*protocol.Reconnect)
		return ok && r.Reason == protocol.ReasonDrain
	})
}
