package edge

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

const testRegionKey = "region-key-for-tests"

// regionEdge is the one edge of a test region: its own registry, a gateway
// for the other regions, and a Router that reaches them.
type regionEdge struct {
	*testEdge
	name    string
	router  *Router // with Regions
	regions *Regions
	linkHS  *httptest.Server
}

// mustRegions starts one single-edge region per name, each with a registry
// of its own and one shared device list, every region a peer of the others.
// mutate, if set, changes each region's RegionsConfig.
func mustRegions(t *testing.T, names []string, mutate func(*RegionsConfig)) map[string]*regionEdge {
	t.Helper()
	devs := devicelist.NewMemory()
	out := map[string]*regionEdge{}
	for _, name := range names {
		re := &regionEdge{name: name, router: &Router{}}
		reg := registry.NewMemory()
		inRegion := &Router{Registry: reg}
		re.router.Registry = reg
		re.testEdge = mustEdge(t, func(c *Config) {
			c.ID = "edge-" + name
			c.Registry, c.Versions, c.Devices = reg, reg, devs
			c.Router = re.router
			c.RegionKeys = []string{testRegionKey}
			c.RegionRouter = inRegion
		})
		re.reg, re.devs = reg, devs
		inRegion.Local, re.router.Local = re.srv, re.srv
		re.linkHS = httptest.NewServer(re.srv.LinkHandler())
		t.Cleanup(re.linkHS.Close)
		out[name] = re
	}
	for _, re := range out {
		cfg := RegionsConfig{Region: re.name, Key: testRegionKey, Peers: map[string]string{}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
		for _, other := range out {
			if other != re {
				cfg.Peers[other.name] = other.linkHS.URL
			}
		}
		if mutate != nil {
			mutate(&cfg)
		}
		g, err := NewRegions(cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(g.Close)
		re.regions, re.router.Regions = g, g
	}
	return out
}

func echo(id string) *protocol.Msg {
	return &protocol.Msg{ID: id, Type: "tiny.echo.v1", Payload: payload(map[string]any{})}
}

func deliverWithin(r Deliverer, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.Deliver(ctx, account, device, m, progress)
}

func TestRegionsDeliverAcrossRegions(t *testing.T) {
	rs := mustRegions(t, []string{"eu", "us"}, nil)
	eu, us := rs["eu"], rs["us"]
	tv := us.mustDial(t, "a1", "tv1")

	t.Run("push with ack", func(t *testing.T) {
		m := echo("p1")
		m.Ack = true
		progress := make(chan protocol.Result, 1)
		res := make(chan protocol.Result, 1)
		go func() { res <- deliverWithin(eu.router, "a1", "tv1", m, func(r protocol.Result) { progress <- r }) }()
		if got := tv.readMsg(); got.ID != "p1" {
			t.Fatalf("tv got %+v", got)
		}
		if r := <-progress; r.Status != protocol.StatusDelivered || r.Device != "tv1" {
			t.Fatalf("progress %+v", r)
		}
		tv.send(&protocol.Ack{ID: "p1"})
		if r := <-res; r.Status != protocol.StatusAcked || r.Device != "tv1" {
			t.Fatalf("result %+v", r)
		}
	})
	t.Run("device to device", func(t *testing.T) {
		phone := eu.mustDial(t, "a1", "phone1")
		phone.send(&protocol.Msg{ID: "d1", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Ack: true,
			Payload: payload(map[string]any{"action": "pause"})})
		m := tv.readMsg()
		if m.ID != "d1" || m.From == nil || m.From.Device != "phone1" {
			t.Fatalf("tv got %+v", m)
		}
		if r := phone.readReceipt(); r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusDelivered}) {
			t.Fatalf("first receipt %+v", r)
		}
		tv.send(&protocol.Ack{ID: "d1"})
		if r := phone.readReceipt(); r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusAcked}) {
			t.Fatalf("second receipt %+v", r)
		}
		// And back: the tv's reply reaches the phone in the other region.
		tv.send(&protocol.Msg{ID: "d2", Type: "playback.control.v1", To: &protocol.Target{Device: "phone1"},
			Payload: payload(map[string]any{"action": "play"})})
		if m := phone.readMsg(); m.ID != "d2" || m.From.Device != "tv1" {
			t.Fatalf("phone got %+v", m)
		}
	})
	t.Run("where", func(t *testing.T) {
		for _, c := range []struct {
			from   *regionEdge
			device string
			want   string
		}{
			{eu, "tv1", "us"},
			{us, "tv1", "us"},
			{eu, "nobody", ""},
		} {
			got, err := c.from.router.Where(context.Background(), "a1", c.device)
			if err != nil || got != c.want {
				t.Errorf("Where(%s) from %s = %q, %v; want %q", c.device, c.from.name, got, err, c.want)
			}
		}
	})
	t.Run("offline everywhere", func(t *testing.T) {
		if r := deliverWithin(eu.router, "a1", "nobody", echo("o1"), nil); r.Status != protocol.StatusOffline || r.Device != "nobody" {
			t.Fatalf("result %+v", r)
		}
	})
	if st := eu.regions.Stats(); len(st) != 1 || st[0].Edge != "us" || !st[0].Up {
		t.Fatalf("region link stats %+v", st)
	}
}

