package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

const regionKey = "region-test-key-0123456789"

// testRegion is one region of TestRegions: a Redis and a kfake cluster of its
// own, and one process with the edge (a gateway), API and processor roles.
type testRegion struct {
	name     string
	internal string // the gateway's internal address, chosen before start
	p        *proc
}

// startRegions starts one region per name, all sharing the Postgres at pg,
// each the peer of the others. extra is added to every region's arguments.
func startRegions(t *testing.T, pg string, names []string, extra ...string) map[string]*testRegion {
	t.Helper()
	regions := map[string]*testRegion{}
	for _, name := range names {
		regions[name] = &testRegion{name: name, internal: testenv.FreeAddr(t)}
	}
	topics := processor.Topics{Prefix: "regions-test."}
	for _, name := range names {
		r := regions[name]
		var peers []string
		for _, other := range names {
			if other != name {
				peers = append(peers, other+"="+regions[other].internal)
			}
		}
		rd := testenv.StartRedis(t)
		kafka := testenv.Kafka(t, 1, topics.All()...)
		args := []string{"--roles=edge,api,processor", "--edge-id", name + "-1", "--internal-addr", r.internal,
			"--postgres-url", pg, "--redis-addr", rd.Addr, "--cluster-key", clusterKey, "--token-secret", clusterSecret, "--api-keys", clusterAPIKey,
			"--kafka-brokers", strings.Join(kafka.ListenAddrs(), ","), "--kafka-topic-prefix", topics.Prefix, "--kafka-session-timeout", "2s",
			"--region", name, "--region-peers", strings.Join(peers, ","), "--region-key", regionKey, "--gateway",
			"--edge-ttl", "1s", "--heartbeat-interval", "200ms"}
		r.p = startProc(t, name, append(args, extra...)...)
	}
	return regions
}

