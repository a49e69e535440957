package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

// addrBook is a static EdgeAddresser for tests.
type addrBook struct {
	mu    sync.Mutex
	addrs map[string]string
}

func (a *addrBook) EdgeAddr(_ context.Context, edge string) (string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	addr, ok := a.addrs[edge]
	if !ok {
		return "", registry.ErrNotFound
	}
	return addr, nil
}

const testClusterKey = "cluster-key-for-tests"

// clusterEdge is one edge of a test cluster, with its link listener and its links
// to the others.
type clusterEdge struct {
	*testEdge
	links  *Links
	router *Router
	linkHS *httptest.Server
}

// mustCluster starts n edges that share one registry and reach each other over
// links.
func mustCluster(t *testing.T, n int, mutate func(*Config)) ([]*clusterEdge, *addrBook) {
	t.Helper()
	return mustClusterTB(t, n, mutate)
}

// mustClusterTB is mustCluster for tests and benchmarks.
func mustClusterTB(t testing.TB, n int, mutate func(*Config)) ([]*clusterEdge, *addrBook) {
	t.Helper()
	reg := registry.NewMemory()
	devs := devicelist.NewMemory()
	book := &addrBook{addrs: map[string]string{}}
	var edges []*clusterEdge
	for i := range n {
		ce := &clusterEdge{}
		links, err := NewLinks(LinksConfig{Addresses: book, ClusterKey: testClusterKey, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		ce.links = links
		ce.router = &Router{Registry: reg, Links: links}
		ce.testEdge = mustEdge(t, func(c *Config) {
			c.ID = fmt.Sprintf("edge-%d", i+1)
			c.Registry, c.Versions, c.Devices = reg, reg, devs
			c.Locator, c.Presencer = reg, links
			c.Router = ce.router
			c.Replacer = links
			c.ClusterKeys = []string{"old-key", testClusterKey}
			if mutate != nil {
				mutate(c)
			}
		})
		ce.reg, ce.devs = reg, devs
		ce.router.Local = ce.srv
		// The edge's links and router trace as its config says (set before
		// either is used).
		ce.router.Tracer, links.cfg.Tracer = ce.srv.cfg.Tracer, ce.srv.cfg.Tracer
		ce.linkHS = httptest.NewServer(ce.srv.LinkHandler())
		book.mu.Lock()
		book.addrs[ce.srv.ID()] = ce.linkHS.URL
		book.mu.Unlock()
		t.Cleanup(func() {
			links.Close()
			ce.linkHS.Close()
		})
		edges = append(edges, ce)
	}
	return edges, book
}

func TestLinkDeviceToDevice(t *testing.T) {
	edges, _ := mustCluster(t, 2, nil)
	phone := edges[0].mustDial(t, "a1", "phone1")
	tv := edges[1].mustDial(t, "a1", "tv1")
	phone.send(&protocol.Msg{ID: "x1", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Ack: true,
		Payload: payload(map[string]any{"action": "pause"})})
	m := tv.readMsg()
	if m.ID != "x1" || m.From.Device != "phone1" || m.To != nil {
		t.Fatalf("tv got %+v", m)
	}
	if r := phone.readReceipt(); r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusDelivered}) {
		t.Fatalf("first receipt %+v", r)
	}
	tv.send(&protocol.Ack{ID: "x1"})
	if r := phone.readReceipt(); r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusAcked}) {
		t.Fatalf("second receipt %+v", r)
	}
	st := edges[0].links.Stats()
	if len(st) != 1 || st[0].Edge != "edge-2" || !st[0].Up {
		t.Fatalf("link stats %+v", st)
	}
}

func TestLinkRoutesPushes(t *testing.T) {
	edges, _ := mustCluster(t, 3, func(c *Config) { c.SendQueue = 1024 })
	tv := edges[1].mustDial(t, "a1", "tv1")
	// Many concurrent pushes from edge 1 share one link (and get batched).
	const n = 200
	var wg sync.WaitGroup
	results := make(chan protocol.Result, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			results <- edges[0].router.Deliver(ctx, "a1", "tv1", &protocol.Msg{ID: fmt.Sprint("p", i), Type: "tiny.echo.v1", Payload: payload(map[string]any{})}, nil)
		}()
	}
	seen := map[string]bool{}
	for range n {
		seen[tv.readMsg().ID] = true
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.Status != protocol.StatusDelivered || r.Device != "tv1" {
			t.Fatalf("result %+v", r)
		}
	}
	if len(seen) != n {
		t.Fatalf("tv got %d distinct messages, want %d", len(seen), n)
	}
	// A device that left between lookup and delivery is offline at its edge.
	if r := edges[0].links.Deliver(context.Background(), "edge-2", "a1", "gone", &protocol.Msg{ID: "g", Type: "tiny.echo.v1", Payload: payload(map[string]any{})}, nil); r.Status != protocol.StatusOffline || r.Device != "gone" {
		t.Fatalf("result %+v", r)
	}
}