// A device that moves between regions is found in its new one: a cached
// region that no longer holds it is asked about again at once, and a cached
// miss lasts MissTTL.
func TestRegionsFollowAMovingDevice(t *testing.T) {
	rs := mustRegions(t, []string{"ap", "eu", "us"}, func(c *RegionsConfig) { c.MissTTL = 300 * time.Millisecond })
	eu, us, ap := rs["eu"], rs["us"], rs["ap"]
	tv := us.mustDial(t, "a1", "tv1")
	if r := deliverWithin(eu.router, "a1", "tv1", echo("m1"), nil); r.Status != protocol.StatusDelivered {
		t.Fatalf("to us: %+v", r)
	}
	tv.readMsg()
	_ = tv.c.Close(websocket.StatusNormalClosure, "")
	eventually(t, "the tv to leave us", func() bool { return us.srv.session("a1", "tv1") == nil })
	tv = ap.mustDial(t, "a1", "tv1")
	// eu still believes us holds it: us answers offline, eu asks again and
	// finds ap, in the same delivery.
	if r := deliverWithin(eu.router, "a1", "tv1", echo("m2"), nil); r.Status != protocol.StatusDelivered {
		t.Fatalf("after the move to ap: %+v", r)
	}
	if m := tv.readMsg(); m.ID != "m2" {
		t.Fatalf("tv got %+v", m)
	}
	_ = tv.c.Close(websocket.StatusNormalClosure, "")
	eventually(t, "the tv to leave ap", func() bool { return ap.srv.session("a1", "tv1") == nil })
	if r := deliverWithin(eu.router, "a1", "tv1", echo("m3"), nil); r.Status != protocol.StatusOffline {
		t.Fatalf("while nowhere: %+v", r)
	}
	tv = us.mustDial(t, "a1", "tv1")
	// The miss is cached for MissTTL, then the device is found again.
	start := time.Now()
	eventually(t, "the tv to be found in us again", func() bool {
		return deliverWithin(eu.router, "a1", "tv1", echo(fmt.Sprint("m4-", time.Now().UnixNano())), nil).Status == protocol.StatusDelivered
	})
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("found after %v", waited)
	}
	tv.readMsg()
}

