package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

const (
	clusterSecret = "cluster-test-token-secret-32-bytes-long"
	clusterKey    = "cluster-test-key-0123456789"
	clusterAPIKey = "backend:cluster-api-secret"
)

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// heraldBinary builds the herald binary once per test run.
func heraldBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "herald-bin-")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "herald")
		out, err := exec.Command("go", "build", "-o", builtBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return builtBin
}

// proc is a herald process of a test (testenv.Herald), with its listeners
// addresses under the names the tests here use.
type proc struct {
	*testenv.Herald
	addr  string // the public listener
	admin string // the admin listener, if any
}

// startProc runs `herald serve args...` and waits until it listens.
func startProc(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	return startCmd(t, name, "serve", args...)
}

// startCmd runs `herald command args...` (serve or dev) on free ports of
// 127.0.0.1, logging JSON at debug level, and waits until it listens; the
// process is stopped with SIGTERM when the test ends.
func startCmd(t *testing.T, name, command string, args ...string) *proc {
	t.Helper()
	h := testenv.StartHerald(t, heraldBinary(t), name, command, append([]string{"--log-level", "debug"}, args...)...)
	return &proc{Herald: h, addr: h.Addr, admin: h.Admin}
}

// clusterDevice is a raw WebSocket device of the cluster test.
type clusterDevice struct {
	c       *websocket.Conn
	welcome *protocol.Welcome
}

func dialDevice(t *testing.T, edgeAddr, account, device string) *clusterDevice {
	t.Helper()
	return dialDeviceQuery(t, edgeAddr, account, device, "")
}

// dialDeviceQuery is dialDevice with query (such as "after=SEQ", a stored
// message cursor) on the connect URL; "" adds none.
func dialDeviceQuery(t *testing.T, edgeAddr, account, device, query string) *clusterDevice {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(clusterSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(account, device, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	u := "ws://" + edgeAddr + "/v1/connect"
	if query != "" {
		u += "?" + query
	}
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatalf("dial %s: %v", edgeAddr, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	d := &clusterDevice{c: c}
	w, ok := d.next(t).(*protocol.Welcome)
	if !ok {
		t.Fatal("no welcome")
	}
	d.welcome = w
	return d
}

func (d *clusterDevice) next(t *testing.T) protocol.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, data, err := d.c.Read(ctx)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	f, err := protocol.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// closeCode reads until the connection ends and returns its close code.
func (d *clusterDevice) closeCode(t *testing.T) websocket.StatusCode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		if _, _, err := d.c.Read(ctx); err != nil {
			return websocket.CloseStatus(err)
		}
	}
}

// push sends a sync push through the API process and returns the one result.
func push(t *testing.T, apiAddr, account, device string) protocol.Result {
	t.Helper()
	// ttl 0, now or never: the tests here watch the live path, where a device
	// not connected is offline; TestClusterStoreAndForward the stored one.
	body := fmt.Sprintf(`{"to":{"account":%q,"device":%q},"type":"notification.v1","payload":{"title":"hi"},"timeout_ms":2000,"ttl":0}`, account, device)
	req, _ := http.NewRequest(http.MethodPost, "http://"+apiAddr+"/v1/push", strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.SplitN(clusterAPIKey, ":", 2)[1])
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("push took %v: it must never hang", took)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("push: %s %s", resp.Status, b)
	}
	var out struct{ Results []protocol.Result }
	if err := json.Unmarshal(b, &out); err != nil || len(out.Results) != 1 {
		t.Fatalf("push answer %s: %v", b, err)
	}
	return out.Results[0]
}

