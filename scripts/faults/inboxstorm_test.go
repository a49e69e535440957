package faults

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// TestFaultInboxStorm fills the inboxes of devices that never connected (20
// sync pushes of notification.v1 each, answered queued) and then connects them
// all at once: every queued message must arrive, and the
// figures give the rate at which the edge emptied the inboxes.
func TestFaultInboxStorm(t *testing.T) {
	devices := size(200, 10000)
	const perDevice = 20
	const dialers = 200
	c := newCluster(t)
	e := c.edge("edge-1", "", "", "--max-connections", fmt.Sprint(devices+100))
	api := c.start("api", "--roles=api", "--edge-id", "api-1")

	peers := make([]*peer, devices)
	for i := range devices {
		peers[i] = newPeer(t, fmt.Sprint("i", i/2), fmt.Sprint("d", i))
	}

	// Fill: batches of 500 pushes, each device's 20 spread over batches.
	var (
		mu       sync.Mutex
		queued   = map[string]*peer{} // guarded by mu: push id -> its device
		statuses = map[string]int{}   // guarded by mu
		hung     atomic.Int64
	)
	total := devices * perDevice
	batches := make(chan []int, 8)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for idx := range batches {
				msgs := make([]map[string]any, len(idx))
				for k, i := range idx {
					p := peers[i%devices]
					msgs[k] = notification(p.account, p.id, map[string]any{"payload": map[string]string{"title": fmt.Sprint("m", i)}})
				}
				var out struct {
					Results []struct {
						ID      string            `json:"id"`
						Results []protocol.Result `json:"results"`
					} `json:"results"`
				}
				code, err := restCall(api.Addr, http.MethodPost, "/v1/push/batch", map[string]any{"messages": msgs, "timeout_ms": 10000}, &out)
				if err != nil || code != http.StatusOK || len(out.Results) != len(idx) {
					hung.Add(int64(len(idx)))
					t.Errorf("batch: %d %v, %d results", code, err, len(out.Results))
					continue
				}
				mu.Lock()
				for k, r := range out.Results {
					if len(r.Results) != 1 {
						statuses["problem"]++
						continue
					}
					key := string(r.Results[0].Status)
					if r.Results[0].Error != "" {
						key += "(" + r.Results[0].Error + ")"
					}
					statuses[key]++
					if r.Results[0].Status == protocol.StatusQueued {
						queued[r.ID] = peers[idx[k]%devices]
					}
				}
				mu.Unlock()
			}
		})
	}
	fillStart := time.Now()
	for from := 0; from < total; from += 500 {
		idx := make([]int, 0, 500)
		for i := from; i < min(from+500, total); i++ {
			idx = append(idx, i)
		}
		batches <- idx
	}
	close(batches)
	wg.Wait()
	fillTook := time.Since(fillStart)
	// A put that fails (Redis over its timeout while the fill keeps it busy) is
	// rejected, reported and not counted as queued; anything else is a failure.
	for k, n := range statuses {
		if k != string(protocol.StatusQueued) && k != "rejected(unavailable)" {
			t.Errorf("%d pushes answered %s while their device had never connected", n, k)
		}
	}

	// Storm: every device connects at once (dialers at a time, each retrying a
	// refused connect).
	start := time.Now()
	var next atomic.Int64
	var connectErrs atomic.Int64
	for range dialers {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= devices {
					return
				}
				if err := peers[i].connect(e.Addr); err != nil {
					connectErrs.Add(1)
					t.Errorf("connect: %v", err)
				}
			}
		})
	}
	wg.Wait()
	connected := time.Since(start)
	missing := func() int {
		n := 0
		for id, p := range queued {
			if p.received(id) == 0 {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(time.Duration(size(1, 5)) * bound)
	left := missing()
	for left > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		left = missing()
	}
	// The last arrival, not the end of the polling above, ends the drain.
	var last time.Time
	dups := 0
	for id, p := range queued {
		if at, ok := p.arrived(id); ok && at.After(last) {
			last = at
		}
		if n := p.received(id); n > 1 {
			dups += n - 1
		}
	}
	drained := last.Sub(start)
	for id, p := range queued {
		if p.received(id) == 0 {
			t.Errorf("queued push %s to %s/%s never arrived", id, p.account, p.id)
			break
		}
	}
	f := &figures{Scenario: "inbox-storm", Sent: int64(total), Accepted: int64(len(queued)),
		Delivered: int64(len(queued) - left), Reported: int64(total - len(queued)), Lost: int64(left) + hung.Load() + connectErrs.Load(),
		Recovery: drained}
	f.add("devices", devices)
	f.add("per_device", perDevice)
	f.add("fill_seconds", fillTook.Round(time.Millisecond).Seconds())
	f.add("connect_seconds", connected.Round(time.Millisecond).Seconds())
	f.add("drain_seconds", drained.Round(time.Millisecond).Seconds())
	f.add("drain_rate_per_s", int(float64(len(queued)-left)/drained.Seconds()))
	f.add("duplicates", dups)
	f.add("statuses", fmt.Sprint(statuses))
	report(t, f)
}