// A region link opens only with a region key, takes msg and locate frames
// only, and a region without a gateway or a peer that is down is taken as not
// holding the device.
func TestRegionLinkTrust(t *testing.T) {
	rs := mustRegions(t, []string{"eu", "us"}, nil)
	us := rs["us"]
	tv := us.mustDial(t, "a1", "tv1")
	dial := func(path, key string) (*websocket.Conn, int) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		url := "ws" + strings.TrimPrefix(us.linkHS.URL, "http") + path
		c, resp, err := websocket.Dial(ctx, url, &websocket.DialOptions{
			HTTPHeader:   http.Header{"Authorization": {"Bearer " + key}},
			Subprotocols: []string{protocol.LinkSubprotocol},
		})
		if err != nil {
			if resp == nil {
				t.Fatalf("dial %s: %v", path, err)
			}
			return nil, resp.StatusCode
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		return c, http.StatusSwitchingProtocols
	}
	for _, c := range []struct{ path, key string }{
		{RegionLinkPath, testClusterKey}, // no cluster keys configured: nothing opens the edge link
		{RegionLinkPath, "wrong"},
		{LinkPath, testRegionKey},
	} {
		if _, code := dial(c.path, c.key); code != http.StatusUnauthorized {
			t.Errorf("%s with key %q: %d, want 401", c.path, c.key, code)
		}
	}
	t.Run("a replace frame over a region link closes nothing", func(t *testing.T) {
		c, _ := dial(RegionLinkPath, testRegionKey)
		frame := fmt.Sprintf(`{"t":"replace","account":"a1","device":"tv1","session":%q,"code":4003}`, tv.welcome.Session)
		if err := c.Write(context.Background(), websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		// A locate after it is answered: the frame was read and refused.
		if err := c.Write(context.Background(), websocket.MessageText, link.AppendLocate(nil, &link.Locate{ID: "l1", Account: "a1", Device: "tv1"})); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != `{"t":"counted","id":"l1","subscribers":1}` {
			t.Fatalf("locate answered %s", data)
		}
		if us.srv.session("a1", "tv1") == nil {
			t.Fatal("the tv's session was closed through a region link")
		}
	})
	t.Run("a region that is down holds nothing", func(t *testing.T) {
		dead := httptest.NewServer(http.NotFoundHandler())
		dead.Close()
		g, err := NewRegions(RegionsConfig{Region: "eu", Key: testRegionKey, Peers: map[string]string{"us": dead.URL}, LocateTimeout: 500 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		defer g.Close()
		region, unreachable := g.Locate(context.Background(), "a1", "tv1")
		if region != "" || len(unreachable) != 1 || unreachable[0] != "us" {
			t.Fatalf("Locate = %q, %v", region, unreachable)
		}
		r := &Router{Registry: registry.NewMemory(), Regions: g}
		if res := deliverWithin(r, "a1", "tv1", echo("x"), nil); res.Status != protocol.StatusOffline {
			t.Fatalf("result %+v", res)
		}
	})
}

func TestNewRegionsRefusesBadConfig(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  RegionsConfig
	}{
		{"no region", RegionsConfig{Key: "k", Peers: map[string]string{"us": "h:1"}}},
		{"bad region", RegionsConfig{Region: "EU", Key: "k", Peers: map[string]string{"us": "h:1"}}},
		{"no peers", RegionsConfig{Region: "eu", Key: "k"}},
		{"no key", RegionsConfig{Region: "eu", Peers: map[string]string{"us": "h:1"}}},
		{"itself a peer", RegionsConfig{Region: "eu", Key: "k", Peers: map[string]string{"eu": "h:1"}}},
		{"bad peer name", RegionsConfig{Region: "eu", Key: "k", Peers: map[string]string{"u s": "h:1"}}},
		{"peer without address", RegionsConfig{Region: "eu", Key: "k", Peers: map[string]string{"us": ""}}},
		{"negative ttl", RegionsConfig{Region: "eu", Key: "k", Peers: map[string]string{"us": "h:1"}, MissTTL: -1}},
	} {
		if g, err := NewRegions(c.cfg); err == nil {
			g.Close()
			t.Errorf("%s: accepted", c.name)
		}
	}
}

// staleMisses is a registry whose Lookup, like registry.Redis's through its
// client-side cache before Redis's invalidation arrives, still misses the
// devices in stale, while LookupFresh reads the registry itself.
type staleMisses struct {
	Locator
	stale map[string]bool // account/device
}

func (s staleMisses) Lookup(ctx context.Context, account, device string) (registry.Entry, error) {
	if s.stale[account+"/"+device] {
		return registry.Entry{}, registry.ErrNotFound
	}
	return s.Locator.Lookup(ctx, account, device)
}

func (s staleMisses) LookupFresh(ctx context.Context, account, device string) (registry.Entry, error) {
	return s.Locator.Lookup(ctx, account, device)
}

var _ freshLocator = staleMisses{}

// A device that has just moved into a region is found there although the
// region's cached lookup still misses it (pushes to it while it was between
// regions cached the miss): a miss is read again past the cache before the
// other regions are asked, which would find it nowhere. Where and Deliver
// share that lookup.
func TestRegionsDeviceJustMovedHere(t *testing.T) {
	rs := mustRegions(t, []string{"eu", "us"}, nil)
	eu := rs["eu"]
	eu.mustDial(t, "a1", "tv1")
	// A process of eu without the tv's session: an API process.
	api := &Router{Registry: staleMisses{Locator: eu.reg, stale: map[string]bool{"a1/tv1": true}}, Regions: eu.regions}
	if got, err := api.Where(context.Background(), "a1", "tv1"); err != nil || got != "eu" {
		t.Fatalf("Where = %q, %v; want eu", got, err)
	}
	if online, err := api.Online(context.Background(), "a1", "tv1"); err != nil || !online {
		t.Fatalf("Online = %v, %v", online, err)
	}
}
