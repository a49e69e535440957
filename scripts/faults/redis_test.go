package faults

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// TestFaultRedisRestart kills the registry's Redis and starts it again, empty,
// while edge-1's REST API pushes to devices on edge-2. Meanwhile pushes fail
// fast (rejected as unavailable, or offline), none hangs; afterwards the edges
// register their devices again and deliveries resume by themselves.
// Recovery is the time from the restart to the first delivery after it.
func TestFaultRedisRestart(t *testing.T) {
	devices := size(8, 50)
	total := size(600, 20000)
	c := newCluster(t)
	e1 := c.edge("edge-1", "", "")
	e2 := c.edge("edge-2", "", "")
	var peers []*peer
	for i := range devices {
		p := newPeer(t, fmt.Sprint("r", i), "tv")
		if err := p.connect(e2.Addr); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	var (
		next     atomic.Int64
		hung     atomic.Int64
		mu       sync.Mutex
		statuses = map[string]int{}
		expect   = map[string]*peer{}
	)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > total {
					return
				}
				p := peers[i%devices]
				r, id, err := push(e1.Addr, p.account, p.id, 2000, nil)
				if err != nil {
					hung.Add(1)
					t.Errorf("push %d: %v", i, err)
					continue
				}
				mu.Lock()
				statuses[string(r.Status)]++
				if r.Status == protocol.StatusDelivered {
					expect[id] = p
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	waitFor(t, "load before the kill", func() bool { return next.Load() >= int64(total/4) })
	killed := time.Now()
	c.redis.Stop()
	during := next.Load() + 20
	waitFor(t, "pushes with Redis down", func() bool { return next.Load() >= during })
	c.redis.Start()
	restarted := time.Now()
	wg.Wait()
	mu.Lock()
	defer mu.Unlock()
	var lost []string
	waitFor(t, "the delivered pushes", func() bool {
		lost = lost[:0]
		for id, p := range expect {
			if p.received(id) == 0 {
				lost = append(lost, id)
			}
		}
		return len(lost) == 0
	})
	// Deliveries resumed after the restart.
	after := 0
	var first time.Time
	for _, p := range peers {
		p.mu.Lock()
		for _, at := range p.recvAt {
			if at.After(restarted) {
				after++
				if first.IsZero() || at.Before(first) {
					first = at
				}
			}
		}
		p.mu.Unlock()
	}
	if after == 0 {
		t.Errorf("no push was delivered after Redis came back: %v", statuses)
	}
	f := &figures{Scenario: "redis-restart", Sent: int64(total), Accepted: int64(total), Delivered: int64(len(expect)),
		Reported: int64(total - len(expect)), Lost: int64(len(lost)) + hung.Load(), Recovery: first.Sub(restarted)}
	f.add("outage", restarted.Sub(killed).Round(time.Millisecond))
	f.add("longest_stall", stall(peers, killed).Round(time.Millisecond))
	f.add("delivered_after_restart", after)
	f.add("statuses", fmt.Sprint(statuses))
	report(t, f)
}
