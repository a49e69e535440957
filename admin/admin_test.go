package admin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/prometheus/client_golang/prometheus"
)

const testKey = "admin-test-key-0123456789"

// testAdmin is an admin API over an in-memory registry and device list, with
// no edge of its own.
type testAdmin struct {
	srv  *httptest.Server
	reg  *registry.Memory
	devs *devicelist.Memory
}

func mustAdmin(tb testing.TB, mutate func(*Config)) *testAdmin {
	tb.Helper()
	reg := registry.NewMemory()
	devs := devicelist.NewMemory()
	metrics := prometheus.NewRegistry()
	g := prometheus.NewGauge(prometheus.GaugeOpts{Name: metricConnections, Help: "test"})
	g.Set(3)
	metrics.MustRegister(g)
	keys, err := ParseKeys([]string{testKey})
	if err != nil {
		tb.Fatal(err)
	}
	cfg := Config{Keys: keys, Node: "api-1", Metrics: metrics, Edges: reg, Locator: reg, Devices: devs}
	if mutate != nil {
		mutate(&cfg)
	}
	s, err := New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	hs := httptest.NewServer(s.Handler())
	tb.Cleanup(hs.Close)
	return &testAdmin{srv: hs, reg: reg, devs: devs}
}

// call sends method path with key (none when "") and body, and returns the
// status and the decoded JSON answer.
func (a *testAdmin) call(tb testing.TB, method, path, key, body string) (int, map[string]any) {
	tb.Helper()
	req, err := http.NewRequest(method, a.srv.URL+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&v)
	return resp.StatusCode, v
}

func TestParseKeys(t *testing.T) {
	sum := sha256.Sum256([]byte(testKey))
	for _, tc := range []struct {
		name    string
		entries []string
		ok      bool
	}{
		{"none", nil, true},
		{"plain", []string{testKey}, true},
		{"digest", []string{"sha256:" + strings.Repeat("ab", 32)}, true},
		{"short", []string{"short-key"}, false},
		{"bad digest", []string{"sha256:abc"}, false},
		{"one bad of two", []string{testKey, "x"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseKeys(tc.entries)
			if (err == nil) != tc.ok {
				t.Fatalf("ParseKeys(%q) = %v, want ok %v", tc.entries, err, tc.ok)
			}
			if tc.name == "plain" && keys[0] != sum {
				t.Fatal("a plain key is not kept as its SHA-256")
			}
		})
	}
}

func TestAuthAndValidation(t *testing.T) {
	a := mustAdmin(t, nil)
	for _, tc := range []struct {
		name, method, path, key, body string
		status                        int
		code                          protocol.Code
	}{
		{name: "no key", method: "GET", path: "/admin/v1/fleet", status: 401, code: protocol.CodeUnauthorized},
		{name: "wrong key", method: "GET", path: "/admin/v1/fleet", key: testKey + "x", status: 401, code: protocol.CodeUnauthorized},
		{name: "no key on device", method: "GET", path: "/admin/v1/devices/a1/tv1", status: 401, code: protocol.CodeUnauthorized},
		{name: "no key on push", method: "POST", path: "/admin/v1/push", body: "{}", status: 401, code: protocol.CodeUnauthorized},
		{name: "no key on drain", method: "POST", path: "/admin/v1/edges/e1/drain", status: 401, code: protocol.CodeUnauthorized},
		{name: "no key on disconnect", method: "POST", path: "/admin/v1/devices/a1/tv1/disconnect", status: 401, code: protocol.CodeUnauthorized},
		{name: "no key on message", method: "GET", path: "/admin/v1/messages/m1", status: 401, code: protocol.CodeUnauthorized},
		{name: "fleet", method: "GET", path: "/admin/v1/fleet", key: testKey, status: 200},
		{name: "node", method: "GET", path: "/admin/v1/node", key: testKey, status: 200},
		{name: "bad account", method: "GET", path: "/admin/v1/devices/a%20b/tv1", key: testKey, status: 400, code: protocol.CodeBadRequest},
		{name: "bad device", method: "GET", path: "/admin/v1/devices/a1/t%7Bv", key: testKey, status: 400, code: protocol.CodeBadRequest},
		{name: "long device", method: "GET", path: "/admin/v1/devices/a1/" + strings.Repeat("d", protocol.MaxIDLen+1), key: testKey, status: 400, code: protocol.CodeBadRequest},
		{name: "bad id on disconnect", method: "POST", path: "/admin/v1/devices/a1/t%7Bv/disconnect", key: testKey, status: 400, code: protocol.CodeBadRequest},
		{name: "offline device", method: "GET", path: "/admin/v1/devices/a1/tv1", key: testKey, status: 200},
		{name: "disconnect without router", method: "POST", path: "/admin/v1/devices/a1/tv1/disconnect", key: testKey, status: 503, code: protocol.CodeUnavailable},
		{name: "message without statuses", method: "GET", path: "/admin/v1/messages/m1", key: testKey, status: 503, code: protocol.CodeUnavailable},
		{name: "push without api", method: "POST", path: "/admin/v1/push", key: testKey, body: "{}", status: 503, code: protocol.CodeUnavailable},
		{name: "drain of no edge", method: "POST", path: "/admin/v1/edges/e9/drain", key: testKey, status: 404, code: protocol.CodeNotFound},
		{name: "bad edge id", method: "POST", path: "/admin/v1/edges/e%7B/drain", key: testKey, status: 400, code: protocol.CodeBadRequest},
		{name: "GET on push", method: "GET", path: "/admin/v1/push", key: testKey, status: 405, code: protocol.CodeBadRequest},
		{name: "unknown endpoint", method: "GET", path: "/admin/v1/nothing", key: testKey, status: 404, code: protocol.CodeNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := a.call(t, tc.method, tc.path, tc.key, tc.body)
			if status != tc.status {
				t.Fatalf("%s %s = %d %v, want %d", tc.method, tc.path, status, body, tc.status)
			}
			if tc.code != "" && body["code"] != string(tc.code) {
				t.Fatalf("code = %v, want %s", body["code"], tc.code)
			}
		})
	}
}

