package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/rueidis"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/scripts/testenv"
)

// drainPrefix is the Redis prefix of the drain tests.
const drainPrefix = "drain-test:"

// drainCluster starts count edges sharing a private Redis and Postgres, each with
// a drain window of one second unless extra says otherwise, and returns them with
// the Redis address.
func drainCluster(t *testing.T, count int, extra ...string) ([]*proc, string) {
	t.Helper()
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	var edges []*proc
	for i := 1; i <= count; i++ {
		id := fmt.Sprint("edge-", i)
		args := []string{"--roles=edge", "--edge-id", id, "--internal-addr", "127.0.0.1:0",
			"--token-secret", clusterSecret, "--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", drainPrefix,
			"--cluster-key", clusterKey, "--edge-ttl", "2s", "--heartbeat-interval", "200ms",
			"--drain-window", "1s", "--shutdown-grace", "10s"}
		edges = append(edges, startProc(t, id, append(args, extra...)...))
	}
	return edges, rd.Addr
}

// exitCode waits for p to exit by itself and returns its exit code.
func (p *proc) exitCode(t *testing.T, bound time.Duration) int {
	t.Helper()
	code, ok := p.Wait(bound)
	if !ok {
		t.Fatalf("%s has not exited after %v", p.Name, bound)
	}
	return code
}

