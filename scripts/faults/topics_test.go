package faults

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestFaultTopicsRedisRestart kills the Redis of the registry and the topic
// logs (SIGKILL) and starts it again on the same port, with its data
// (appendfsync always), while a publish storm goes through an API process to
// subscribers on two edges: Go SDK devices whose connections the edges end
// every 1 to 3 s (lifetime), so that they subscribe again, with their cursors,
// all through the run. The outage is longer than the edges' TTL, so their
// liveness keys come back expired and the first publishes after the restart
// find no edge listed. Every publish answered 200 with a seq and no failed
// edge must reach every subscriber, live or through a catch-up (the device's
// own after a reconnect, or the edge's after it was missing from the topic
// directory, docs/design.md, "Topics"); an edge in failed lets its
// subscribers miss it (reported), and so does an answer without a seq that
// counts fewer devices than subscribe (not logged); a 503 or any other status
// is told; no app gets a message twice. Recovery is the time from the restart
// to the first publish answered by both edges.
func TestFaultTopicsRedisRestart(t *testing.T) { topicsRedisRestart(t, true) }

// TestFaultTopicsRedisRestartEmpty is TestFaultTopicsRedisRestart on a Redis
// without persistence: the restart empties the topic directory and the logs.
// What a device missed before the kill and had not caught up on is gone with
// the log; the scenario counts those apart (lost_by_store), and fails on any
// other loss.
func TestFaultTopicsRedisRestartEmpty(t *testing.T) { topicsRedisRestart(t, false) }

// topicsRedisRestart runs the topic Redis restart scenario on a durable Redis
// or on one that restarts empty.
func topicsRedisRestart(t *testing.T, durable bool) {
	perEdge, rate := size(10, 30), size(40, 60)
	warm := time.Duration(size(3, 10)) * time.Second
	down := time.Duration(size(3, 10)) * time.Second
	after := time.Duration(size(4, 20)) * time.Second

	rd := testenv.StartRedisWith(t, testenv.RedisOptions{Durable: durable})
	c := newClusterWith(t, testenv.Postgres(t), rd, topicBounds...)
	lifetime := []string{"--min-lifetime", "1s", "--max-lifetime", "3s", "--reconnect-grace", "5s"}
	e1 := c.edge("edge-1", "", "", lifetime...)
	e2 := c.edge("edge-2", "", "", lifetime...)
	api := c.start("api", "--roles=api", "--edge-id", "api-1")
	subs := startSubscribers(t, "tr", perEdge, []string{e1.Addr, e2.Addr})

	log := &publishLog{}
	stop := make(chan struct{})
	wait := log.storm(api.Addr, rate, stop)
	began := time.Now()
	time.Sleep(warm)
	killed := time.Now()
	rd.Stop()
	time.Sleep(down)
	rd.Start()
	restarted := time.Now()
	t.Logf("killed at %s, restarted at %s", killed.Format("15:04:05.000"), restarted.Format("15:04:05.000"))
	time.Sleep(after)
	close(stop)
	wait()
	stormed := time.Since(began)

	// Both edges advertise every topic again by themselves.
	for _, topic := range stormTopics {
		waitFor(t, "both edges listed for "+topic, func() bool {
			var out protocol.TopicSubscribers
			code, err := restCall(api.Addr, http.MethodGet, "/v1/topics/"+topic, nil, &out)
			return err == nil && code == http.StatusOK && len(out.Edges) == 2
		})
	}
	var inStore func(p *topicPublish) bool
	if !durable {
		// What the log held at the kill: a device that had not got it by
		// then cannot catch up on it any more.
		inStore = func(p *topicPublish) bool { return p.asked.Before(killed) }
	}
	tl := tallyTopics(t, log, subs, 2, inStore)
	var recovered time.Time
	window := map[string]int{}
	log.mu.Lock()
	for _, p := range log.pubs {
		w := "before"
		switch {
		case p.answered.After(restarted):
			w = "after"
			if p.code == http.StatusOK && p.res.Edges == 2 && (recovered.IsZero() || p.answered.Before(recovered)) {
				recovered = p.answered
			}
		case p.answered.After(killed):
			w = "down"
		}
		key := fmt.Sprint(w, ":", p.code)
		if p.code == http.StatusOK {
			key += fmt.Sprint(":edges=", p.res.Edges, ":failed=", len(p.res.Failed), ":logged=", p.res.Seq != 0)
		}
		window[key]++
	}
	log.mu.Unlock()
	if recovered.IsZero() {
		t.Errorf("no publish reached both edges after Redis came back: %v", window)
	}
	if tl.told == 0 {
		t.Errorf("no publish was refused while Redis was down: the fault did not take: %v", window)
	}
	scenario := "topics-redis-restart"
	if !durable {
		scenario += "-empty"
	}
	f := &figures{Scenario: scenario, Sent: int64(tl.published), Accepted: int64(tl.ok),
		Delivered: int64(tl.delivered), Reported: int64(tl.told + tl.reported + tl.dropped + tl.unlogged),
		Lost: int64(tl.lost + tl.unanswered + tl.unlisted), Recovery: recovered.Sub(restarted)}
	f.add("subscribers", len(subs))
	f.add("topics", len(stormTopics))
	f.add("rate", rate)
	f.add("storm_seconds", stormed.Round(time.Millisecond).Seconds())
	f.add("outage", restarted.Sub(killed).Round(time.Millisecond))
	tl.add(f)
	f.add("answers", fmt.Sprint(window))
	report(t, f)
}

