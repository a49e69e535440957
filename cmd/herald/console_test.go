package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/admin"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/heraldpush/herald/settings"
)

const consoleAdminKey = "console-test-admin-key-0123"

// adminCall sends method path to the admin listener at addr with key (none
// when "") and returns the status and body.
func adminCall(t *testing.T, addr, key, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := (&http.Client{Timeout: waitBound}).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// mustAdminJSON calls the admin API, wants 2xx and decodes the answer into v.
func mustAdminJSON(t *testing.T, addr, key, method, path, body string, v any) {
	t.Helper()
	code, out := adminCall(t, addr, key, method, path, body)
	if code/100 != 2 {
		t.Fatalf("%s %s = %d %s", method, path, code, out)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%s %s: %v in %s", method, path, err, out)
		}
	}
}

// dialDev connects account/device to herald dev with a token of the dev secret.
func dialDev(t *testing.T, addr, account, device string) *clusterDevice {
	t.Helper()
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(settings.DevTokenSecret)})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := iss.Issue(account, device, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	c, _, err := websocket.Dial(ctx, "ws://"+addr+"/v1/connect", &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	d := &clusterDevice{c: c}
	w, ok := d.next(t).(*protocol.Welcome)
	if !ok {
		t.Fatal("no welcome")
	}
	d.welcome = w
	return d
}

// TestConsoleDev drives every admin endpoint of `herald dev`: one node with
// every role, its admin key the public development one.
func TestConsoleDev(t *testing.T) {
	d := mustDev(t)
	adm, key := d.node.addr("admin"), settings.DevAdminKey
	edgeID := d.node.edge.ID()

	t.Run("not on the public listener", func(t *testing.T) {
		for _, p := range []string{"/console/", "/admin/v1/fleet", "/admin/v1/devices/a1/tv1"} {
			if code, _ := adminCall(t, d.addr, key, http.MethodGet, p, ""); code != http.StatusNotFound {
				t.Errorf("public GET %s = %d, want 404", p, code)
			}
		}
	})
	t.Run("admin listener keeps its endpoints", func(t *testing.T) {
		for _, p := range []string{"/metrics", "/healthz", "/readyz"} {
			if code, _ := adminCall(t, adm, "", http.MethodGet, p, ""); code != http.StatusOK {
				t.Errorf("GET %s = %d, want 200 without a key", p, code)
			}
		}
		if code, _ := adminCall(t, adm, "", http.MethodGet, "/admin/v1/fleet", ""); code != http.StatusUnauthorized {
			t.Errorf("fleet without the key = %d, want 401", code)
		}
		if code, body := adminCall(t, adm, "", http.MethodGet, "/console/", ""); code != http.StatusOK || !strings.Contains(body, "<html") {
			t.Errorf("GET /console/ = %d, want the page", code)
		}
	})

	dev := dialDev(t, d.addr, "a1", "tv1")
	t.Run("fleet", func(t *testing.T) {
		var f admin.Fleet
		// The lag is read from the processor's consumer groups, which exist
		// once it has joined them, shortly after the start on a loaded
		// machine: the fleet is asked again until they do.
		waitFor(t, "the lag of the processor's consumer groups", func() bool {
			f = admin.Fleet{}
			mustAdminJSON(t, adm, key, http.MethodGet, "/admin/v1/fleet", "", &f)
			return len(f.Edges) != 1 || len(f.Edges[0].Lag) == 3
		})
		if len(f.Edges) != 1 || f.Edges[0].Node != edgeID || f.Edges[0].Connections != 1 || f.Edges[0].Connects < 1 || !f.Edges[0].Ready {
			t.Fatalf("fleet = %+v, want %s with 1 connection", f, edgeID)
		}
		if len(f.Edges[0].Lag) != 3 {
			t.Errorf("lag = %v, want one per priority", f.Edges[0].Lag)
		}
	})
	t.Run("device", func(t *testing.T) {
		var a admin.DeviceAnswer
		mustAdminJSON(t, adm, key, http.MethodGet, "/admin/v1/devices/a1/tv1", "", &a)
		if !a.Connected || a.Edge != edgeID || a.Session != dev.welcome.Session || a.Live == nil || a.Live.Protocol != edge.TransportWebSocket {
			t.Fatalf("device = %+v, want connected on %s in session %s over ws", a, edgeID, dev.welcome.Session)
		}
		if a.Live.LifetimeLeftMS <= 0 || a.Live.LifetimeLeftMS > a.Live.LifetimeMS || a.Listed == nil || a.Listed.LastSeen.IsZero() || a.Pending == nil {
			t.Fatalf("device = %+v %+v, want lifetime left, a list entry with last_seen and an inbox count", a, a.Live)
		}
		var off admin.DeviceAnswer
		mustAdminJSON(t, adm, key, http.MethodGet, "/admin/v1/devices/a1/nobody", "", &off)
		if off.Connected || off.Live != nil || off.Listed != nil {
			t.Fatalf("unknown device = %+v, want offline and unlisted", off)
		}
	})
	t.Run("test push", func(t *testing.T) {
		var res struct {
			ID      string            `json:"id"`
			Results []protocol.Result `json:"results"`
		}
		mustAdminJSON(t, adm, key, http.MethodPost, "/admin/v1/push", `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"test"}}`, &res)
		if len(res.Results) != 1 || res.Results[0].Status != protocol.StatusDelivered {
			t.Fatalf("push = %+v, want delivered", res)
		}
		m, ok := dev.next(t).(*protocol.Msg)
		if !ok || m.ID != res.ID || m.From.Service != "admin" {
			t.Fatalf("the device received %+v, want message %s from service admin", m, res.ID)
		}
		if code, _ := adminCall(t, adm, key, http.MethodPost, "/admin/v1/push", strings.Repeat("x", admin.DefaultMaxBodyBytes+1)); code != http.StatusRequestEntityTooLarge {
			t.Fatalf("an oversized push = %d, want 413", code)
		}
	})
	t.Run("message followed to acked", func(t *testing.T) {
		code, body := adminCall(t, d.addr, settings.DevAPIKey, http.MethodPost, "/v1/messages", `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"later"},"ack":true}`)
		if code != http.StatusAccepted {
			t.Fatalf("POST /v1/messages = %d %s", code, body)
		}
		var sent struct{ ID string }
		_ = json.Unmarshal([]byte(body), &sent)
		m, ok := dev.next(t).(*protocol.Msg)
		if !ok || m.ID != sent.ID {
			t.Fatalf("the device received %+v, want %s", m, sent.ID)
		}
		ack, _ := protocol.Encode(&protocol.Ack{ID: m.ID})
		if err := dev.c.Write(context.Background(), websocket.MessageText, ack); err != nil {
			t.Fatal(err)
		}
		var st admin.MessageAnswer
		waitFor(t, "the message to be acked", func() bool {
			st = admin.MessageAnswer{}
			mustAdminJSON(t, adm, key, http.MethodGet, "/admin/v1/messages/"+sent.ID, "", &st)
			return st.MessageStatus != nil && len(st.Devices) == 1 && st.Devices[0].Status == processor.Acked
		})
		if st.Accepted == 0 || st.Devices[0].At < st.Accepted || st.Devices[0].Device != "tv1" {
			t.Fatalf("status = %+v, want accepted, then tv1 acked after it", st)
		}
		if code, _ := adminCall(t, adm, key, http.MethodGet, "/admin/v1/messages/no-such-message", ""); code != http.StatusNotFound {
			t.Fatalf("an unknown message = %d, want 404", code)
		}
	})
	t.Run("disconnect", func(t *testing.T) {
		var out map[string]string
		mustAdminJSON(t, adm, key, http.MethodPost, "/admin/v1/devices/a1/tv1/disconnect", "", &out)
		if out["edge"] != edgeID {
			t.Fatalf("disconnect = %v, want edge %s", out, edgeID)
		}
		if c := dev.closeCode(t); c != edge.CloseRemoved {
			t.Fatalf("close code %d, want %d", c, edge.CloseRemoved)
		}
		waitFor(t, "the device to be offline", func() bool {
			var a admin.DeviceAnswer
			mustAdminJSON(t, adm, key, http.MethodGet, "/admin/v1/devices/a1/tv1", "", &a)
			return !a.Connected
		})
		if code, _ := adminCall(t, adm, key, http.MethodPost, "/admin/v1/devices/a1/tv1/disconnect", ""); code != http.StatusNotFound {
			t.Fatalf("disconnecting an offline device = %d, want 404", code)
		}
	})
	t.Run("drain", func(t *testing.T) {
		if code, _ := adminCall(t, adm, key, http.MethodPost, fmt.Sprintf("/admin/v1/edges/%s/drain", edgeID), ""); code != http.StatusAccepted {
			t.Fatalf("drain = %d, want 202", code)
		}
		select {
		case err := <-d.done:
			d.once.Do(func() { d.err = err })
		case <-time.After(waitBound):
			t.Fatal("herald dev did not exit after the drain")
		}
	})
}

// TestServeConsoleSettings checks what serve refuses of the console's settings.
func TestServeConsoleSettings(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"console without a key", []string{"--console"}, "--console needs --admin-key"},
		{"short key", []string{"--console", "--admin-key", "short"}, "at least 16 characters"},
		{"dev key", []string{"--console", "--admin-key", settings.DevAdminKey}, "public development admin key"},
		{"console without an admin listener", []string{"--console", "--admin-key", consoleAdminKey, "--admin-addr", ""}, "--console needs the admin listener"},
		{"trace URL without the id", []string{"--console", "--admin-key", consoleAdminKey, "--admin-trace-url", "https://traces.example/"}, "must contain {id}"},
		{"no fleet", []string{"--console", "--admin-key", consoleAdminKey, "--admin-max-fleet", "0"}, "must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"serve", "--roles=edge", "--token-secret", clusterSecret, "--addr", "127.0.0.1:0"}, tc.args...)
			r := runCmd(t, context.Background(), args...)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("herald %v = %d %s, want 2 and %q", args, r.code, r.stderr, tc.want)
			}
		})
	}
}