// devicesOf reads GET /v1/accounts/{account}/devices: each device's online
// state and region.
func devicesOf(t *testing.T, apiAddr, account string) map[string]string {
	t.Helper()
	code, body := apiCall(t, apiAddr, http.MethodGet, "/v1/accounts/"+account+"/devices", "")
	if code != http.StatusOK {
		t.Fatalf("GET devices: %d %s", code, body)
	}
	var out struct {
		Devices []struct {
			ID     string `json:"id"`
			Online bool   `json:"online"`
			Region string `json:"region"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, d := range out.Devices {
		if d.Online != (d.Region != "") {
			t.Errorf("device %s: online %v in region %q", d.ID, d.Online, d.Region)
		}
		m[d.ID] = d.Region
	}
	return m
}

// TestRegions runs two regions on loopback, each with its own Redis, Kafka
// and processes and one shared Postgres: sync push, async push and device to
// device from one region reach a device in the other, with receipts, acks and
// one status per device; a device that moves is found in its new region; no
// message arrives twice.
func TestRegions(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rs := startRegions(t, pg, []string{"eu", "us"}, "--region-miss-ttl", "500ms")
	eu, us := rs["eu"].p, rs["us"].p

	tvConn := dialDevice(t, us.addr, "a1", "tv1")
	tv := collect(t, tvConn, "tv1")
	phone := dialDevice(t, eu.addr, "a1", "phone1")

	t.Run("sync push from eu to a device in us", func(t *testing.T) {
		r := push(t, eu.addr, "a1", "tv1")
		if r.Status != protocol.StatusDelivered || r.Device != "tv1" {
			t.Fatalf("push: %+v", r)
		}
	})
	t.Run("async push from eu, delivered and acked in us, one status", func(t *testing.T) {
		id := mustSend(t, eu.addr, asyncBody("a1", "tv1", `,"ack":true`))
		waitFor(t, "the async message on the tv", func() bool { n, _ := tv.received(id); return n > 0 })
		waitOutcome(t, eu.addr, id, "tv1", processor.Delivered)
		tvConn.send(t, &protocol.Ack{ID: id})
		waitOutcome(t, eu.addr, id, "tv1", processor.Acked)
		if st := statusOf(t, eu.addr, id); len(st.Devices) != 1 || st.Status != processor.Acked {
			t.Fatalf("status %+v, want one device, acked", st)
		}
	})
	t.Run("device to device from eu to us and back", func(t *testing.T) {
		phone.send(t, &protocol.Msg{ID: "d1", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Ack: true,
			Payload: json.RawMessage(`{"action":"pause"}`)})
		if r := nextOf[*protocol.Receipt](t, phone); r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusDelivered}) {
			t.Fatalf("first receipt %+v", r)
		}
		tvConn.send(t, &protocol.Ack{ID: "d1"})
		if r := nextOf[*protocol.Receipt](t, phone); r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusAcked}) {
			t.Fatalf("second receipt %+v", r)
		}
		tvConn.send(t, &protocol.Msg{ID: "d2", Type: "playback.control.v1", To: &protocol.Target{Device: "phone1"},
			Payload: json.RawMessage(`{"action":"play"}`)})
		if m := nextOf[*protocol.Msg](t, phone); m.ID != "d2" || m.From == nil || m.From.Device != "tv1" {
			t.Fatalf("phone got %+v", m)
		}
	})
	t.Run("each device's region", func(t *testing.T) {
		for _, api := range []string{eu.addr, us.addr} {
			got := devicesOf(t, api, "a1")
			if got["tv1"] != "us" || got["phone1"] != "eu" {
				t.Fatalf("devices seen from %s: %v", api, got)
			}
		}
	})
	t.Run("a device that moves is found in its new region", func(t *testing.T) {
		// Seen from us the tv is local, from eu it is cached in us.
		_ = tvConn.c.Close(websocket.StatusNormalClosure, "moving")
		moved := time.Now()
		tv2 := collect(t, dialDevice(t, eu.addr, "a1", "tv1"), "tv1 in eu")
		var r protocol.Result
		for r = push(t, us.addr, "a1", "tv1"); r.Status != protocol.StatusDelivered && time.Since(moved) < 10*time.Second; r = push(t, us.addr, "a1", "tv1") {
			time.Sleep(20 * time.Millisecond)
		}
		if r.Status != protocol.StatusDelivered {
			t.Fatalf("push from us after the move: %+v", r)
		}
		t.Logf("found in eu, pushing from us, %v after the move", time.Since(moved).Round(time.Millisecond))
		if r := push(t, eu.addr, "a1", "tv1"); r.Status != protocol.StatusDelivered {
			t.Fatalf("push from eu after the move: %+v", r)
		}
		id := mustSend(t, us.addr, asyncBody("a1", "tv1", ""))
		waitOutcome(t, us.addr, id, "tv1", processor.Delivered)
		waitFor(t, "the async message in eu", func() bool { n, _ := tv2.received(id); return n > 0 })
	})
	t.Run("stored in eu for a device offline everywhere, delivered when it connects in us", func(t *testing.T) {
		body := `{"to":{"account":"a1","device":"radio1"},"type":"notification.v1","payload":{"title":"later"},"ttl":60}`
		code, out := apiCall(t, eu.addr, http.MethodPost, "/v1/push", body)
		if code != http.StatusOK || !strings.Contains(out, `"queued"`) {
			t.Fatalf("push to an offline device: %d %s", code, out)
		}
		radio := dialDevice(t, us.addr, "a1", "radio1")
		m := nextOf[*protocol.Msg](t, radio)
		if m.Type != "notification.v1" || m.Seq != 0 {
			t.Fatalf("radio got %+v, want the stored notification without a seq", m)
		}
	})
	t.Run("no message arrived twice", func(t *testing.T) {
		for _, c := range []*collector{tv} {
			c.mu.Lock()
			for id, n := range c.count {
				if n != 1 {
					t.Errorf("%s received %s %d times", c.name, id, n)
				}
			}
			c.mu.Unlock()
		}
	})
	if m := scrape(t, eu.admin); !strings.Contains(m, `herald_edge_link_frames_total{kind="locate"}`) {
		t.Errorf("eu's metrics lack locate frames")
	}
}
