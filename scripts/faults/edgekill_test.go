package faults

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// TestFaultEdgeKill kills an edge with SIGKILL while sync pushes (through a
// separate API process), device messages from sibling devices on the other edge
// and asynchronous messages flow to its devices. Every push gets a final status
// and none hangs; every device message gets a receipt or an error frame; the
// devices reconnect to the surviving edge, and every accepted asynchronous
// message is delivered there or reported.
func TestFaultEdgeKill(t *testing.T) {
	devices := size(8, 50)
	pushes := size(300, 10000)
	c := newCluster(t, kafkaFlags(t)...)
	e1 := c.edge("edge-1", "", "")
	e2 := c.edge("edge-2", "", "")
	api := c.start("api", "--roles=api", "--edge-id", "api-1")
	c.start("processor-1", "--roles=processor", "--edge-id", "processor-1")

	victims := make([]*peer, devices)
	phones := make([]*peer, devices)
	for i := range devices {
		account := fmt.Sprint("v", i)
		victims[i] = newPeer(t, account, "tv")
		phones[i] = newPeer(t, account, "phone")
		if err := victims[i].connect(e2.Addr); err != nil {
			t.Fatal(err)
		}
		if err := phones[i].connect(e1.Addr); err != nil {
			t.Fatal(err)
		}
	}

	var (
		next      atomic.Int64 // pushes started
		statusMu  sync.Mutex
		statuses  = map[string]int{}   // guarded by statusMu: push and receipt statuses
		expect    = map[string]*peer{} // guarded by statusMu: ids reported delivered -> their device
		hung      atomic.Int64         // pushes and device messages without an answer
		killedAt  atomic.Int64         // Unix nanoseconds of the kill
		movedAt   atomic.Int64         // Unix nanoseconds of the first reconnect elsewhere
		recovered atomic.Int64         // Unix nanoseconds of the first delivery after that
		d2dSent   atomic.Int64
	)
	record := func(kind string, s protocol.Status, id string, p *peer) {
		statusMu.Lock()
		defer statusMu.Unlock()
		statuses[kind+":"+string(s)]++
		if s == protocol.StatusDelivered || s == protocol.StatusAcked {
			expect[id] = p
			if m := movedAt.Load(); m != 0 && recovered.Load() == 0 && time.Now().UnixNano() > m {
				recovered.Store(time.Now().UnixNano())
			}
		}
	}
	async := newAsyncLog(api.Addr)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > pushes {
					return
				}
				p := victims[i%devices]
				if w == 3 {
					async.send(p)
					continue
				}
				r, id, err := push(api.Addr, p.account, p.id, 2000, nil)
				if err != nil {
					hung.Add(1)
					t.Errorf("push %d: %v", i, err)
					continue
				}
				if !finalStatus(r.Status) {
					t.Errorf("push %d: status %q is not final", i, r.Status)
				}
				record("push", r.Status, id, p)
			}
		})
	}
	for i := range devices {
		wg.Go(func() {
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				id := fmt.Sprintf("d2d-%d-%d", i, n)
				d2dSent.Add(1)
				results, code, err := phones[i].sendD2D(id, "tv")
				switch {
				case err != nil:
					hung.Add(1)
					t.Errorf("%s: %v", id, err)
					return
				case code != "":
					record("d2d", protocol.Status("error:"+string(code)), id, victims[i])
				default:
					record("d2d", results[0].Status, id, victims[i])
				}
				time.Sleep(20 * time.Millisecond)
			}
		})
	}

	waitFor(t, "load before the kill", func() bool { return next.Load() >= int64(pushes/3) })
	killedAt.Store(time.Now().UnixNano())
	e2.Kill()
	waitFor(t, "the devices of the killed edge to notice", func() bool {
		for _, v := range victims {
			if v.connected() {
				return false
			}
		}
		return true
	})
	movedAt.Store(time.Now().UnixNano())
	for _, v := range victims {
		if err := v.connect(e1.Addr); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, "the pushes", func() bool { return next.Load() > int64(pushes) })
	waitFor(t, "a delivery after the kill", func() bool { return recovered.Load() != 0 })
	close(stop)
	wg.Wait()

	statusMu.Lock()
	defer statusMu.Unlock()
	lost := neverReceived(t, expect)
	ad, ar, al := async.settle(t)
	syncSent := int64(pushes) - async.sent + d2dSent.Load()
	f := &figures{Scenario: "edge-kill", Sent: syncSent + async.sent, Accepted: syncSent + int64(len(async.accepted)),
		Delivered: int64(len(expect)-len(lost)) + ad, Reported: syncSent - int64(len(expect)) + ar,
		Lost: int64(len(lost)) + al + hung.Load(), Recovery: time.Duration(recovered.Load() - killedAt.Load())}
	f.add("devices", devices)
	f.add("async_sent", async.sent)
	f.add("async_accepted", len(async.accepted))
	f.add("async_delivered", ad)
	f.add("async_reported", ar)
	f.add("async_refused", fmt.Sprint(async.refused))
	f.add("d2d_sent", d2dSent.Load())
	f.add("hung", hung.Load())
	f.add("statuses", fmt.Sprint(statuses))
	report(t, f)
}
