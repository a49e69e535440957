package edge

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime/pprof"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/scripts/testenv"
)

// BenchmarkRegions puts the paths of a message across regions beside the same
// paths within one, in one run (issue 18): three regions in one process on
// loopback, where distance costs nothing, so that what the cross-region paths
// add is Herald's own overhead. Region eu has two edges, us two (us-0 its
// gateway), ap one; the sender is always on eu-0, the registry of each region
// its own, the device list shared.
//
//	push/*: a sync push from eu-0's Router to a device on eu-0 (same-edge), on
//	eu-1 (same-region, over an edge link), on us-0 (other-region: through the
//	gateway, the locate answer cached, the steady state), on us-1
//	(other-region-behind-gateway: the gateway routes over a link of its
//	region), on us-0 with the locate answer never cached (other-region-cold:
//	every push asks us and ap first), and to a new device id every push
//	(offline-fresh: a registry miss here, then a locate at us and at ap, each a
//	registry miss there).
//	locate: a locate alone, with the answer never cached, at one region's
//	gateway that holds the device; its cpu-ns/op counts both sides, and a
//	CPU profile of it alone splits them by profiler label (side=asking,
//	edge=us-0 for the gateway):
//	go test -run '^$' -bench 'BenchmarkRegions/memory/locate' -benchtime 20000x -cpuprofile locate.prof ./edge/
//	go tool pprof -tags locate.prof
//	d2d/*: a device's msg frame written on its WebSocket to eu-0 until the
//	target's WebSocket reads it, target on eu-0, eu-1, us-0 or us-1.
//
// Each runs with the registries in memory and on Redis (HERALD_TEST_REDIS_ADDR,
// a key prefix per region; skipped without it). Besides ns/op and allocs (of
// the whole process: senders, edges, gateways and the devices' clients), each
// reports p50-µs and p99-µs of its operations and cpu-ns/op, this process's
// CPU time per operation.
//
//	go test -run '^$' -bench '^BenchmarkRegions$' -benchmem ./edge/
func BenchmarkRegions(b *testing.B) {
	for _, kind := range []struct {
		name string
		new  func(b *testing.B) benchRegistry
	}{
		{"memory", func(*testing.B) benchRegistry { return registry.NewMemory() }},
		{"redis", mustBenchRedisRegistry},
	} {
		b.Run(kind.name, func(b *testing.B) {
			benchRegionPaths(b, mustBenchRegions(b, kind.new))
		})
	}
}

// benchRegistry is what a region of BenchmarkRegions needs of its registry:
// registry.Memory and registry.Redis both are one.
type benchRegistry interface {
	Registry
	Locator
	Versions
	Liveness
}

