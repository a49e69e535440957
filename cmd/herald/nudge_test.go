package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/scripts/testenv"
)

// TestClusterNudge runs two edges and an API process of `herald serve` on one
// Redis. A device connected to edge 2 has its inbox read already when a
// message lands there, as a writer's put does when it lost the race with the
// device's connect. The message waits (a live push overtakes it) until the
// writer's nudge, sent the way the API and the processor send it (an
// edge.Router on the registry, over a link to the edge that holds the
// device), makes edge 2 read the inbox again: the message then arrives on the
// same connection, once.
func TestClusterNudge(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	const prefix = "nudge-test:"
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", prefix, "--cluster-key", clusterKey}
	edgeArgs := func(id string) []string {
		return append([]string{"--roles=edge", "--edge-id", id, "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}, common...)
	}
	startProc(t, "edge-1", edgeArgs("edge-1")...)
	e2 := startProc(t, "edge-2", edgeArgs("edge-2")...)
	api := startProc(t, "api", append([]string{"--roles=api", "--api-keys", clusterAPIKey}, common...)...)

	tv := dialDevice(t, e2.addr, "a1", "tv1")

	// The writer's put, after the edge read the (empty) inbox.
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{rd.Addr}, DisableCache: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(client.Close)
	box, err := inbox.NewRedis(inbox.RedisConfig{Client: client, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	put, err := box.Put(ctx, inbox.Message{
		ID: "late1", Account: "a1", Device: "tv1", Type: "notification.v1", From: `{"service":"backend"}`,
		Payload: []byte(`{"title":"late"}`), Expires: time.Now().Add(time.Hour), Enqueued: time.Now(),
	})
	if err != nil {
		t.Fatal(err)
	}

	// Without a nudge it waits: a live push goes first.
	if res := push(t, api.addr, "a1", "tv1"); res.Status != protocol.StatusDelivered {
		t.Fatalf("live push: %+v, want delivered", res)
	}
	if m, ok := tv.next(t).(*protocol.Msg); !ok || m.ID == "late1" {
		t.Fatalf("got %+v, want the live push", m)
	}

	reg, err := registry.NewRedis(registry.RedisConfig{Addrs: []string{rd.Addr}, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(reg.Close)
	links, err := edge.NewLinks(edge.LinksConfig{Addresses: reg, ClusterKey: clusterKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(links.Close)
	router := &edge.Router{Registry: reg, Links: links}
	if err := router.Nudge(ctx, "a1", "tv1"); err != nil {
		t.Fatalf("nudge: %v", err)
	}
	m, ok := tv.next(t).(*protocol.Msg)
	if !ok || m.ID != "late1" || m.Seq != put.Seq {
		t.Fatalf("after the nudge got %+v, want the stored message late1 (seq %d)", m, put.Seq)
	}
	waitFor(t, "the delivered message to leave the inbox", func() bool {
		st, err := box.Stats(ctx, "a1", "tv1")
		return err == nil && st.Messages == 0
	})
	if got := scrape(t, e2.admin); !strings.Contains(got, `herald_inbox_nudges_total{result="read"} 1`+"\n") {
		t.Errorf("edge 2 does not count the nudge it read:\n%s", grepLines(got, "herald_inbox_nudges_total"))
	}

	// A nudge for a device not connected anywhere sends nothing.
	if err := router.Nudge(ctx, "a1", "nobody"); err != nil {
		t.Fatalf("nudge of a device not connected: %v", err)
	}
	// The same connection still carries the next live push.
	if res := push(t, api.addr, "a1", "tv1"); res.Status != protocol.StatusDelivered {
		t.Fatalf("live push after the nudge: %+v", res)
	}
	if m, ok := tv.next(t).(*protocol.Msg); !ok || m.ID == "late1" {
		t.Fatalf("got %+v, want the second live push and not the stored message again", m)
	}
}