func TestLinkAuthAndFailure(t *testing.T) {
	edges, book := mustCluster(t, 2, nil)
	edges[1].mustDial(t, "a1", "tv1")
	msg := func(id string) *protocol.Msg {
		return &protocol.Msg{ID: id, Type: "tiny.echo.v1", Payload: payload(map[string]any{})}
	}
	t.Run("a wrong cluster key is refused", func(t *testing.T) {
		bad, err := NewLinks(LinksConfig{Addresses: book, ClusterKey: "wrong"})
		if err != nil {
			t.Fatal(err)
		}
		defer bad.Close()
		r := bad.Deliver(context.Background(), "edge-2", "a1", "tv1", msg("k1"), nil)
		if r.Status != protocol.StatusRejected {
			t.Fatalf("result %+v", r)
		}
	})
	t.Run("an unknown edge is unavailable", func(t *testing.T) {
		r := edges[0].links.Deliver(context.Background(), "edge-9", "a1", "tv1", msg("k2"), nil)
		if r.Status != protocol.StatusRejected {
			t.Fatalf("result %+v", r)
		}
	})
	t.Run("a lost link fails its waiters and comes back", func(t *testing.T) {
		if r := edges[0].links.Deliver(context.Background(), "edge-2", "a1", "tv1", msg("k3"), nil); r.Status != protocol.StatusDelivered {
			t.Fatalf("result %+v", r)
		}
		// An ack that never comes keeps a delivery waiting on the link; cut it.
		res := make(chan protocol.Result, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			m := msg("k4")
			m.Ack = true
			res <- edges[0].links.Deliver(ctx, "edge-2", "a1", "tv1", m, nil)
		}()
		eventually(t, "a pending delivery", func() bool {
			for _, st := range edges[0].links.Stats() {
				if st.Edge == "edge-2" {
					return st.Pending == 1
				}
			}
			return false
		})
		edges[1].linkHS.CloseClientConnections()
		edges[1].srv.mu.Lock()
		for lc := range edges[1].srv.links {
			lc.Close()
		}
		edges[1].srv.mu.Unlock()
		if r := <-res; r.Status != protocol.StatusTimeout || r.Device != "tv1" {
			t.Fatalf("waiter on a lost link: %+v", r)
		}
		eventually(t, "the link to come back", func() bool {
			r := edges[0].links.Deliver(context.Background(), "edge-2", "a1", "tv1", msg(fmt.Sprint("k5-", time.Now().UnixNano())), nil)
			return r.Status == protocol.StatusDelivered
		})
	})
}

func TestTakeoverAcrossEdges(t *testing.T) {
	edges, _ := mustCluster(t, 2, nil)
	old := edges[0].mustDial(t, "a1", "tv1")
	newer := edges[1].mustDial(t, "a1", "tv1")
	if got := old.closeStatus(); got != CloseReplaced {
		t.Fatalf("older connection on the other edge closed with %v, want 4000", got)
	}
	got, err := edges[0].reg.Lookup(context.Background(), "a1", "tv1")
	if err != nil || got.Session != newer.welcome.Session || got.Edge != "edge-2" {
		t.Fatalf("registration %+v %v", got, err)
	}
}

func TestPresenceAcrossEdges(t *testing.T) {
	edges, _ := mustCluster(t, 2, nil)
	tv := edges[1].mustDial(t, "a1", "tv1")
	tv.send(&protocol.Hello{Presence: ptr(true)})
	edges[0].mustList(t, "a1", "phone1")
	// Wait until the hello was handled: a msg after it is answered in order.
	tv.send(&protocol.Msg{ID: "sync", Type: "tiny.echo.v1", To: &protocol.Target{Device: "phone1"}, Payload: payload(map[string]any{})})
	tv.readReceipt()
	phone := edges[0].mustDial(t, "a1", "phone1")
	phone.send(&protocol.Hello{Device: &protocol.DeviceInfo{Platform: "ios"}})
	p, ok := tv.read().(*protocol.Presence)
	if !ok || p.Device != "phone1" || !p.Online {
		t.Fatalf("presence %+v", p)
	}
	if err := phone.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	p, ok = tv.read().(*protocol.Presence)
	if !ok || p.Device != "phone1" || p.Online || p.Platform != "ios" {
		t.Fatalf("presence %+v", p)
	}
	edges[0].mustDial(t, "a1", "phone1")
	if p, ok := tv.read().(*protocol.Presence); !ok || !p.Online {
		t.Fatalf("presence %+v", p)
	}
}

