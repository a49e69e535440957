package main

import (
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestRedisClusterEndToEnd runs two edges and an API process of `herald
// serve` on a Redis Cluster of three masters with a replica each, each
// process seeded with other nodes (the API with a replica only): the
// registry's, the inbox's and the topics' keys spread over the three masters.
// A push reaches a device on either edge, a device messages a sibling on the
// other edge, a push to an offline device is stored and delivered when it
// connects, and a topic publish reaches subscribers on both edges; after a
// master is killed and its replica promoted, both edges register their
// devices again, and pushes and publishes recover.
func TestRedisClusterEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rc := testenv.StartRedisCluster(t, testenv.ClusterOptions{Masters: 3, Replicas: 1})
	common := []string{"--postgres-url", pg, "--redis-prefix", "rcluster:", "--cluster-key", clusterKey}
	edgeArgs := func(id, seeds string) []string {
		return append([]string{"--roles=edge", "--edge-id", id, "--redis-addr", seeds, "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret,
			"--heartbeat-interval", "500ms"}, common...)
	}
	e1 := startProc(t, "edge-1", edgeArgs("edge-1", rc.Masters[0].Addr)...)
	e2 := startProc(t, "edge-2", append(edgeArgs("edge-2", rc.Masters[1].Addr+","+rc.Masters[2].Addr), "--edge-ttl", "2s")...)
	// The test cluster's node timeout is 1 s: 2 s of edge TTL cannot outlast
	// a failover, the default 15 s can.
	const ttlWarning = "--edge-ttl is shorter than the Redis Cluster's cluster-node-timeout"
	if !strings.Contains(e2.Logs(), ttlWarning) || strings.Contains(e1.Logs(), ttlWarning) {
		t.Errorf("the edge TTL warning: edge-2 (2s) warned %v, edge-1 (15s) warned %v",
			strings.Contains(e2.Logs(), ttlWarning), strings.Contains(e1.Logs(), ttlWarning))
	}
	api := startProc(t, "api", append([]string{"--roles=api", "--edge-id", "api-1", "--api-keys", clusterAPIKey, "--redis-addr", rc.Replicas[2].Addr}, common...)...)

	// Sync pushes to devices of several accounts on both edges: their
	// records hash to different masters.
	var devices []*clusterDevice
	accounts := []string{"a1", "a2", "a3", "a4", "a5", "a6"}
	for i, a := range accounts {
		e := []*proc{e1, e2}[i%2]
		devices = append(devices, dialDevice(t, e.addr, a, "tv1"))
	}
	for i, a := range accounts {
		if r := push(t, api.addr, a, "tv1"); r.Status != protocol.StatusDelivered {
			t.Fatalf("push to %s/tv1: %+v", a, r)
		}
		if m, ok := devices[i].next(t).(*protocol.Msg); !ok || m.Type != "notification.v1" {
			t.Fatalf("%s/tv1 got %#v", a, m)
		}
	}

	// Device to device: a phone on edge 1 controls the tv of its account on
	// edge 2, with an ack.
	phone := dialDevice(t, e1.addr, "a2", "phone1")
	tv := devices[1] // a2/tv1 on edge 2
	phone.send(t, &protocol.Msg{ID: "p1", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Ack: true,
		Payload: []byte(`{"action":"seek","position_ms":1000}`)})
	if m := nextOf[*protocol.Msg](t, tv); m.ID != "p1" || m.From == nil || m.From.Device != "phone1" {
		t.Fatalf("tv got %+v", m)
	}
	if r := nextOf[*protocol.Receipt](t, phone); r.Results[0].Status != protocol.StatusDelivered {
		t.Fatalf("first receipt %+v", r)
	}
	tv.send(t, &protocol.Ack{ID: "p1"})
	if r := nextOf[*protocol.Receipt](t, phone); r.Results[0].Status != protocol.StatusAcked {
		t.Fatalf("second receipt %+v", r)
	}

	// A push to an offline device is stored in its inbox and delivered right
	// after the welcome when it connects, to the other edge.
	stored := dialDevice(t, e1.addr, "a3", "tab1")
	_ = stored.c.Close(websocket.StatusNormalClosure, "")
	eventuallyStatus(t, api.addr, "a3", "tab1", protocol.StatusOffline, 10*time.Second)
	code, body := apiCall(t, api.addr, "POST", "/v1/push", `{"to":{"account":"a3","device":"tab1"},"type":"notification.v1","payload":{"title":"stored"}}`)
	if code != 200 || !strings.Contains(body, `"queued"`) {
		t.Fatalf("push to an offline device: %d %s, want queued", code, body)
	}
	stored = dialDevice(t, e2.addr, "a3", "tab1")
	if m, ok := stored.next(t).(*protocol.Msg); !ok || m.Seq == 0 || !strings.Contains(string(m.Payload), "stored") {
		t.Fatalf("after the welcome got %#v, want the stored push", m)
	}

	// A topic publish reaches subscribers of several accounts on both edges.
	all := []string{"*"}
	subs := []*clusterDevice{
		dialTopics(t, e1.addr, "a4", "tab1", all, "news.sports"),
		dialTopics(t, e2.addr, "a5", "tab1", all, "news.sports"),
		dialTopics(t, e2.addr, "a6", "tab1", all, "news.sports"),
	}
	res := publishTo(t, api.addr, "news.sports", "goal")
	if res.Edges != 2 || res.Devices != 3 || res.Dropped != 0 || len(res.Failed) != 0 {
		t.Fatalf("publish reached %+v, want 2 edges and 3 devices", res)
	}
	for _, d := range subs {
		if m := nextOf[*protocol.Msg](t, d); m.Topic != "news.sports" || !strings.Contains(string(m.Payload), "goal") {
			t.Fatalf("subscriber got %+v", m)
		}
	}

	for _, m := range rc.Masters {
		if n, err := rc.Do(m, "DBSIZE"); err != nil || n == "0" {
			t.Errorf("master %s holds %s keys (%v): Herald's keys should spread over every master", m.Addr, n, err)
		}
		// What was written reached the replica, so the failover below loses
		// no registration: what it tests is that the processes find the
		// promoted replica.
		if got, err := rc.Do(m, "WAIT", "1", "5000"); err != nil || got != "1" {
			t.Fatalf("WAIT on %s = %s, %v; want 1 replica", m.Addr, got, err)
		}
	}

	// A master dies and its replica takes over:
	// pushes to every account, whichever master holds it, and a publish
	// recover by themselves.
	const reregistered = "re-registered held devices"
	before := []int{strings.Count(e1.Logs(), reregistered), strings.Count(e2.Logs(), reregistered)}
	killed := time.Now()
	rc.KillMaster(rc.Masters[0])
	promoted := time.Since(killed)
	for _, a := range accounts {
		eventuallyStatus(t, api.addr, a, "tv1", protocol.StatusDelivered, 20*time.Second)
	}
	t.Logf("replica promoted %v after the kill, every push delivered again after %v", promoted.Round(time.Millisecond), time.Since(killed).Round(time.Millisecond))
	// The failover may have lost registrations the dead master had not passed
	// on: each edge registers its devices again. Here either of two things
	// tells it to: a heartbeat failed with CLUSTERDOWN, which every master
	// answers until the replica is promoted, or one saw the masters changed
	// (registry.TestRedisClusterFailover tests that alone).
	for i, e := range []*proc{e1, e2} {
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(e.Logs(), reregistered) == before[i] {
			if time.Now().After(deadline) {
				t.Fatalf("edge-%d did not register its devices again after the failover:\n%s", i+1, e.Logs())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res := publishTo(t, api.addr, "news.sports", "after the failover")
		if res.Edges == 2 && res.Devices == 3 && len(res.Failed) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("publish after the failover reached %+v, want 2 edges and 3 devices", res)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