// TestConsoleCluster runs two edges and an API process on real Postgres and
// Redis, the console on the API process: its fleet lists both edges with the
// figures each reports itself, a device is found on its edge with that edge's
// session facts, and an edge is drained from the API process's admin API.
func TestConsoleCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	rd, prefix := testenv.Redis(t)
	common := []string{"--postgres-url", pg, "--redis-addr", rd, "--redis-prefix", prefix, "--cluster-key", clusterKey,
		"--edge-ttl", "2s", "--heartbeat-interval", "200ms", "--drain-window", "500ms"}
	var edges []*proc
	internal := []string{testenv.FreeAddr(t), testenv.FreeAddr(t)}
	for i := 1; i <= 2; i++ {
		edges = append(edges, startProc(t, fmt.Sprint("edge-", i), append([]string{"--roles=edge", "--edge-id", fmt.Sprint("edge-", i),
			"--internal-addr", internal[i-1], "--token-secret", clusterSecret}, common...)...))
	}
	api := startProc(t, "api", append([]string{"--roles=api", "--api-keys", clusterAPIKey, "--console", "--admin-key", consoleAdminKey}, common...)...)
	adm := api.admin

	dialDevice(t, edges[0].addr, "a1", "tv1")
	phone := dialDevice(t, edges[1].addr, "a1", "phone")
	tablet := dialDevice(t, edges[1].addr, "a1", "tablet")

	t.Run("fleet", func(t *testing.T) {
		var f admin.Fleet
		waitFor(t, "both edges with their connections", func() bool {
			f = admin.Fleet{}
			mustAdminJSON(t, adm, consoleAdminKey, http.MethodGet, "/admin/v1/fleet", "", &f)
			conns := map[string]int64{}
			for _, n := range f.Edges {
				if n.Error == "" {
					conns[n.Node] = n.Connections
				}
			}
			return conns["edge-1"] == 1 && conns["edge-2"] == 2
		})
		if len(f.Edges) != 3 || f.Edges[0].Connections != 0 || !slices.Contains(f.Edges[0].Roles, "api") {
			t.Fatalf("fleet = %+v, want the API process and two edges", f)
		}
	})
	t.Run("device on another edge", func(t *testing.T) {
		var a admin.DeviceAnswer
		mustAdminJSON(t, adm, consoleAdminKey, http.MethodGet, "/admin/v1/devices/a1/phone", "", &a)
		if !a.Connected || a.Edge != "edge-2" || a.Session != phone.welcome.Session || a.Live == nil || a.Live.Session != phone.welcome.Session || a.Live.Protocol != "ws" {
			t.Fatalf("device = %+v live %+v, want phone on edge-2 with its session facts", a, a.Live)
		}
	})
	t.Run("test push through the API process", func(t *testing.T) {
		var res struct {
			ID      string            `json:"id"`
			Results []protocol.Result `json:"results"`
		}
		mustAdminJSON(t, adm, consoleAdminKey, http.MethodPost, "/admin/v1/push", `{"to":{"account":"a1","device":"phone"},"type":"notification.v1","payload":{"title":"t"}}`, &res)
		if m, ok := phone.next(t).(*protocol.Msg); !ok || m.ID != res.ID {
			t.Fatalf("phone received %+v, want %s", m, res.ID)
		}
	})
	t.Run("internal endpoints need the cluster key", func(t *testing.T) {
		addr := internal[1]
		for _, key := range []string{"", consoleAdminKey, clusterKey + "x"} {
			if code, _ := adminCall(t, addr, key, http.MethodGet, admin.InternalNodePath, ""); code != http.StatusUnauthorized {
				t.Errorf("GET %s with key %q = %d, want 401", admin.InternalNodePath, key, code)
			}
		}
		if code, _ := adminCall(t, addr, clusterKey, http.MethodGet, admin.InternalNodePath, ""); code != http.StatusOK {
			t.Errorf("GET %s with the cluster key = %d, want 200", admin.InternalNodePath, code)
		}
		// The edges serve no console: they were given no --console.
		if code, _ := adminCall(t, edges[1].admin, consoleAdminKey, http.MethodGet, "/admin/v1/fleet", ""); code != http.StatusNotFound {
			t.Errorf("fleet on an edge without --console = %d, want 404", code)
		}
	})
	t.Run("disconnect on another edge", func(t *testing.T) {
		mustAdminJSON(t, adm, consoleAdminKey, http.MethodPost, "/admin/v1/devices/a1/phone/disconnect", "", nil)
		if c := phone.closeCode(t); c != edge.CloseRemoved {
			t.Fatalf("close code %d, want %d", c, edge.CloseRemoved)
		}
	})
	t.Run("drain another edge", func(t *testing.T) {
		// A raw device follows no reconnect frame: the drain would wait for it
		// until the shutdown grace.
		_ = tablet.c.Close(websocket.StatusNormalClosure, "")
		if code, body := adminCall(t, adm, consoleAdminKey, http.MethodPost, "/admin/v1/edges/edge-2/drain", ""); code != http.StatusAccepted {
			t.Fatalf("drain = %d %s", code, body)
		}
		if code := edges[1].exitCode(t, waitBound); code != 0 {
			t.Fatalf("edge-2 exited with %d", code)
		}
		waitFor(t, "edge-2 to leave the fleet", func() bool {
			var f admin.Fleet
			mustAdminJSON(t, adm, consoleAdminKey, http.MethodGet, "/admin/v1/fleet", "", &f)
			return len(f.Edges) == 2 && f.Edges[1].Node == "edge-1"
		})
	})
}

// TestDevBannerConsole checks that herald dev tells a new user where the
// console is and which key opens it.
func TestDevBannerConsole(t *testing.T) {
	var b strings.Builder
	printDevBanner(&b, "127.0.0.1:8080", "127.0.0.1:9092", "127.0.0.1:9090")
	out := b.String()
	for _, want := range []string{"Console  http://127.0.0.1:9090/console/", settings.DevAdminKey, "/admin/v1/fleet"} {
		if !strings.Contains(out, want) {
			t.Errorf("the banner lacks %q:\n%s", want, out)
		}
	}
	if first := strings.SplitN(strings.TrimSpace(out), "\n", 3); len(first) < 2 || !strings.HasPrefix(first[1], "Console") {
		t.Errorf("the console is not next to the demo at the top of the banner:\n%s", out)
	}
	b.Reset()
	printDevBanner(&b, "127.0.0.1:8080", "127.0.0.1:9092", "")
	if strings.Contains(b.String(), "/console/") {
		t.Errorf("a banner without an admin listener names a console:\n%s", b.String())
	}
}