// TestLinkFrameMeansOneThing sends frames on a raw link that two parsers would
// read differently, and checks that the edge acts on what the one link decoder
// reads: a msg that holds a replace's fields in other case is delivered, not
// taken for a replace; a replace whose fields are in other case, and a receipt,
// which never goes this way, are refused. A true replace then closes the
// session, so the frames before it were all read.
// dialLink opens a raw link to ce with the cluster key, offering
// subprotocol; it is closed when the test ends.
func (ce *clusterEdge) dialLink(t *testing.T, ctx context.Context, subprotocol string) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(ce.linkHS.URL, "http")+LinkPath, &websocket.DialOptions{
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + testClusterKey}},
		Subprotocols: []string{subprotocol},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func TestLinkFrameMeansOneThing(t *testing.T) {
	edges, _ := mustCluster(t, 1, nil)
	e := edges[0]
	tv := e.mustDial(t, "a1", "tv1")
	session := tv.welcome.Session
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c := e.dialLink(t, ctx, protocol.LinkSubprotocol)
	for _, frame := range []string{
		`{"t":"msg","account":"a1","wait_ms":1000,"id":"m1","type":"tiny.echo.v1","to":{"device":"tv1"},"payload":{"t":"replace"},"T":"replace","device":"tv1","session":"` + session + `"}`,
		`{"t":"replace","ACCOUNT":"a1","device":"tv1","session":"` + session + `"}`,
		`{"t":"receipt","id":"m1","results":[{"device":"tv1","status":"acked"}]}`,
	} {
		if err := c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	if m := tv.readMsg(); m.ID != "m1" {
		t.Fatalf("tv1 got %+v, want m1", m)
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var sc link.Scanner
	var lr link.Result
	if err := sc.DecodeReceipt(data, &lr); err != nil || string(lr.ID) != "m1" || lr.Result.Status != protocol.StatusDelivered {
		t.Fatalf("link answer %s: %v", data, err)
	}
	if e.srv.session("a1", "tv1") == nil {
		t.Fatal("the session was closed")
	}
	replace, _ := json.Marshal(link.Replace{T: link.KindReplace, Account: "a1", Device: "tv1", Session: session})
	if err := c.Write(ctx, websocket.MessageText, replace); err != nil {
		t.Fatal(err)
	}
	if got := tv.closeStatus(); got != CloseReplaced {
		t.Fatalf("close status %v, want %v", got, CloseReplaced)
	}
}

// A dial that the caller gave up on (its context ended) is no failure of the
// other edge: the next caller dials at once rather than failing fast through
// a backoff.
func TestLinkDialGivenUpIsNoFailure(t *testing.T) {
	edges, _ := mustCluster(t, 1, nil)
	edges[0].mustDial(t, "a1", "tv1")
	var slow atomic.Bool
	slow.Store(true)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if slow.Load() {
			time.Sleep(300 * time.Millisecond)
		}
		edges[0].srv.LinkHandler().ServeHTTP(w, r)
	}))
	defer hs.Close()
	links, err := NewLinks(LinksConfig{Addresses: &addrBook{addrs: map[string]string{"edge-1": hs.URL}}, ClusterKey: testClusterKey, MinBackoff: time.Minute, MaxBackoff: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer links.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if r := links.Deliver(ctx, "edge-1", "a1", "tv1", echo("g1"), nil); r.Status == protocol.StatusDelivered {
		t.Fatalf("delivered through a dial that outlived its context: %+v", r)
	}
	slow.Store(false)
	if r := deliverWithin(linkDeliverer{links, "edge-1"}, "a1", "tv1", echo("g2"), nil); r.Status != protocol.StatusDelivered {
		t.Fatalf("after a dial given up: %+v, want delivered (no backoff)", r)
	}
}

// linkDeliverer delivers over links to one edge.
type linkDeliverer struct {
	l    *Links
	edge string
}

func (d linkDeliverer) Deliver(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	return d.l.Deliver(ctx, d.edge, account, device, m, progress)
}
