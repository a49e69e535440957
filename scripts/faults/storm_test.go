package faults

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestFaultConnectStorm opens connections to one edge as fast as the test can
// (15,000 in the full run) against --max-connections and --connect-rate: every
// attempt is upgraded or refused with a clean 503 (with Retry-After when the rate
// refused it), the edge never holds more than its maximum, its memory stays
// bounded, and it takes new connections once the storm has passed.
func TestFaultConnectStorm(t *testing.T) {
	attempts := size(500, 15000)
	maxConns := attempts / 3
	rate := attempts / 10
	const dialers = 200
	c := newCluster(t)
	e := c.edge("edge-1", "", "", "--max-connections", fmt.Sprint(maxConns), "--connect-rate", fmt.Sprint(rate))
	base := e.RSS()
	// A device of its own per attempt: a second connection of one device would
	// replace the first, and the edge would hold fewer than it upgraded.
	toks := make([]string, attempts+1)
	for i := range toks {
		toks[i] = deviceToken(t, "storm", fmt.Sprint("dev", i))
	}

	var (
		next                            atomic.Int64
		upgraded, byRate, byCap, failed atomic.Int64
		mu                              sync.Mutex
		conns                           []*websocket.Conn // guarded by mu
		peak                            atomic.Int64
	)
	defer func() {
		mu.Lock()
		defer mu.Unlock()
		for _, conn := range conns {
			_ = conn.CloseNow()
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for range dialers {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > int64(attempts) {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), bound)
				conn, resp, err := websocket.Dial(ctx, "ws://"+e.Addr+"/v1/connect", &websocket.DialOptions{
					HTTPHeader: http.Header{"Authorization": {"Bearer " + toks[i]}}})
				cancel()
				switch {
				case err == nil:
					upgraded.Add(1)
					mu.Lock()
					conns = append(conns, conn)
					mu.Unlock()
				case resp != nil && resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") != "":
					byRate.Add(1)
				case resp != nil && resp.StatusCode == http.StatusServiceUnavailable:
					byCap.Add(1)
				default:
					failed.Add(1)
					t.Errorf("connect: %v", err)
				}
				if n := upgraded.Load(); n%100 == 0 {
					peak.Store(max(peak.Load(), e.RSS()))
				}
			}
		})
	}
	wg.Wait()
	took := time.Since(start)
	peak.Store(max(peak.Load(), e.RSS()))
	if n := upgraded.Load(); n > int64(maxConns) {
		t.Errorf("%d connections upgraded, more than --max-connections %d", n, maxConns)
	}
	if e.Exited() {
		t.Fatal("the edge died in the storm")
	}
	if code, err := restCall(e.Admin, http.MethodGet, "/healthz", nil, nil); err != nil || code != http.StatusOK {
		t.Errorf("healthz after the storm: %d %v", code, err)
	}
	growth := peak.Load() - base
	limit := int64(maxConns)*64<<10 + 64<<20
	if growth > limit {
		t.Errorf("edge RSS grew by %d MiB, more than the bound of %d MiB", growth>>20, limit>>20)
	}
	// Once the storm is over and its connections are gone, the edge takes new
	// ones again.
	mu.Lock()
	for _, conn := range conns {
		_ = conn.CloseNow()
	}
	conns = nil
	mu.Unlock()
	after := time.Now()
	p := newPeer(t, "storm", "after")
	if err := p.connect(e.Addr); err != nil {
		t.Fatal(err)
	}
	f := &figures{Scenario: "connect-storm", Sent: int64(attempts), Accepted: upgraded.Load(), Delivered: upgraded.Load(),
		Reported: byRate.Load() + byCap.Load(), Lost: failed.Load(), Recovery: time.Since(after)}
	f.add("storm_seconds", took.Round(time.Millisecond).Seconds())
	f.add("max_connections", maxConns)
	f.add("connect_rate", rate)
	f.add("refused_rate_503", byRate.Load())
	f.add("refused_capacity_503", byCap.Load())
	f.add("rss_base_mib", base>>20)
	f.add("rss_peak_mib", peak.Load()>>20)
	f.add("rss_bound_mib", (base+limit)>>20)
	report(t, f)
}