// TestFaultTopicsEdgeKill kills one of three edges (SIGKILL) during a publish
// storm through an API process to Go SDK subscribers on every edge. Every
// publish answered 200 with a seq and without the killed edge in failed must
// reach every subscriber of the surviving edges, and the killed edge's
// subscribers too once they are back; a publish that lists the killed edge in
// failed is reported for its subscribers. The killed edge's devices reconnect
// to the surviving edges and subscribe again with their cursors: what they
// get on those connections of what was published before is counted
// caught_up (the catch-up, or a publish still in flight). Recovery is the
// time from the kill to the first publish answered by both surviving edges
// without a failure.
func TestFaultTopicsEdgeKill(t *testing.T) {
	perEdge, rate := size(8, 30), size(40, 60)
	warm := time.Duration(size(3, 10)) * time.Second
	after := time.Duration(size(5, 20)) * time.Second

	c := newCluster(t, topicBounds...)
	e1 := c.edge("edge-1", "", "")
	e2 := c.edge("edge-2", "", "")
	e3 := c.edge("edge-3", "", "")
	api := c.start("api", "--roles=api", "--edge-id", "api-1")
	subs := startSubscribers(t, "tk", perEdge, []string{e1.Addr, e2.Addr, e3.Addr})
	victims := subs[2*perEdge:]

	log := &publishLog{}
	stop := make(chan struct{})
	wait := log.storm(api.Addr, rate, stop)
	began := time.Now()
	time.Sleep(warm)
	// The killed edge's devices connect to the survivors from now on.
	for i, v := range victims {
		v.dialTo([]string{e1.Addr, e2.Addr}[i%2])
	}
	killed := time.Now()
	e3.Kill()
	time.Sleep(after)
	close(stop)
	wait()
	stormed := time.Since(began)
	waitForSubscribed(t, subs)

	// Every subscriber is on a surviving edge: from now on a publish reaches
	// two edges, edge-3 having left the directory with its liveness key.
	tl := tallyTopics(t, log, subs, 2, nil)
	var recovered time.Time
	window := map[string]int{}
	var victimCaughtUp, victimReported, victimMissing int
	log.mu.Lock()
	for _, p := range log.pubs {
		w := "before"
		if p.answered.After(killed) {
			w = "after"
			if p.code == http.StatusOK && p.res.Edges == 2 && len(p.res.Failed) == 0 && (recovered.IsZero() || p.answered.Before(recovered)) {
				recovered = p.answered
			}
		}
		key := fmt.Sprint(w, ":", p.code)
		if p.code == http.StatusOK {
			key += fmt.Sprint(":edges=", p.res.Edges, ":failed=", strings.Join(p.failedEdges(), "+"))
		}
		window[key]++
		if p.code != http.StatusOK {
			continue
		}
		for _, v := range victims {
			_, later, ok := v.arrival(p.id, p.asked)
			switch {
			case ok && later:
				victimCaughtUp++
			case !ok && slices.Contains(p.failedEdges(), "edge-3"):
				victimReported++
			case !ok:
				victimMissing++
			}
		}
	}
	log.mu.Unlock()
	if recovered.IsZero() {
		t.Errorf("no publish reached both surviving edges after the kill: %v", window)
	}
	f := &figures{Scenario: "topics-edge-kill", Sent: int64(tl.published), Accepted: int64(tl.ok),
		Delivered: int64(tl.delivered), Reported: int64(tl.told + tl.reported + tl.dropped + tl.unlogged),
		Lost: int64(tl.lost + tl.unanswered + tl.unlisted), Recovery: recovered.Sub(killed)}
	f.add("subscribers", len(subs))
	f.add("victims", len(victims))
	f.add("topics", len(stormTopics))
	f.add("rate", rate)
	f.add("storm_seconds", stormed.Round(time.Millisecond).Seconds())
	tl.add(f)
	f.add("victim_caught_up", victimCaughtUp)
	f.add("victim_reported_missing", victimReported)
	f.add("victim_missing", victimMissing)
	f.add("answers", fmt.Sprint(window))
	report(t, f)
}