func TestNoKeysAcceptNothing(t *testing.T) {
	a := mustAdmin(t, func(c *Config) { c.Keys = nil })
	if status, _ := a.call(t, "GET", "/admin/v1/fleet", testKey, ""); status != 401 {
		t.Fatalf("fleet without configured keys = %d, want 401", status)
	}
}

func TestConsoleFilesNeedNoKey(t *testing.T) {
	a := mustAdmin(t, nil)
	resp, err := http.Get(a.srv.URL + ConsolePath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("GET %s = %s %q, CSP %q", ConsolePath, resp.Status, resp.Header.Get("Content-Type"), resp.Header.Get("Content-Security-Policy"))
	}
}

func TestFleetReportsUnreachableEdges(t *testing.T) {
	a := mustAdmin(t, func(c *Config) {
		c.Peers = &Peers{Key: "cluster-key-0123456789", Client: &http.Client{Timeout: time.Second}}
	})
	ctx := context.Background()
	// An edge that heartbeats an address where nothing listens.
	dead := httptest.NewServer(http.NotFoundHandler())
	addr := dead.URL
	dead.Close()
	if _, err := a.reg.Heartbeat(ctx, "edge-dead", addr); err != nil {
		t.Fatal(err)
	}
	status, body := a.call(t, "GET", "/admin/v1/fleet", testKey, "")
	if status != 200 {
		t.Fatalf("fleet = %d %v", status, body)
	}
	edges := body["edges"].([]any)
	if len(edges) != 2 {
		t.Fatalf("fleet edges = %v, want this node and edge-dead", edges)
	}
	self, other := edges[0].(map[string]any), edges[1].(map[string]any)
	if self["node"] != "api-1" || self["connections"] != 3.0 {
		t.Fatalf("this node = %v, want api-1 with 3 connections from its metrics", self)
	}
	if other["node"] != "edge-dead" || other["error"] == nil || other["error"] == "" {
		t.Fatalf("the dead edge = %v, want an error", other)
	}
}

func TestDigestKey(t *testing.T) {
	sum := sha256.Sum256([]byte(testKey))
	keys, err := ParseKeys([]string{"sha256:" + hex.EncodeToString(sum[:])})
	if err != nil {
		t.Fatal(err)
	}
	a := mustAdmin(t, func(c *Config) { c.Keys = keys })
	if status, body := a.call(t, "GET", "/admin/v1/node", testKey, ""); status != 200 || body["node"] != "api-1" {
		t.Fatalf("node with the key of a sha256: entry = %d %v, want 200", status, body)
	}
	if status, _ := a.call(t, "GET", "/admin/v1/node", "sha256:"+hex.EncodeToString(sum[:]), ""); status != 401 {
		t.Fatalf("the digest itself as the key = %d, want 401", status)
	}
}

func TestMessageTraceURL(t *testing.T) {
	st := processor.NewMemoryStatus(time.Hour, 100)
	ctx := context.Background()
	for _, e := range []processor.Event{
		{ID: "m/1", Account: "a1", Status: processor.Queued, At: 1000},
		{ID: "m/1", Account: "a1", Device: "tv1", Status: processor.Acked, At: 1042},
	} {
		if err := st.Record(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	a := mustAdmin(t, func(c *Config) { c.Statuses, c.TraceURL = st, "https://traces.example/search?message={id}" })
	status, body := a.call(t, "GET", "/admin/v1/messages/m%2F1", testKey, "")
	if status != 200 || body["status"] != "acked" || body["trace_url"] != "https://traces.example/search?message=m%2F1" {
		t.Fatalf("message = %d %v, want acked with its trace link", status, body)
	}
	devices := body["devices"].([]any)
	if d := devices[0].(map[string]any); d["device"] != "tv1" || d["at"] != 1042.0 || body["accepted"] != 1000.0 {
		t.Fatalf("message = %v, want tv1 acked at 1042 after acceptance at 1000", body)
	}
	b := mustAdmin(t, func(c *Config) { c.Statuses = st })
	if _, body := b.call(t, "GET", "/admin/v1/messages/m%2F1", testKey, ""); body["trace_url"] != nil {
		t.Fatalf("trace_url without tracing = %v, want none", body["trace_url"])
	}
}

// fixedRegions says every device is connected in one other region.
type fixedRegions string

func (r fixedRegions) Locate(context.Context, string, string) (string, []string) {
	return string(r), nil
}

// In a deployment of regions, a device this region does not hold is looked
// for in the others.
func TestDeviceInAnotherRegion(t *testing.T) {
	a := mustAdmin(t, func(c *Config) { c.Region, c.Regions = "eu", fixedRegions("us") })
	code, v := a.call(t, http.MethodGet, "/admin/v1/devices/a1/tv1", testKey, "")
	if code != http.StatusOK || v["connected"] != true || v["connected_in"] != "us" || v["region"] != "eu" || v["edge"] != nil {
		t.Fatalf("%d %v, want connected in us, answered by eu", code, v)
	}
	one := mustAdmin(t, nil)
	if code, v := one.call(t, http.MethodGet, "/admin/v1/devices/a1/tv1", testKey, ""); code != http.StatusOK || v["connected"] != false || v["connected_in"] != nil {
		t.Fatalf("one region: %d %v, want not connected", code, v)
	}
}