// readyz returns the status code of p's /readyz, 0 when it does not answer.
func readyz(admin string) int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + admin + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// watchReadyz polls /readyz of admin until stop is closed and returns the codes
// seen, in order, without repeats. The first is taken before it returns.
func watchReadyz(admin string, stop <-chan struct{}) <-chan []int {
	out := make(chan []int, 1)
	seen := []int{readyz(admin)}
	go func() {
		for {
			if c := readyz(admin); len(seen) == 0 || seen[len(seen)-1] != c {
				seen = append(seen, c)
			}
			select {
			case <-stop:
				out <- seen
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return out
}

// registrations returns the device records in Redis that name edge, and whether
// the edge's liveness key is still there.
func registrations(t *testing.T, redisAddr, edge string) (records []string, live bool) {
	t.Helper()
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{redisAddr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var cursor uint64
	for {
		e, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(drainPrefix+"dev:*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			t.Fatal(err)
		}
		for _, key := range e.Elements {
			v, err := client.Do(ctx, client.B().Get().Key(key).Build()).ToString()
			if err != nil {
				continue // expired meanwhile
			}
			if lines := strings.Split(v, "\n"); len(lines) >= 2 && lines[1] == edge {
				records = append(records, key)
			}
		}
		if cursor = e.Cursor; cursor == 0 {
			break
		}
	}
	n, err := client.Do(ctx, client.B().Exists().Key(drainPrefix+"edge:"+edge).Build()).AsInt64()
	if err != nil {
		t.Fatal(err)
	}
	return records, n > 0
}

// sdkDevice is a Go SDK client of the drain test, with the reconnect frames it got.
type sdkDevice struct {
	c    *herald.Client
	done chan error

	mu         sync.Mutex
	reconnects []string    // guarded by mu: reasons
	firstAt    time.Time   // guarded by mu: when the first reconnect arrived
	errs       []error     // guarded by mu: errors reported by OnState
	welcome    chan string // the edge of each welcome
}

// TestDrainOnSIGTERM drains an edge holding 50 SDK clients while a second edge is
// up, behind a "load balancer" that sends new connections to the first edge only
// while its /readyz answers 200: /readyz turns 503, every client gets reconnect
// (drain) within the drain window and ends up on the second edge, the first edge
// exits 0, and Redis keeps nothing of it.
func TestDrainOnSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	edges, redisAddr := drainCluster(t, 2)
	e1, e2 := edges[0], edges[1]
	lb := &http.Client{Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			target := e2.addr
			if readyz(e1.admin) == http.StatusOK {
				target = e1.addr
			}
			var d net.Dialer
			return d.DialContext(ctx, network, target)
		},
	}}
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(clusterSecret)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 50
	ctx, cancel := context.WithCancel(context.Background())
	devices := make([]*sdkDevice, n)
	for i := range devices {
		tok, err := iss.Issue("a1", fmt.Sprint("d", i), time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		d := &sdkDevice{done: make(chan error, 1), welcome: make(chan string, 16)}
		d.c, err = herald.New(herald.Config{
			URL: "http://load-balancer.invalid", Token: tok, HTTPClient: lb,
			MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
			OnFrame: func(f protocol.Frame) {
				switch f := f.(type) {
				case *protocol.Welcome:
					d.welcome <- f.Edge
				case *protocol.Reconnect:
					d.mu.Lock()
					if len(d.reconnects) == 0 {
						d.firstAt = time.Now()
					}
					d.reconnects = append(d.reconnects, f.Reason)
					d.mu.Unlock()
				}
			},
			OnState: func(s herald.State, err error) {
				d.mu.Lock()
				defer d.mu.Unlock()
				if err != nil {
					d.errs = append(d.errs, err)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		go func() { d.done <- d.c.Run(ctx) }()
		devices[i] = d
	}
	t.Cleanup(func() {
		cancel()
		for _, d := range devices {
			if err := <-d.done; err != nil {
				t.Errorf("Run = %v", err)
			}
		}
	})
	for i, d := range devices {
		if got := recvWithin(t, d.welcome, waitBound); got != "edge-1" {
			t.Fatalf("device %d connected to %s, want edge-1 (the load balancer's choice)", i, got)
		}
	}
	waitFor(t, "50 connections on edge 1", func() bool { return strings.Contains(scrape(t, e1.admin), "herald_edge_connections 50\n") })

	stop := make(chan struct{})
	codes := watchReadyz(e1.admin, stop)
	start := time.Now()
	if err := e1.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code := e1.exitCode(t, 1*time.Second+10*time.Second+5*time.Second)
	took := time.Since(start)
	close(stop)
	if code != 0 {
		t.Fatalf("edge 1 exited with %d, want 0", code)
	}
	if seen := <-codes; len(seen) < 2 || seen[0] != http.StatusOK || seen[1] != http.StatusServiceUnavailable {
		t.Errorf("/readyz of edge 1 answered %v, want 200, then 503 while it drained (then nothing)", seen)
	}
	t.Logf("edge 1 drained %d clients and exited in %v", n, took)

	var first, last time.Time
	for i, d := range devices {
		if got := recvWithin(t, d.welcome, waitBound); got != "edge-2" {
			t.Errorf("device %d reconnected to %s, want edge-2", i, got)
		}
		d.mu.Lock()
		if len(d.reconnects) != 1 || d.reconnects[0] != protocol.ReasonDrain {
			t.Errorf("device %d got reconnect frames %v, want one with reason drain", i, d.reconnects)
		}
		if first.IsZero() || d.firstAt.Before(first) {
			first = d.firstAt
		}
		if d.firstAt.After(last) {
			last = d.firstAt
		}
		for _, err := range d.errs {
			t.Errorf("device %d reported an error: %v", i, err)
		}
		d.mu.Unlock()
	}
	// The reconnects were spread over the window, not sent at once.
	if spread := last.Sub(first); spread < 500*time.Millisecond || spread > 3*time.Second {
		t.Errorf("reconnect frames arrived over %v, want about the drain window (1s)", spread)
	}
	if recs, live := registrations(t, redisAddr, "edge-1"); len(recs) > 0 || live {
		t.Errorf("Redis still holds %d registrations of edge-1 (%v), liveness key: %v", len(recs), recs, live)
	}
	reg, err := registry.NewRedis(registry.RedisConfig{Addrs: []string{redisAddr}, Prefix: drainPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Close()
	lctx, lcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer lcancel()
	for i := range n {
		e, err := reg.Lookup(lctx, "a1", fmt.Sprint("d", i))
		if err != nil || e.Edge != "edge-2" {
			t.Errorf("device d%d is registered at %+v (%v), want edge-2", i, e, err)
		}
	}
	if m := scrape(t, e2.admin); !strings.Contains(m, "herald_edge_connections 50\n") {
		t.Errorf("edge 2 does not count the 50 connections:\n%s", grepLines(m, "herald_edge_connections"))
	}
}

// TestDrainEndpoint drains an edge through POST /drain on its admin listener: its
// raw WebSocket devices get reconnect (drain) and close, /readyz turns 503, and the
// process exits 0 by itself with no registration left in Redis.
func TestDrainEndpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	edges, redisAddr := drainCluster(t, 1)
	e := edges[0]
	const n = 20
	devs := make([]*clusterDevice, n)
	for i := range devs {
		devs[i] = dialDevice(t, e.addr, "a1", fmt.Sprint("raw", i))
	}
	if recs, _ := registrations(t, redisAddr, "edge-1"); len(recs) != n {
		t.Fatalf("%d registrations before the drain, want %d", len(recs), n)
	}
	reasons := make(chan string, n)
	for _, d := range devs {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			for {
				_, data, err := d.c.Read(ctx)
				if err != nil {
					reasons <- "read: " + err.Error()
					return
				}
				if f, err := protocol.Decode(data); err == nil {
					if r, ok := f.(*protocol.Reconnect); ok {
						// A well-behaved device closes first, so TIME_WAIT stays on it.
						_ = d.c.Close(websocket.StatusNormalClosure, "reconnect")
						reasons <- r.Reason
						return
					}
				}
			}
		}()
	}
	resp, err := http.Post("http://"+e.admin+"/drain", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST /drain: %s", resp.Status)
	}
	if c := readyz(e.admin); c != http.StatusServiceUnavailable && c != 0 {
		t.Errorf("/readyz during the drain: %d, want 503", c)
	}
	for range n {
		if r := recvWithin(t, reasons, waitBound); r != protocol.ReasonDrain {
			t.Errorf("a device got %q, want a reconnect with reason drain", r)
		}
	}
	if code := e.exitCode(t, 15*time.Second); code != 0 {
		t.Fatalf("the edge exited with %d after POST /drain, want 0", code)
	}
	if recs, live := registrations(t, redisAddr, "edge-1"); len(recs) > 0 || live {
		t.Errorf("Redis still holds %d registrations of edge-1, liveness key: %v", len(recs), live)
	}
	if !strings.Contains(e.Logs(), `"why":"POST /drain"`) {
		t.Errorf("the log does not say why it shut down:\n%s", e.Logs())
	}
}

// TestDrainClosesStragglers drains an edge whose devices ignore reconnect: once
// the drain has had its window and the shutdown grace but its reserve (sooner than
// the reconnect grace here), the edge closes them with 1001 and exits 0 within
// the window plus the grace, with no registration left.
func TestDrainClosesStragglers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	edges, redisAddr := drainCluster(t, 1, "--drain-window", "500ms", "--reconnect-grace", "1m", "--shutdown-grace", "2s")
	e := edges[0]
	const n = 10
	type ending struct {
		reconnect string
		code      websocket.StatusCode
		at        time.Time
	}
	endings := make(chan ending, n)
	var devs []*clusterDevice
	for i := range n {
		devs = append(devs, dialDevice(t, e.addr, "a1", fmt.Sprint("stubborn", i)))
	}
	for _, d := range devs {
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			var end ending
			for {
				_, data, err := d.c.Read(ctx) // never closes by itself
				if err != nil {
					end.code, end.at = websocket.CloseStatus(err), time.Now()
					break
				}
				if f, err := protocol.Decode(data); err == nil {
					if r, ok := f.(*protocol.Reconnect); ok {
						end.reconnect = r.Reason
					}
				}
			}
			endings <- end
		}()
	}
	t0 := time.Now()
	if err := e.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := e.exitCode(t, 2500*time.Millisecond+5*time.Second); code != 0 {
		t.Fatalf("the edge exited with %d, want 0", code)
	}
	took := time.Since(t0)
	t.Logf("the edge exited %v after SIGTERM", took)
	if took > 2500*time.Millisecond+2*time.Second { // the bound, and slack for a busy machine
		t.Errorf("shutdown took %v, far beyond the drain window plus the shutdown grace (2.5s)", took)
	}
	for range n {
		end := recvWithin(t, endings, waitBound)
		if end.reconnect != protocol.ReasonDrain || end.code != websocket.StatusGoingAway {
			t.Errorf("a device got reconnect %q and close %v, want drain, then 1001", end.reconnect, end.code)
		}
		if after := end.at.Sub(t0); after < 1500*time.Millisecond {
			t.Errorf("a device was closed %v after SIGTERM, before the window and the grace but its reserve (2s)", after)
		}
	}
	if recs, live := registrations(t, redisAddr, "edge-1"); len(recs) > 0 || live {
		t.Errorf("Redis still holds %d registrations of edge-1, liveness key: %v", len(recs), live)
	}
}

// recvWithin receives from ch, failing the test after bound.
func recvWithin[T any](t *testing.T, ch <-chan T, bound time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(bound):
		var zero T
		t.Fatalf("nothing received after %v", bound)
		return zero
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
