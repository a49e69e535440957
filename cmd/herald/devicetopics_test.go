package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestPersistentTopicsCluster subscribes a device to topics over REST on an
// API process of a cluster of two edges (separate `herald serve` processes on
// one Redis and one Postgres): the device holds them once it has its welcome,
// on either edge, with a token that grants no topic; a subscription added or
// removed over REST while it is connected reaches its edge without a
// reconnect.
func TestPersistentTopicsCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "ptopics:", "--cluster-key", clusterKey}
	var edges []*proc
	for _, id := range []string{"edge-1", "edge-2"} {
		edges = append(edges, startProc(t, id, append([]string{"--roles=edge", "--edge-id", id, "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)...))
	}
	api := startProc(t, "api", append([]string{"--roles=api", "--edge-id", "api-1", "--api-keys", clusterAPIKey}, common...)...)

	call := func(method, path, body string, want int) {
		t.Helper()
		if code, out := apiCall(t, api.addr, method, path, body); code != want {
			t.Fatalf("%s %s: %d %s, want %d", method, path, code, out, want)
		}
	}
	const dev = "/v1/accounts/a1/devices/tv1"
	call(http.MethodPut, dev, `{"platform":"tv"}`, http.StatusCreated)
	call(http.MethodPut, dev+"/topics/news.sports", "", http.StatusCreated)

	// The token has no topics claim: the backend's subscription holds anyway.
	first := dialDevice(t, edges[0].addr, "a1", "tv1")
	res := publishTo(t, api.addr, "news.sports", "on edge 1")
	if res.Edges != 1 || res.Devices != 1 || len(res.Failed) != 0 {
		t.Fatalf("publish reached %+v, want the device on edge 1", res)
	}
	if m := nextOf[*protocol.Msg](t, first); m.Topic != "news.sports" || !strings.Contains(string(m.Payload), "on edge 1") {
		t.Fatalf("device got %+v", m)
	}

	// The device moves to edge 2; its older connection is replaced.
	moved := dialDevice(t, edges[1].addr, "a1", "tv1")
	if code := first.closeCode(t); code != 4000 {
		t.Fatalf("the older connection closed with %d, want 4000 (replaced)", code)
	}
	res = publishTo(t, api.addr, "news.sports", "on edge 2")
	if res.Devices != 1 || len(res.Failed) != 0 {
		t.Fatalf("publish after the move reached %+v, want one device", res)
	}
	if m := nextOf[*protocol.Msg](t, moved); !strings.Contains(string(m.Payload), "on edge 2") {
		t.Fatalf("moved device got %s", m.Payload)
	}

	// Added while connected: edge 2 applies it without a reconnect, within a
	// link frame and one read of the device list.
	call(http.MethodPut, dev+"/topics/scores", "", http.StatusCreated)
	waitFor(t, "edge 2 to hold two subscriptions", func() bool {
		return strings.Contains(scrape(t, edges[1].admin), "herald_edge_topic_subscriptions 2\n")
	})
	if res := publishTo(t, api.addr, "scores", "goal"); res.Devices != 1 {
		t.Fatalf("publish to the added topic reached %+v, want one device", res)
	}
	if m := nextOf[*protocol.Msg](t, moved); m.Topic != "scores" {
		t.Fatalf("device got %+v, want the scores message", m)
	}

	// Removed while connected: delivery stops without a reconnect.
	call(http.MethodDelete, dev+"/topics/news.sports", "", http.StatusNoContent)
	waitFor(t, "edge 2 to hold one subscription", func() bool {
		return strings.Contains(scrape(t, edges[1].admin), "herald_edge_topic_subscriptions 1\n")
	})
	if res := publishTo(t, api.addr, "news.sports", "after the delete"); res.Devices != 0 {
		t.Fatalf("publish after the delete reached %+v, want no device", res)
	}
	// The next message the device reads is a push to it, not the publish.
	if code, body := apiCall(t, api.addr, http.MethodPost, "/v1/push", `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"direct"}}`); code != http.StatusOK {
		t.Fatalf("push: %d %s", code, body)
	}
	if m := nextOf[*protocol.Msg](t, moved); m.Topic != "" || !strings.Contains(string(m.Payload), "direct") {
		t.Fatalf("device got %+v first, want the direct push: it left news.sports", m)
	}
}

// TestPersistentTopicsDev is the README's try on `herald dev`: a listener
// without --topics, subscribed by a PUT with the development API key while
// it is connected, prints what `herald publish` sends to the topic.
func TestPersistentTopicsDev(t *testing.T) {
	if testing.Short() {
		t.Skip("starts herald dev")
	}
	dev := mustDev(t)
	l := startListen(t, dev.base, "tv1")
	waitFor(t, "the listener's welcome", func() bool { return l.count(protocol.KindWelcome, nil) == 1 })
	req, _ := http.NewRequest(http.MethodPut, dev.base+"/v1/accounts/a1/devices/tv1/topics/news.sports", nil)
	req.Header.Set("Authorization", "Bearer dev-api-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("PUT: %s", resp.Status)
	}
	// One process: the subscription was applied before the PUT answered.
	r := runCmd(t, t.Context(), "publish", "--url", dev.base, "--topic", "news.sports", "--type", "notification.v1", "--payload", `{"title":"Goal!"}`)
	if r.code != 0 || !strings.Contains(r.stdout, `"devices":1`) {
		t.Fatalf("herald publish: %d %s %s", r.code, r.stdout, r.stderr)
	}
	waitFor(t, "the published message", func() bool {
		return l.count(protocol.KindMsg, func(f protocol.Frame) bool {
			return f.(*protocol.Msg).Topic == "news.sports"
		}) == 1
	})
}
