package faults

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestFaultRedisClusterFailover runs two edges and an API process on a Redis
// Cluster of three masters with a replica each; devices of many accounts, whose
// keys spread over the three masters, are connected to both edges, and workers
// make sync pushes to them through the API process. Mid-load a master is killed
// (SIGKILL) and its replica promoted. A push answered delivered must have
// arrived; one answered with another status or refused (503) during the
// failover was told; one without an answer is lost. Recovery is the time from
// the kill to the first push answered delivered after the last push that was
// not.
func TestFaultRedisClusterFailover(t *testing.T) {
	accounts := size(24, 300)
	before, after := size(300, 5000), size(300, 5000)
	rc := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, Replicas: 1})
	c := &cluster{t: t, pg: testenv.Postgres(t)}
	c.common = []string{"--postgres-url", c.pg, "--redis-prefix", "faults:",
		"--cluster-key", clusterKey, "--token-secret", tokenSecret, "--api-keys", "backend:" + apiKey,
		"--edge-ttl", "2s", "--heartbeat-interval", "500ms", "--msg-rate", "100000", "--msg-burst", "100000",
		"--log-level", "info"}
	// Each process is seeded with other nodes, the API process with a replica
	// only, as in cmd/herald's TestRedisClusterEndToEnd.
	e1 := c.edge("edge-1", "", "", "--roles=edge", "--redis-addr", rc.Masters[0].Addr)
	e2 := c.edge("edge-2", "", "", "--roles=edge", "--redis-addr", rc.Masters[1].Addr+","+rc.Masters[2].Addr)
	api := c.start("api", "--roles=api", "--edge-id", "api-1", "--redis-addr", rc.Replicas[2].Addr)
	var peers []*peer
	for i := range accounts {
		p := newPeer(t, fmt.Sprint("rc", i), "tv")
		if err := p.connect([]string{e1.Addr, e2.Addr}[i%2]); err != nil {
			t.Fatal(err)
		}
		peers = append(peers, p)
	}
	// Every device is reachable before the load, and the registrations reached
	// the replicas, so that the failover itself loses none of them.
	for _, p := range peers {
		waitFor(t, p.account+"/tv registered", func() bool {
			r, _, err := push(api.Addr, p.account, p.id, 2000, nil)
			return err == nil && r.Status == protocol.StatusDelivered
		})
	}
	for _, m := range rc.Masters {
		if n, err := rc.Do(m, "DBSIZE"); err != nil || n == "0" {
			t.Fatalf("master %s holds %s keys (%v): the accounts should spread over every master", m.Addr, n, err)
		}
		if got, err := rc.Do(m, "WAIT", "1", "5000"); err != nil || got != "1" {
			t.Fatalf("WAIT on %s = %s, %v; want 1 replica", m.Addr, got, err)
		}
	}

	type answer struct {
		at     time.Time
		status string
	}
	var (
		next     atomic.Int64
		limit    atomic.Int64
		mu       sync.Mutex
		statuses = map[string]int{}
		expect   = map[string]*peer{}
		answers  []answer
		told     int64
		noAnswer int64
	)
	limit.Store(1 << 40) // until the failover is over
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > limit.Load() {
					return
				}
				p := peers[int(i)%accounts]
				body := notification(p.account, p.id, map[string]any{"timeout_ms": 2000, "ttl": 0})
				var out struct {
					ID      string            `json:"id"`
					Results []protocol.Result `json:"results"`
				}
				code, err := restCall(api.Addr, http.MethodPost, "/v1/push", body, &out)
				now := time.Now()
				mu.Lock()
				switch {
				case err != nil && code == 0:
					noAnswer++
					t.Errorf("push %d to %s/%s: no answer: %v", i, p.account, p.id, err)
				case code != http.StatusOK || len(out.Results) != 1:
					told++
					statuses[fmt.Sprint(code)]++
					answers = append(answers, answer{now, fmt.Sprint(code)})
				default:
					s := out.Results[0].Status
					if e := out.Results[0].Error; e != "" {
						statuses[string(s)+"/"+e]++
					} else {
						statuses[string(s)]++
					}
					answers = append(answers, answer{now, string(s)})
					if s == protocol.StatusDelivered {
						expect[out.ID] = p
					} else {
						told++
					}
				}
				mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		})
	}
	waitFor(t, "load before the kill", func() bool { return next.Load() >= int64(before) })
	killed := time.Now()
	rc.KillMaster(rc.Masters[0])
	promoted := time.Since(killed)
	// The load goes on for after more pushes and, past them, until ten
	// answers in a row were delivered, at most bound: on a loaded machine the
	// edges may take longer than after pushes to register again.
	base := next.Load()
	deadline := time.Now().Add(bound)
	for time.Now().Before(deadline) {
		mu.Lock()
		n := len(answers)
		again := next.Load() >= base+int64(after) && n >= 10 && !slices.ContainsFunc(answers[n-10:], func(a answer) bool {
			return a.status != string(protocol.StatusDelivered)
		})
		mu.Unlock()
		if again {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	limit.Store(next.Load())
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	sent := int64(len(answers)) + noAnswer
	lost := neverReceived(t, expect)
	// Recovery: from the kill to the first delivered answer after the last
	// answer that was not delivered.
	var lastBad time.Time
	for _, a := range answers {
		if a.at.After(killed) && a.status != string(protocol.StatusDelivered) && a.at.After(lastBad) {
			lastBad = a.at
		}
	}
	var firstBad time.Time
	for _, a := range answers {
		if a.at.After(killed) && a.status != string(protocol.StatusDelivered) && (firstBad.IsZero() || a.at.Before(firstBad)) {
			firstBad = a.at
		}
	}
	if lastBad.IsZero() {
		lastBad, firstBad = killed, killed
	}
	var recovered time.Time
	for _, a := range answers {
		if a.at.After(lastBad) && a.status == string(protocol.StatusDelivered) && (recovered.IsZero() || a.at.Before(recovered)) {
			recovered = a.at
		}
	}
	if recovered.IsZero() {
		t.Errorf("no push was delivered after the failover: %v", statuses)
		recovered = lastBad
	}
	f := &figures{Scenario: "redis-cluster-failover", Sent: sent, Accepted: sent, Delivered: int64(len(expect)),
		Reported: told, Lost: int64(len(lost)) + noAnswer, Recovery: recovered.Sub(killed)}
	f.add("promoted", promoted.Round(time.Millisecond))
	f.add("told_from", firstBad.Sub(killed).Round(time.Millisecond))
	f.add("told_until", lastBad.Sub(killed).Round(time.Millisecond))
	f.add("longest_stall", stall(peers, killed).Round(time.Millisecond))
	f.add("statuses", strings.ReplaceAll(fmt.Sprint(statuses), " ", ","))
	report(t, f)
}
