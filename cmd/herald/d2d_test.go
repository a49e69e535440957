package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// send writes one frame.
func (d *clusterDevice) send(t *testing.T, f protocol.Frame) {
	t.Helper()
	b, err := protocol.Encode(f)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := d.c.Write(ctx, websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
}

// nextOf reads frames until one of type F arrives, skipping others (presence).
func nextOf[F protocol.Frame](t *testing.T, d *clusterDevice) F {
	t.Helper()
	for {
		if f, ok := d.next(t).(F); ok {
			return f
		}
	}
}

// api calls the REST API of an edge or API process.
func apiCall(t *testing.T, addr, method, path, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.SplitN(clusterAPIKey, ":", 2)[1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	_, _ = fmt.Fprint(&sb, "")
	buf := make([]byte, 64<<10)
	n, _ := resp.Body.Read(buf)
	return resp.StatusCode, string(buf[:n])
}

// TestDeviceToDeviceCluster runs two edges with the API role on real Postgres (the
// device list) and a private Redis.
func TestDeviceToDeviceCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--roles=edge,api", "--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "d2d:", "--cluster-key", clusterKey,
		"--token-secret", clusterSecret, "--api-keys", clusterAPIKey, "--internal-addr", "127.0.0.1:0"}
	e1 := startProc(t, "edge-1", append([]string{"--edge-id", "edge-1"}, common...)...)
	e2 := startProc(t, "edge-2", append([]string{"--edge-id", "edge-2"}, common...)...)

	// speaker1 is listed but offline; a2/tv9 belongs to another account.
	speaker := dialDevice(t, e1.addr, "a1", "speaker1")
	_ = speaker.c.Close(websocket.StatusNormalClosure, "")
	other := dialDevice(t, e2.addr, "a2", "tv9")
	_ = other
	tv := dialDevice(t, e2.addr, "a1", "tv1")
	tv.send(t, &protocol.Hello{Device: &protocol.DeviceInfo{Platform: "tv", Name: "Living room"}, Presence: ptrBool(true)})
	tab := dialDevice(t, e1.addr, "a1", "tab1")
	phone := dialDevice(t, e1.addr, "a1", "phone1")
	play := []byte(`{"action":"seek","position_ms":1000}`)
	top := t

	t.Run("phone on edge 1 controls the tv on edge 2, with an ack", func(t *testing.T) {
		phone.send(t, &protocol.Msg{ID: "p1", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Ack: true, Payload: play})
		m := nextOf[*protocol.Msg](t, tv)
		if m.ID != "p1" || m.From == nil || m.From.Device != "phone1" {
			t.Fatalf("tv got %+v", m)
		}
		if r := nextOf[*protocol.Receipt](t, phone); r.Results[0].Status != protocol.StatusDelivered {
			t.Fatalf("first receipt %+v", r)
		}
		tv.send(t, &protocol.Ack{ID: "p1"})
		if r := nextOf[*protocol.Receipt](t, phone); r.Results[0].Status != protocol.StatusAcked {
			t.Fatalf("second receipt %+v", r)
		}
	})
	t.Run("siblings with one offline", func(t *testing.T) {
		phone.send(t, &protocol.Msg{ID: "p2", Type: "playback.control.v1", To: &protocol.Target{Siblings: true}, Payload: play})
		nextOf[*protocol.Msg](t, tv)
		nextOf[*protocol.Msg](t, tab)
		r := nextOf[*protocol.Receipt](t, phone)
		want := "[{speaker1 offline } {tab1 delivered } {tv1 delivered }]"
		if fmt.Sprint(r.Results) != want {
			t.Fatalf("results %v, want %s", r.Results, want)
		}
	})
	t.Run("another account's device is answered as an unknown one", func(t *testing.T) {
		phone.send(t, &protocol.Msg{ID: "p3", Type: "playback.control.v1", To: &protocol.Target{Device: "tv9"}, Payload: play})
		if r := nextOf[*protocol.Receipt](t, phone); r.ID != "p3" || r.Results[0] != (protocol.Result{Device: "tv9", Status: protocol.StatusRejected, Error: "unknown_device"}) {
			t.Fatalf("receipt %+v", r)
		}
	})
	t.Run("presence across edges", func(t *testing.T) {
		_ = phone.c.Close(websocket.StatusNormalClosure, "")
		if p := nextOf[*protocol.Presence](t, tv); p.Device != "phone1" || p.Online {
			t.Fatalf("presence %+v", p)
		}
		phone = dialDevice(top, e1.addr, "a1", "phone1") // lives on after this subtest
		if p := nextOf[*protocol.Presence](t, tv); p.Device != "phone1" || !p.Online {
			t.Fatalf("presence %+v", p)
		}
	})
	t.Run("the device list shows metadata and online state", func(t *testing.T) {
		// A hello's metadata is written after its hello is handled, by the
		// session's one metadata writer: wait until it has been.
		var code int
		var body string
		waitFor(t, "tv1's metadata in the device list", func() bool {
			code, body = apiCall(t, e1.addr, http.MethodGet, "/v1/accounts/a1/devices", "")
			return code != http.StatusOK || strings.Contains(body, `"platform":"tv"`)
		})
		if code != http.StatusOK {
			t.Fatalf("list: %d %s", code, body)
		}
		for _, want := range []string{`"id":"tv1"`, `"platform":"tv"`, `"name":"Living room"`, `"id":"speaker1"`} {
			if !strings.Contains(body, want) {
				t.Fatalf("list lacks %s: %s", want, body)
			}
		}
		if !strings.Contains(body, `"id":"speaker1"`) || strings.Count(body, `"online":true`) != 3 {
			t.Fatalf("online states: %s", body)
		}
	})
	t.Run("a device deleted over REST is disconnected and unreachable", func(t *testing.T) {
		if code, body := apiCall(t, e1.addr, http.MethodDelete, "/v1/accounts/a1/devices/tv1", ""); code != http.StatusNoContent {
			t.Fatalf("delete: %d %s", code, body)
		}
		if code := tv.closeCode(t); code != 4003 {
			t.Fatalf("tv closed with %v, want 4003", code)
		}
		phone.send(t, &protocol.Msg{ID: "p4", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Payload: play})
		if r := nextOf[*protocol.Receipt](t, phone); r.Results[0].Status != protocol.StatusRejected {
			t.Fatalf("receipt %+v", r)
		}
	})
	t.Run("a device registered over REST is a sibling at once", func(t *testing.T) {
		if code, body := apiCall(t, e2.addr, http.MethodPut, "/v1/accounts/a1/devices/car1", `{"platform":"car"}`); code != http.StatusCreated {
			t.Fatalf("put: %d %s", code, body)
		}
		phone.send(t, &protocol.Msg{ID: "p5", Type: "playback.control.v1", To: &protocol.Target{Device: "car1"}, Payload: play})
		if r := nextOf[*protocol.Receipt](t, phone); r.Results[0].Status != protocol.StatusOffline {
			t.Fatalf("receipt %+v (edge 1 must see edge 2's change)", r)
		}
	})
}