// mustBenchRedisRegistry returns a Redis registry under a key prefix of its
// own, closed at the end of the benchmark.
func mustBenchRedisRegistry(b *testing.B) benchRegistry {
	b.Helper()
	addr, prefix := testenv.Redis(b)
	r, err := registry.NewRedis(registry.RedisConfig{Addrs: []string{addr}, Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	return r
}

// benchRegionEdge is one edge of a region of BenchmarkRegions.
type benchRegionEdge struct {
	*testEdge
	reg     benchRegistry
	links   *Links
	router  *Router // with Regions
	regions *Regions
	linkHS  *httptest.Server
}

// benchRegionSizes are the regions of BenchmarkRegions and their edges; edge 0
// of each is its gateway.
var benchRegionSizes = []struct {
	name  string
	edges int
}{{"eu", 2}, {"us", 2}, {"ap", 1}}

// mustBenchRegions starts the regions of benchRegionSizes, each with a
// registry from newReg, its edges linked to each other, every edge able to
// reach the other regions through their gateways.
func mustBenchRegions(b *testing.B, newReg func(b *testing.B) benchRegistry) map[string][]*benchRegionEdge {
	b.Helper()
	devs := devicelist.NewMemory()
	out := map[string][]*benchRegionEdge{}
	for _, size := range benchRegionSizes {
		reg := newReg(b)
		book := &addrBook{addrs: map[string]string{}}
		for i := range size.edges {
			be := &benchRegionEdge{reg: reg}
			links, err := NewLinks(LinksConfig{Addresses: book, ClusterKey: testClusterKey, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
			if err != nil {
				b.Fatal(err)
			}
			be.links = links
			be.router = &Router{Registry: reg, Links: links}
			inRegion := &Router{Registry: reg, Links: links}
			be.testEdge = mustEdge(b, func(c *Config) {
				c.ID = fmt.Sprintf("%s-%d", size.name, i)
				c.Registry, c.Versions, c.Devices, c.Liveness = reg, reg, devs, reg
				c.Locator, c.Presencer, c.Replacer = reg, links, links
				c.Router = be.router
				c.ClusterKeys = []string{testClusterKey}
				c.RegionKeys = []string{testRegionKey}
				c.RegionRouter = inRegion
				c.SendQueue = 4096
				c.MsgRate, c.MsgBurst, c.MaxInflight = 1e6, 1e6, 1<<16
			})
			be.router.Local, inRegion.Local = be.srv, be.srv
			be.linkHS = httptest.NewServer(profileLabelled(be.srv.LinkHandler(), "edge", be.srv.ID()))
			book.mu.Lock()
			book.addrs[be.srv.ID()] = be.linkHS.URL
			book.mu.Unlock()
			b.Cleanup(func() {
				links.Close()
				be.linkHS.Close()
			})
			out[size.name] = append(out[size.name], be)
		}
	}
	for name, edges := range out {
		for _, be := range edges {
			g := mustBenchRegionsOf(b, name, out, 0, nil)
			be.regions, be.router.Regions = g, g
		}
	}
	return out
}

// mustBenchRegionsOf returns Regions for region name that reaches the
// gateways of the other regions of rs (only those listed in only, when it is
// not nil), believing an answer for ttl (0: the defaults).
func mustBenchRegionsOf(b *testing.B, name string, rs map[string][]*benchRegionEdge, ttl time.Duration, only []string) *Regions {
	b.Helper()
	cfg := RegionsConfig{Region: name, Key: testRegionKey, Peers: map[string]string{},
		FoundTTL: ttl, MissTTL: ttl, Queue: 1 << 14, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}
	for other, edges := range rs {
		if other != name && (only == nil || slices.Contains(only, other)) {
			cfg.Peers[other] = edges[0].linkHS.URL
		}
	}
	g, err := NewRegions(cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(g.Close)
	return g
}

// benchTarget is where a device of BenchmarkRegions is connected.
type benchTarget struct {
	name   string
	region string
	edge   int
}

var benchTargets = []benchTarget{
	{"same-edge", "eu", 0},
	{"same-region", "eu", 1},
	{"other-region", "us", 0},
	{"other-region-behind-gateway", "us", 1},
}

// benchRegionPaths runs the sub-benchmarks of BenchmarkRegions on rs.
func benchRegionPaths(b *testing.B, rs map[string][]*benchRegionEdge) {
	const account = "a1"
	eu := rs["eu"][0]
	// Every device connects before the phone sends, so that the device list
	// eu-0 caches for the account holds them all.
	pushTo := map[string]string{}
	d2dTo := map[string]*device{}
	for _, t := range benchTargets {
		e := rs[t.region][t.edge]
		pushTo[t.name] = "p-" + t.name
		d := e.mustDial(b, account, pushTo[t.name])
		done := drainDevice(b, d)
		b.Cleanup(func() {
			_ = d.c.CloseNow()
			<-done
		})
		d2dTo[t.name] = e.mustDial(b, account, "d-"+t.name)
	}
	phone := eu.mustDial(b, account, "phone")
	phoneDone := drainDevice(b, phone)
	b.Cleanup(func() {
		_ = phone.c.CloseNow()
		<-phoneDone
	})

	// cold never believes an answer: every delivery through it locates first.
	cold := &Router{Local: eu.srv, Registry: eu.reg, Links: eu.links, Regions: mustBenchRegionsOf(b, "eu", rs, time.Nanosecond, nil)}
	pushes := []struct {
		name   string
		router *Router
		device func(i int) string
		want   protocol.Status
	}{
		{"same-edge", eu.router, fixed(pushTo["same-edge"]), protocol.StatusDelivered},
		{"same-region", eu.router, fixed(pushTo["same-region"]), protocol.StatusDelivered},
		{"other-region", eu.router, fixed(pushTo["other-region"]), protocol.StatusDelivered},
		{"other-region-behind-gateway", eu.router, fixed(pushTo["other-region-behind-gateway"]), protocol.StatusDelivered},
		{"other-region-cold", cold, fixed(pushTo["other-region"]), protocol.StatusDelivered},
		{"offline-fresh", eu.router, func(i int) string { return "nobody-" + strconv.Itoa(i) }, protocol.StatusOffline},
	}
	b.Run("push", func(b *testing.B) {
		for _, p := range pushes {
			b.Run(p.name, func(b *testing.B) {
				m := &protocol.Msg{Type: "tiny.echo.v1", Payload: payload(map[string]string{"text": "hi"})}
				ctx := context.Background()
				deliver := func(i int) protocol.Result {
					m.ID = strconv.Itoa(i)
					return p.router.Deliver(ctx, account, p.device(i), m, nil)
				}
				// The first push dials the links; with Redis a registration
				// may reach the client-side caches a moment late.
				eventually(b, "a first push", func() bool { return deliver(-1).Status == p.want })
				lat := make([]time.Duration, 0, 1024)
				cpu := cpuTime(b)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; b.Loop(); i++ {
					start := time.Now()
					r := deliver(i)
					lat = append(lat, time.Since(start))
					if r.Status != p.want {
						b.Fatalf("push %d: %+v, want %s", i, r, p.want)
					}
				}
				b.StopTimer()
				reportOps(b, lat, cpu)
			})
		}
	})

	b.Run("locate", func(b *testing.B) {
		// The asking side's goroutines, its link's included (dialled by the
		// first locate), carry the label side=asking, the gateway's the
		// label edge=us-0 (profileLabelled): a CPU profile of this
		// sub-benchmark alone splits the locate's CPU between them.
		pprof.Do(context.Background(), pprof.Labels("side", "asking"), func(ctx context.Context) {
			g := mustBenchRegionsOf(b, "eu", rs, time.Nanosecond, []string{"us"})
			device := pushTo["other-region"]
			eventually(b, "a first locate", func() bool { region, _ := g.Locate(ctx, account, device); return region == "us" })
			lat := make([]time.Duration, 0, 1024)
			cpu := cpuTime(b)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				start := time.Now()
				region, unreachable := g.Locate(ctx, account, device)
				lat = append(lat, time.Since(start))
				if region != "us" {
					b.Fatalf("Locate = %q, %v", region, unreachable)
				}
			}
			b.StopTimer()
			reportOps(b, lat, cpu)
		})
	})

	b.Run("d2d", func(b *testing.B) {
		for _, t := range benchTargets {
			b.Run(t.name, func(b *testing.B) {
				benchD2D(b, phone, d2dTo[t.name], "d-"+t.name)
			})
		}
	})
}

// profileLabelled serves h with the profiler labels of kv on the handler's
// goroutine and on those it starts.
func profileLabelled(h http.Handler, kv ...string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pprof.Do(r.Context(), pprof.Labels(kv...), func(context.Context) { h.ServeHTTP(w, r) })
	})
}

func fixed(device string) func(int) string { return func(int) string { return device } }

// benchD2D times msg frames written by from for device to until to reads
// each, one at a time.
func benchD2D(b *testing.B, from, to *device, device string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var frame, id []byte
	send := func(i int) {
		id = append(id[:0], `"id":"`...)
		id = strconv.AppendInt(id, int64(i), 10)
		id = append(id, '"')
		frame = append(frame[:0], `{"t":"msg",`...)
		frame = append(frame, id...)
		frame = append(frame, `,"type":"tiny.echo.v1","to":{"device":"`...)
		frame = append(frame, device...)
		frame = append(frame, `"},"payload":{"text":"hi"}}`...)
		if err := from.c.Write(ctx, websocket.MessageText, frame); err != nil {
			b.Fatal(err)
		}
		for {
			_, data, err := to.c.Read(ctx)
			if err != nil {
				b.Fatalf("message %d: %v", i, err)
			}
			if bytes.Contains(data, id) {
				return
			}
		}
	}
	send(-1) // the links are dialled, the locate answer cached
	lat := make([]time.Duration, 0, 1024)
	cpu := cpuTime(b)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		start := time.Now()
		send(i)
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	reportOps(b, lat, cpu)
}

// reportOps reports the p50 and p99 of lat in microseconds, and the CPU time
// of this process since cpu per operation.
func reportOps(b *testing.B, lat []time.Duration, cpu time.Duration) {
	b.Helper()
	if len(lat) == 0 {
		return
	}
	used := cpuTime(b) - cpu
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))]) / float64(time.Microsecond) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(used)/float64(len(lat)), "cpu-ns/op")
}
