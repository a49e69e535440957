package edge

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

const testRegionKey = "region-key-for-tests"

// regionEdge is the one edge of a test region: its own registry and inbox,
// a gateway for the other regions, and a Router that reaches them.
type regionEdge struct {
	*testEdge
	name    string
	router  *Router // with Regions
	regions *Regions
	inbox   *inbox.Memory
	linkHS  *httptest.Server
}

// mustRegions starts one single-edge region per name, each with a registry
// and an inbox of its own and one shared device list, every region a peer of
// the others. mutate, if set, changes each region's RegionsConfig.
func mustRegions(t *testing.T, names []string, mutate func(*RegionsConfig)) map[string]*regionEdge {
	t.Helper()
	devs := devicelist.NewMemory()
	out := map[string]*regionEdge{}
	// The gateways' addresses are known before the edges exist.
	for _, name := range names {
		hs := httptest.NewUnstartedServer(nil)
		t.Cleanup(hs.Close)
		out[name] = &regionEdge{name: name, linkHS: hs}
	}
	for _, name := range names {
		re := out[name]
		cfg := RegionsConfig{Region: name, Key: testRegionKey, Peers: map[string]string{}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
		for _, other := range out {
			if other != re {
				cfg.Peers[other.name] = "http://" + other.linkHS.Listener.Addr().String()
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
		box, err := inbox.NewMemory(inbox.Config{})
		if err != nil {
			t.Fatal(err)
		}
		reg := registry.NewMemory()
		inRegion := &Router{Registry: reg, Topics: reg}
		re.router = &Router{Registry: reg, Topics: reg, Regions: g}
		ri, err := NewRegionInbox(RegionInboxConfig{Inbox: box, Regions: g, Late: re.router})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(ri.Close)
		re.router.RegionInbox = ri
		re.regions, re.inbox = g, box
		re.testEdge = mustEdge(t, func(c *Config) {
			c.ID = "edge-" + name
			c.Registry, c.Versions, c.Devices = reg, reg, devs
			c.Router = re.router
			c.RegionKeys = []string{testRegionKey}
			c.RegionRouter = inRegion
			c.Inbox = box
			c.RegionNews = g
			c.Topics = reg
			c.RegionInbox = ri
		})
		re.reg, re.devs = reg, devs
		inRegion.Local, re.router.Local = re.srv, re.srv
		re.linkHS.Config.Handler = re.srv.LinkHandler()
		re.linkHS.Start()
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
			got, online, err := c.from.router.Where(context.Background(), "a1", c.device)
			if err != nil || got != c.want || online != (c.want != "") {
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

// storeFor puts a message into re's inbox for account/device, as a push to a
// device offline everywhere does in the sender's region.
func (re *regionEdge) storeFor(t *testing.T, account, device, id string, ack bool) {
	t.Helper()
	res, err := re.inbox.Put(context.Background(), inbox.Message{ID: id, Account: account, Device: device, Type: "tiny.echo.v1",
		From: `{"service":"billing"}`, Payload: []byte(`{}`), Expires: time.Now().Add(time.Minute), Ack: ack})
	if err != nil || res.Seq == 0 {
		t.Fatalf("put %s: %+v, %v", id, res, err)
	}
}

func (re *regionEdge) pending(t *testing.T, account, device string) []string {
	t.Helper()
	page, err := re.inbox.Pending(context.Background(), account, device, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Messages {
		ids = append(ids, m.ID)
	}
	return ids
}

// Messages stored in one region for a device that connects in another are
// delivered there, in order and without their seq, and leave the inbox once
// written, or acked.
func TestRegionsHandOverStoredMessages(t *testing.T) {
	rs := mustRegions(t, []string{"eu", "us"}, nil)
	eu, us := rs["eu"], rs["us"]
	eu.storeFor(t, "a1", "tv1", "s1", false)
	eu.storeFor(t, "a1", "tv1", "s2", true)
	eu.storeFor(t, "a1", "tv1", "s3", false)
	tv := us.mustDial(t, "a1", "tv1")
	for _, want := range []string{"s1", "s2", "s3"} {
		m := tv.readMsg()
		if m.ID != want || m.Seq != 0 || m.From == nil || m.From.Service != "billing" {
			t.Fatalf("tv got %+v, want %s without seq", m, want)
		}
	}
	eventually(t, "the written messages to leave eu's inbox", func() bool {
		ids := eu.pending(t, "a1", "tv1")
		return len(ids) == 1 && ids[0] == "s2"
	})
	tv.send(&protocol.Ack{ID: "s2"})
	eventually(t, "the acked message to leave eu's inbox", func() bool { return len(eu.pending(t, "a1", "tv1")) == 0 })

	t.Run("a message stored after the device connected elsewhere is nudged there", func(t *testing.T) {
		eu.storeFor(t, "a1", "tv1", "s4", false)
		if err := eu.router.Nudge(context.Background(), "a1", "tv1"); err != nil {
			t.Fatal(err)
		}
		if m := tv.readMsg(); m.ID != "s4" {
			t.Fatalf("tv got %+v", m)
		}
		eventually(t, "eu's inbox to empty", func() bool { return len(eu.pending(t, "a1", "tv1")) == 0 })
	})
	t.Run("a device that left keeps what was not written", func(t *testing.T) {
		eu.storeFor(t, "a1", "phone1", "p1", false)
		ri, err := NewRegionInbox(RegionInboxConfig{Inbox: eu.inbox, Regions: eu.regions})
		if err != nil {
			t.Fatal(err)
		}
		defer ri.Close()
		if !ri.Start("us", "a1", "phone1") { // phone1 is connected nowhere
			t.Fatal("drain not started")
		}
		ri.Close()
		if ids := eu.pending(t, "a1", "phone1"); len(ids) != 1 {
			t.Fatalf("eu's inbox holds %v, want p1 still", ids)
		}
	})
}

// The limits of the stored messages' way across regions: MaxDrains drains at
// once, one per device, and HandoverQueue handovers waiting to be sent.
func TestRegionInboxLimits(t *testing.T) {
	rs := mustRegions(t, []string{"eu", "us"}, nil)
	eu, us := rs["eu"], rs["us"]
	tv := us.mustDial(t, "a1", "tv1")
	// An inbox of the test's own, which the region's handover does not drain.
	box, err := inbox.NewMemory(inbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := box.Put(context.Background(), inbox.Message{ID: "held", Account: "a1", Device: "tv1", Type: "tiny.echo.v1",
		Payload: []byte(`{}`), Expires: time.Now().Add(time.Minute), Ack: true}); err != nil { // never acked: its drain waits
		t.Fatal(err)
	}
	ri, err := NewRegionInbox(RegionInboxConfig{Inbox: box, Regions: eu.regions, MaxDrains: 1, AckTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer ri.Close()
	if !ri.Start("us", "a1", "tv1") {
		t.Fatal("first drain refused")
	}
	if m := tv.readMsg(); m.ID != "held" {
		t.Fatalf("tv got %+v", m)
	}
	if ri.Start("us", "a1", "tv1") {
		t.Error("a second drain of the same device started")
	}
	if ri.Start("us", "a1", "other") {
		t.Error("a drain over MaxDrains started")
	}

	// A gateway that takes the connection and never answers holds the
	// handover sender in its dial.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	g, err := NewRegions(RegionsConfig{Region: "eu", Key: testRegionKey, Peers: map[string]string{"us": "http://" + ln.Addr().String()}, HandoverQueue: 1, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if !g.Handover("a1", "d0") {
		t.Fatal("first handover refused")
	}
	eventually(t, "the sender to take the first handover", func() bool { return len(g.news) == 0 })
	if !g.Handover("a1", "d1") {
		t.Fatal("a handover refused with room in the queue")
	}
	if g.Handover("a1", "d2") {
		t.Fatal("a handover queued over HandoverQueue")
	}
}

// A change of a device list in one region reaches the caches of the others:
// the account's version is bumped there, and a removed device's connection
// there is closed with 4003.
func TestRegionsShareDeviceListChanges(t *testing.T) {
	rs := mustRegions(t, []string{"eu", "us"}, nil)
	eu, us := rs["eu"], rs["us"]
	version := func(re *regionEdge) int64 {
		v, err := re.reg.AccountVersion(context.Background(), "a1")
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	before := version(us)
	eu.mustDial(t, "a1", "phone1") // new to the list: eu adds it and tells us
	eventually(t, "us to bump a1's version for the device added in eu", func() bool { return version(us) > before })

	tv := us.mustDial(t, "a1", "tv1")
	before = version(us)
	if !eu.regions.Changed("a1", "tv1") {
		t.Fatal("change not queued")
	}
	if code := tv.closeStatus(); code != CloseRemoved {
		t.Fatalf("tv closed with %v, want %v", code, CloseRemoved)
	}
	eventually(t, "us to bump a1's version for the removal", func() bool { return version(us) > before })
}

// A publish in one region reaches the subscribers of the others, through
// their gateways, and says how many regions answered.
func TestRegionsPublish(t *testing.T) {
	rs := mustRegions(t, []string{"ap", "eu", "us"}, nil)
	eu, us, ap := rs["eu"], rs["us"], rs["ap"]
	near := eu.mustDialTopics(t, "a1", "tv1", "news.*")
	far := us.mustDialTopics(t, "a2", "tv2", "news.*")
	near.sub(false, "s1", "news.sports")
	far.sub(false, "s2", "news.sports")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := eu.router.Publish(ctx, "news.sports", &protocol.Msg{ID: "n1", Type: "tiny.echo.v1", Payload: payload(map[string]any{})})
	if err != nil {
		t.Fatal(err)
	}
	if res.Regions != 2 || res.Edges != 1 || res.Devices != 2 || res.Dropped != 0 || len(res.Failed) != 0 {
		t.Fatalf("publish result %+v, want 2 regions, 1 edge here, 2 devices", res)
	}
	for _, d := range []*device{near, far} {
		if m := d.readMsg(); m.ID != "n1" || m.Topic != "news.sports" {
			t.Fatalf("subscriber got %+v", m)
		}
	}
	count, err := eu.router.TopicCount(ctx, "news.sports")
	if err != nil {
		t.Fatal(err)
	}
	want := []protocol.EdgeSubscribers{{Edge: "edge-eu", Subscribers: 1}, {Edge: "region/ap", Subscribers: 0}, {Edge: "region/us", Subscribers: 1}}
	if count.Subscribers != 2 || !slices.Equal(count.Edges, want) || len(count.Failed) != 0 {
		t.Fatalf("count %+v, want %+v", count, want)
	}
	// A region whose gateway is gone is listed as failed.
	ap.linkHS.Close()
	ap.srv.mu.Lock()
	for lc := range ap.srv.links {
		lc.Close()
	}
	ap.srv.mu.Unlock()
	eventually(t, "ap to be listed as failed", func() bool {
		res, err := eu.router.Publish(ctx, "news.sports", &protocol.Msg{ID: fmt.Sprint("n-", time.Now().UnixNano()), Type: "tiny.echo.v1", Payload: payload(map[string]any{})})
		return err == nil && res.Regions == 1 && len(res.Failed) == 1 && res.Failed[0].Edge == "region/ap"
	})
}

// A device's msg with ack, stored in its sender's region for a sibling that
// connects in another, gets its sender the late acked receipt, wherever the
// sender is connected by then.
func TestRegionsLateReceipt(t *testing.T) {
	rs := mustRegions(t, []string{"ap", "eu", "us"}, nil)
	eu, us, ap := rs["eu"], rs["us"], rs["ap"]
	phone := ap.mustDial(t, "a1", "phone1") // moved to ap since it sent
	res, err := eu.inbox.Put(context.Background(), inbox.Message{ID: "q1", Account: "a1", Device: "tv1", Type: "tiny.echo.v1",
		From: `{"device":"phone1"}`, Payload: []byte(`{}`), Expires: time.Now().Add(time.Minute), Ack: true})
	if err != nil || res.Seq == 0 {
		t.Fatalf("put: %+v, %v", res, err)
	}
	tv := us.mustDial(t, "a1", "tv1")
	if m := tv.readMsg(); m.ID != "q1" || !m.Ack || m.From == nil || m.From.Device != "phone1" {
		t.Fatalf("tv got %+v", m)
	}
	tv.send(&protocol.Ack{ID: "q1"})
	if r := phone.readReceipt(); r.ID != "q1" || len(r.Results) != 1 || r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusAcked}) {
		t.Fatalf("phone got %+v, want the late acked receipt", r)
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
	if got, _, err := api.Where(context.Background(), "a1", "tv1"); err != nil || got != "eu" {
		t.Fatalf("Where = %q, %v; want eu", got, err)
	}
	if online, err := api.Online(context.Background(), "a1", "tv1"); err != nil || !online {
		t.Fatalf("Online = %v, %v", online, err)
	}
}

// Presence news crosses regions: a device that asked for presence hears of a
// sibling that connects or leaves in another region.
func TestRegionsPresence(t *testing.T) {
	rs := mustRegions(t, []string{"eu", "us"}, nil)
	eu, us := rs["eu"], rs["us"]
	tv := us.mustDial(t, "a1", "tv1")
	tv.send(&protocol.Hello{Presence: ptr(true)})
	us.mustList(t, "a1", "phone1")
	// Wait until the hello was handled: a msg after it is answered in order.
	tv.send(&protocol.Msg{ID: "sync", Type: "tiny.echo.v1", To: &protocol.Target{Device: "phone1"}, Payload: payload(map[string]any{})})
	tv.readReceipt()
	phone := eu.mustDial(t, "a1", "phone1")
	p, ok := tv.read().(*protocol.Presence)
	if !ok || p.Device != "phone1" || !p.Online {
		t.Fatalf("presence %+v, want phone1 online", p)
	}
	_ = phone.c.Close(websocket.StatusNormalClosure, "")
	p, ok = tv.read().(*protocol.Presence)
	if !ok || p.Device != "phone1" || p.Online {
		t.Fatalf("presence %+v, want phone1 offline", p)
	}
}

// attachedNews is a RegionNews that notes, at each handover, whether the
// device was already attached to srv, where the other regions' deliveries
// reach it.
type attachedNews struct {
	srv      func() *Server
	attached chan bool
}

func (n *attachedNews) Handover(account, device string) bool {
	n.attached <- n.srv().session(account, device) != nil
	return true
}
func (n *attachedNews) Changed(string, string) bool              { return true }
func (n *attachedNews) Presence(string, *protocol.Presence) bool { return true }

// The handover of a connecting device goes out only once the device is
// attached: a region that delivers its stored messages at once must find the
// device held, or they are answered offline and wait in that region for the
// device's next connection.
func TestHandoverAfterAttach(t *testing.T) {
	var e *testEdge
	news := &attachedNews{srv: func() *Server { return e.srv }, attached: make(chan bool, 1)}
	e = mustEdge(t, func(c *Config) { c.RegionNews = news })
	e.mustDial(t, "a1", "tv1")
	select {
	case attached := <-news.attached:
		if !attached {
			t.Fatal("the handover went out before the device was attached")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no handover")
	}
}
