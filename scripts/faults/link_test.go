package faults

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// resendAttempts bounds how often a sender resends a message whose receipt
// reported a failure, as the SDKs do.
const resendAttempts = 20

// TestFaultLinkCut cuts the link between two edges (a TCP proxy in front of
// edge-2's link listener) several times while a device on edge-1 sends device
// messages, and the REST API of edge-1 pushes, to a device on edge-2. Every
// message gets a receipt or a result: delivered ones reach the device, failed
// ones are reported and resent; none is silently dropped.
func TestFaultLinkCut(t *testing.T) {
	total := size(400, 20000)
	const cuts = 3
	c := newCluster(t)
	internal := testenv.FreeAddr(t)
	proxy := testenv.StartProxy(t, internal)
	e1 := c.edge("edge-1", "", "")
	e2 := c.edge("edge-2", internal, proxy.Addr)

	tv := newPeer(t, "a1", "tv1")
	if err := tv.connect(e2.Addr); err != nil {
		t.Fatal(err)
	}
	phone := newPeer(t, "a1", "phone1")
	if err := phone.connect(e1.Addr); err != nil {
		t.Fatal(err)
	}

	var (
		next      atomic.Int64 // messages started
		attempts  atomic.Int64 // sends, with resends
		reported  atomic.Int64 // failures reported by a receipt, an error frame or a push result
		failed    atomic.Int64 // messages still failed after every resend
		noAnswer  atomic.Int64 // sends without any answer: silent drops
		mu        sync.Mutex
		delivered = map[string]bool{} // guarded by mu: ids reported delivered
		okAt      []time.Time         // guarded by mu: when each delivered result came
	)
	work := func(kind string, i int) {
		id := fmt.Sprintf("%s-%06d", kind, i)
		for range resendAttempts {
			attempts.Add(1)
			var status protocol.Status
			switch kind {
			case "d2d":
				results, code, err := phone.sendD2D(id, "tv1")
				switch {
				case err != nil:
					noAnswer.Add(1)
					t.Errorf("%s: %v", id, err)
					return
				case code != "":
					status = protocol.Status("error:" + string(code))
				default:
					status = results[0].Status
				}
			case "push":
				r, pid, err := push(e1.Addr, "a1", "tv1", 2000, nil)
				if err != nil {
					noAnswer.Add(1)
					t.Errorf("%s: %v", id, err)
					return
				}
				id, status = pid, r.Status
			}
			if status == protocol.StatusDelivered || status == protocol.StatusAcked {
				mu.Lock()
				delivered[id] = true
				okAt = append(okAt, time.Now())
				mu.Unlock()
				return
			}
			reported.Add(1)
			time.Sleep(50 * time.Millisecond)
		}
		failed.Add(1)
	}
	var wg sync.WaitGroup
	for w := range 4 {
		kind := "d2d"
		if w == 3 {
			kind = "push"
		}
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > total {
					return
				}
				work(kind, i)
			}
		})
	}
	var cutAt []time.Time
	for k := 1; k <= cuts; k++ {
		waitFor(t, "progress before a cut", func() bool { return next.Load() >= int64(total*k/(cuts+1)) })
		proxy.Stop()
		time.Sleep(100 * time.Millisecond)
		proxy.Start()
		cutAt = append(cutAt, time.Now())
	}
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	ids := make([]string, 0, len(delivered))
	for id := range delivered {
		ids = append(ids, id)
	}
	missing := func() []string {
		var out []string
		for _, id := range ids {
			if tv.received(id) == 0 {
				out = append(out, id)
			}
		}
		return out
	}
	deadline := time.Now().Add(bound)
	for len(missing()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	lost := missing()
	dups := 0
	for _, id := range ids {
		if n := tv.received(id); n > 1 {
			dups += n - 1
		}
	}
	// Recovery: from each restore of the link to the first delivered result
	// after it.
	slices.SortFunc(okAt, func(a, b time.Time) int { return a.Compare(b) })
	var recovery time.Duration
	for _, at := range cutAt {
		i, _ := slices.BinarySearchFunc(okAt, at, func(a, b time.Time) int { return a.Compare(b) })
		if i < len(okAt) {
			recovery = max(recovery, okAt[i].Sub(at))
		}
	}
	f := &figures{Scenario: "link-cut", Sent: int64(total), Accepted: int64(total), Delivered: int64(len(ids) - len(lost)),
		Reported: failed.Load(), Lost: int64(len(lost)) + noAnswer.Load(), Recovery: recovery}
	f.add("cuts", cuts)
	f.add("sends", attempts.Load())
	f.add("failure_receipts", reported.Load())
	f.add("duplicates", dups)
	report(t, f)
	if len(lost) > 0 {
		t.Errorf("%d messages reported delivered never reached the device, e.g. %v", len(lost), lost[:min(5, len(lost))])
	}
}