func ptrBool(b bool) *bool { return &b }

// TestDeviceListOutage cuts the edges off Postgres: device lists already cached
// keep routing, one that is not cached is unavailable (an error frame, promptly),
// and everything recovers when Postgres is back.
func TestDeviceListOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	u, err := url.Parse(pg)
	if err != nil {
		t.Fatal(err)
	}
	proxy := testenv.StartProxy(t, u.Host)
	u.Host = proxy.Addr
	rd := testenv.StartRedis(t)
	common := []string{"--roles=edge,api", "--postgres-url", u.String(), "--redis-addr", rd.Addr, "--redis-prefix", "outage:", "--cluster-key", clusterKey,
		"--token-secret", clusterSecret, "--api-keys", clusterAPIKey, "--internal-addr", "127.0.0.1:0"}
	e1 := startProc(t, "edge-1", append([]string{"--edge-id", "edge-1"}, common...)...)
	e2 := startProc(t, "edge-2", append([]string{"--edge-id", "edge-2"}, common...)...)
	tv := dialDevice(t, e2.addr, "a1", "tv1")
	phone := dialDevice(t, e1.addr, "a1", "phone1")
	play := []byte(`{"action":"pause"}`)
	sendSiblings := func(d *clusterDevice, id string) protocol.Frame {
		d.send(t, &protocol.Msg{ID: id, Type: "playback.control.v1", To: &protocol.Target{Siblings: true}, Payload: play})
		for {
			switch f := d.next(t).(type) {
			case *protocol.Receipt, *protocol.Error:
				return f
			}
		}
	}
	// Warm the cache of a1's list on edge 1.
	if r, ok := sendSiblings(phone, "w1").(*protocol.Receipt); !ok || len(r.Results) != 1 || r.Results[0].Status != protocol.StatusDelivered {
		t.Fatalf("before the outage: %+v", r)
	}
	nextOf[*protocol.Msg](t, tv)

	proxy.Stop()
	start := time.Now()
	lone := dialDevice(t, e1.addr, "b1", "dev1") // connecting works; its account's list was never read
	if r, ok := sendSiblings(phone, "o1").(*protocol.Receipt); !ok || r.Results[0].Status != protocol.StatusDelivered {
		t.Fatalf("cached siblings during the outage: %#v", r)
	}
	nextOf[*protocol.Msg](t, tv)
	if e, ok := sendSiblings(lone, "o2").(*protocol.Error); !ok || e.Code != protocol.CodeUnavailable || e.Re != "o2" {
		t.Fatalf("uncached siblings during the outage: %#v", e)
	}
	if took := time.Since(start); took > 15*time.Second {
		t.Fatalf("answers during the outage took %v", took)
	}

	proxy.Start()
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		f := sendSiblings(lone, fmt.Sprint("r", i))
		if _, ok := f.(*protocol.Receipt); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still failing after Postgres came back: %#v", f)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