// eventuallyStatus pushes until the result has the wanted status.
func eventuallyStatus(t *testing.T, apiAddr, account, device string, want protocol.Status, bound time.Duration) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		r := push(t, apiAddr, account, device)
		if r.Status == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("push to %s/%s: %+v, still not %s after %v", account, device, r, want, bound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestCluster runs three edges and one API-only process as separate processes on
// one private Redis.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "cluster-test:", "--cluster-key", clusterKey,
		"--edge-ttl", "1s", "--heartbeat-interval", "200ms"}
	var edges []*proc
	for i := 1; i <= 3; i++ {
		edges = append(edges, startProc(t, fmt.Sprint("edge-", i), append([]string{"--roles=edge", "--edge-id", fmt.Sprint("edge-", i),
			"--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...))
	}
	api := startProc(t, "api", append([]string{"--roles=api", "--api-keys", clusterAPIKey}, common...)...)

	// A push through the API-only process reaches a device on edge 2.
	tv := dialDevice(t, edges[1].addr, "a1", "tv1")
	if r := push(t, api.addr, "a1", "tv1"); r.Status != protocol.StatusDelivered {
		t.Fatalf("push to edge 2: %+v", r)
	}
	if m, ok := tv.next(t).(*protocol.Msg); !ok || m.Type != "notification.v1" {
		t.Fatalf("tv got %#v", m)
	}
	// The API process exports its registry lookups and its link to edge 2.
	push(t, api.addr, "a1", "tv1")
	tv.next(t)
	metrics := scrape(t, api.admin)
	for _, want := range []string{`herald_link_up{edge="edge-2"} 1`, `herald_link_queue_depth{edge="edge-2"} 0`, "herald_registry_lookups_total 2", "herald_registry_cache_hits_total "} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("API metrics lack %q:\n%s", want, metrics)
		}
	}
	if m := scrape(t, edges[1].admin); !strings.Contains(m, "herald_edge_connections 1") {
		t.Fatalf("edge 2 metrics lack its connection:\n%s", m)
	}

	// The device reconnects to edge 3: the older connection is closed as replaced,
	// and pushes reach it there well before the lookup cache's TTL (a minute) could
	// have run out: the cached lookup was invalidated.
	moved := time.Now()
	tv3 := dialDevice(t, edges[2].addr, "a1", "tv1")
	if code := tv.closeCode(t); code != 4000 {
		t.Fatalf("the connection on edge 2 closed with %v, want 4000", code)
	}
	eventuallyStatus(t, api.addr, "a1", "tv1", protocol.StatusDelivered, 10*time.Second)
	if time.Since(moved) > 30*time.Second {
		t.Fatal("the move took as long as the cache TTL")
	}
	if m, ok := tv3.next(t).(*protocol.Msg); !ok || m.Type != "notification.v1" {
		t.Fatalf("tv on edge 3 got %#v", m)
	}

	// Two connections of one device race on two edges: exactly one lives.
	var wg sync.WaitGroup
	racers := make([]*clusterDevice, 2)
	for i, e := range []*proc{edges[0], edges[1]} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			racers[i] = dialDevice(t, e.addr, "a1", "phone1")
		}()
	}
	wg.Wait()
	// Each racer reports its close code, or the index of a racer that got a msg.
	type event struct {
		i    int
		code websocket.StatusCode
		msg  bool
	}
	events := make(chan event, 8)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i, r := range racers {
		go func() {
			for {
				_, data, err := r.c.Read(ctx)
				if err != nil {
					events <- event{i: i, code: websocket.CloseStatus(err)}
					return
				}
				if f, _ := protocol.Decode(data); f != nil && f.Kind() == protocol.KindMsg {
					events <- event{i: i, msg: true}
				}
			}
		}()
	}
	ev := <-events
	if ev.msg || ev.code != 4000 {
		t.Fatalf("first racer event %+v, want a close with 4000", ev)
	}
	loser := ev.i
	eventuallyStatus(t, api.addr, "a1", "phone1", protocol.StatusDelivered, 10*time.Second)
	if ev := <-events; !ev.msg || ev.i == loser {
		t.Fatalf("racer event %+v, want the survivor to get the push", ev)
	}

	// Edge 3 dies without a word: within the edge TTL its devices are offline
	// (these pushes have ttl 0: nothing is stored), and no push hangs meanwhile.
	edges[2].Kill()
	eventuallyStatus(t, api.addr, "a1", "tv1", protocol.StatusOffline, 10*time.Second)

	// Redis goes away and comes back empty: pushes fail fast meanwhile, then every
	// live connection is registered again and deliveries recover by themselves.
	tab := dialDevice(t, edges[0].addr, "a1", "tab1")
	rd.Stop()
	if r := push(t, api.addr, "a1", "tab1"); r.Status == protocol.StatusDelivered {
		t.Fatalf("push with Redis down: %+v", r)
	}
	rd.Start()
	eventuallyStatus(t, api.addr, "a1", "tab1", protocol.StatusDelivered, 15*time.Second)
	if m, ok := tab.next(t).(*protocol.Msg); !ok || m.Type != "notification.v1" {
		t.Fatalf("tab got %#v", m)
	}
}

// scrape returns the Prometheus metrics of an admin listener.
func scrape(t *testing.T, admin string) string {
	t.Helper()
	resp, err := http.Get("http://" + admin + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
