package faults

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
)

// TestFaultProcessorKill kills one of two processors with SIGKILL while
// asynchronous messages flow: the other takes its partitions over, and every
// accepted message is delivered at least once. Recovery is the longest time no
// new message arrived at any device after the kill.
func TestFaultProcessorKill(t *testing.T) {
	total := size(600, 20000)
	e, p1 := startProcessorPair(t)
	peers := accountPeers(t, e.Addr, 10)
	async := newAsyncLog(e.Addr)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > total {
					return
				}
				async.send(peers[i%len(peers)])
			}
		})
	}
	waitFor(t, "load before the kill", func() bool { return next.Load() >= int64(total/3) })
	killed := time.Now()
	p1.Kill()
	wg.Wait()
	delivered, reported, lost := async.settle(t)
	f := &figures{Scenario: "processor-kill", Sent: async.sent, Accepted: int64(len(async.accepted)), Delivered: delivered,
		Reported: reported, Lost: lost + async.errs, Recovery: stall(peers, killed)}
	f.add("refused", fmt.Sprint(async.refused))
	report(t, f)
}

// TestFaultProcessorKillBatch is TestFaultProcessorKill with the messages sent
// in batches of 50 through POST /v1/messages/batch: a message whose result
// carries an id is accepted and must be delivered at least once after one of
// the two processors is killed (SIGKILL); one whose result carries a problem,
// or whose batch was refused as a whole, was not accepted and its sender knows.
// Recovery is as in TestFaultProcessorKill; tail is the time from the answer
// to the last batch to the last arrival: how long the takeover held messages
// back past the load.
func TestFaultProcessorKillBatch(t *testing.T) {
	const batch = 50
	total := size(600, 20000)
	e, p1 := startProcessorPair(t)
	peers := accountPeers(t, e.Addr, 10)
	async := newAsyncLog(e.Addr)
	var next, batches atomic.Int64 // messages handed to senders; batches posted
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				first := int(next.Add(batch)) - batch
				if first >= total {
					return
				}
				to := make([]target, min(batch, total-first))
				for j := range to {
					to[j] = peers[(first+j)%len(peers)]
				}
				async.sendBatch(to)
				batches.Add(1)
			}
		})
	}
	waitFor(t, "load before the kill", func() bool { return next.Load() >= int64(total/3) })
	killed := time.Now()
	p1.Kill()
	wg.Wait()
	answered := time.Now()
	delivered, reported, lost := async.settle(t)
	f := &figures{Scenario: "processor-kill-batch", Sent: async.sent, Accepted: int64(len(async.accepted)), Delivered: delivered,
		Reported: reported, Lost: lost + async.errs, Recovery: stall(peers, killed)}
	f.add("load_after_kill", answered.Sub(killed).Round(time.Millisecond))
	f.add("tail", max(0, lastArrival(peers).Sub(answered)).Round(time.Millisecond))
	f.add("batches", batches.Load())
	f.add("batch_size", batch)
	f.add("refused", fmt.Sprint(async.refused))
	report(t, f)
}

// startProcessorPair starts, on a Kafka cluster of its own, an edge that
// serves the API and two processors, waits until both processors are in
// their groups, and returns the edge and the first processor.
func startProcessorPair(t *testing.T) (edge, first *testenv.Herald) {
	t.Helper()
	c := newCluster(t, kafkaFlags(t)...)
	edge = c.edge("edge-1", "", "")
	first = c.start("processor-1", "--roles=processor", "--edge-id", "processor-1")
	c.start("processor-2", "--roles=processor", "--edge-id", "processor-2")
	waitGroups(t, 2)
	return edge, first
}

// accountPeers connects device "dev" of each of the n accounts acct0 to
// acct<n-1> to the edge at addr.
func accountPeers(t *testing.T, addr string, n int) []*peer {
	t.Helper()
	peers := make([]*peer, n)
	for i := range peers {
		peers[i] = newPeer(t, fmt.Sprint("acct", i), "dev")
		if err := peers[i].connect(addr); err != nil {
			t.Fatal(err)
		}
	}
	return peers
}

// lastArrival returns when the last message reached any of peers.
func lastArrival(peers []*peer) time.Time {
	var last time.Time
	for _, p := range peers {
		p.mu.Lock()
		for _, a := range p.recvAt {
			if a.After(last) {
				last = a
			}
		}
		p.mu.Unlock()
	}
	return last
}
