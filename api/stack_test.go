package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
)

// The credentials of the test stack.
const (
	testSecret  = "api-test-token-secret-of-at-least-32-bytes"
	testAPIKey  = "secret-key-1"
	testKeyName = "backend"
)

// waitBound bounds every wait of these tests. It is a failure bound only: nothing
// asserts that anything happens faster than this.
const waitBound = 20 * time.Second

// testTypes are app-defined types beside the built-in ones: one a service may not
// send, and one with a small payload limit.
var testTypes = fstest.MapFS{
	"remote.key.v1.json": {Data: []byte(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["key"],
  "properties": {"key": {"type": "string"}},
  "x-herald": {"directions": ["device_to_device"], "description": "A key press on a remote."}
}`)},
	"test.small.v1.json": {Data: []byte(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "properties": {"note": {"type": "string"}},
  "x-herald": {"directions": ["service_to_device"], "max_bytes": 64, "description": "A type with a 64-byte payload limit."}
}`)},
}

// builtinTypes are the names of the types in schemas.FS, sorted.
var builtinTypes = []string{
	"app.restart.v1",
	"diagnostics.request.v1",
	"notification.v1",
	"playback.control.v1",
	"profile.updated.v1",
}

// stack is a real edge and API served together, as `herald serve` wires them.
type stack struct {
	url    string
	client *http.Client
	reg    *registry.Memory
	edge   *edge.Server
	iss    *token.Issuer
	api    *Server
}

// testMaxBodyBytes is the stack's MaxBodyBytes, small enough to reach in a test.
const testMaxBodyBytes = 1024

// mustStack starts an edge and the API on one httptest server and stops both when
// the test ends.
func mustStack(tb testing.TB) *stack {
	tb.Helper()
	return mustStackWith(tb, nil)
}

// mustStackWith is mustStack with set, when not nil, adjusting the API's config.
func mustStackWith(tb testing.TB, set func(*Config)) *stack {
	tb.Helper()
	types, err := protocol.LoadTypes(schemas.FS, testTypes)
	if err != nil {
		tb.Fatalf("LoadTypes: %v", err)
	}
	v, err := token.NewVerifier(token.VerifierConfig{HS256: []token.HS256Key{{Secret: []byte(testSecret)}}})
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(testSecret)})
	if err != nil {
		tb.Fatalf("NewHS256Issuer: %v", err)
	}
	reg := registry.NewMemory()
	devs := devicelist.NewMemory()
	router := &edge.Router{Registry: reg, Topics: reg}
	cfg := Config{
		Types:     types,
		Deliverer: router,
		Directory: reg,
		Devices:   devs,
		Presence:  router,
		Publisher: router,
		Keys:      []Key{NewKey(testKeyName, testAPIKey)},

		Subscriptions: devs,
		TopicChanges:  router,
		MaxBodyBytes:  testMaxBodyBytes,
	}
	if set != nil {
		set(&cfg)
	}
	e, err := edge.New(edge.Config{
		ID:       "edge-test",
		Verifier: v,
		Registry: reg,
		Types:    types,
		Devices:  devs,
		Versions: reg,
		Router:   router,
		Topics:   reg,

		DeviceTopics: devs,
		// A tracing API's stack traces its edge too.
		Tracer: cfg.Tracer,
	})
	if err != nil {
		tb.Fatalf("edge.New: %v", err)
	}
	router.Local, router.Tracer = e, cfg.Tracer
	a, err := New(cfg)
	if err != nil {
		tb.Fatalf("api.New: %v", err)
	}
	mux := http.NewServeMux()
	eh := e.Handler()
	mux.Handle("GET /v1/connect", eh)
	mux.Handle("GET /v1/events", eh)
	mux.Handle("POST /v1/acks", eh)
	mux.Handle("/", a.Handler())
	srv := httptest.NewServer(mux)
	tb.Cleanup(srv.Close)
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			tb.Errorf("edge shutdown: %v", err)
		}
	})
	return &stack{url: srv.URL, client: srv.Client(), reg: reg, edge: e, iss: iss, api: a}
}

// device is a device connected to the stack's edge.
type device struct {
	account, id string
	conn        *websocket.Conn
	welcome     *protocol.Welcome
}

// mustDevice connects account/id and reads its welcome. A device that has its
// welcome is registered and routable (docs/protocol.md), which it checks.
func (st *stack) mustDevice(tb testing.TB, account, id string) *device {
	tb.Helper()
	tok, err := st.iss.Issue(account, id, time.Hour)
	if err != nil {
		tb.Fatalf("Issue: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(st.url, "http")+"/v1/connect", &websocket.DialOptions{
		Subprotocols: []string{protocol.Subprotocol},
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + tok}},
	})
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		tb.Fatalf("dial %s/%s: %v (HTTP %d)", account, id, err, status)
	}
	tb.Cleanup(func() { _ = c.CloseNow() })
	d := &device{account: account, id: id, conn: c}
	f := d.mustRead(tb)
	w, ok := f.(*protocol.Welcome)
	if !ok {
		tb.Fatalf("first frame of %s/%s is %T, want a welcome", account, id, f)
	}
	if w.Account != account || w.Device != id {
		tb.Fatalf("welcome names %s/%s, want %s/%s", w.Account, w.Device, account, id)
	}
	d.welcome = w
	if e, err := st.reg.Lookup(context.Background(), account, id); err != nil || e.Session != w.Session {
		tb.Fatalf("%s/%s has its welcome but the registry holds %+v, %v; want session %s", account, id, e, err, w.Session)
	}
	return d
}

// mustClose closes the device's connection and waits until the registry has
// forgotten it.
func (st *stack) mustClose(tb testing.TB, d *device) {
	tb.Helper()
	if err := d.conn.Close(websocket.StatusNormalClosure, ""); err != nil {
		tb.Fatalf("%s/%s: close: %v", d.account, d.id, err)
	}
	deadline := time.Now().Add(waitBound)
	for {
		_, err := st.reg.Lookup(context.Background(), d.account, d.id)
		if errors.Is(err, registry.ErrNotFound) {
			return
		}
		if err != nil {
			tb.Fatalf("registry lookup %s/%s: %v", d.account, d.id, err)
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s/%s is still registered %v after it closed", d.account, d.id, waitBound)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// mustRead reads the device's next frame.
func (d *device) mustRead(tb testing.TB) protocol.Frame {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	typ, data, err := d.conn.Read(ctx)
	if err != nil {
		tb.Fatalf("%s/%s: read: %v", d.account, d.id, err)
	}
	if typ != websocket.MessageText {
		tb.Fatalf("%s/%s: got a %v message, want text", d.account, d.id, typ)
	}
	f, err := protocol.Decode(data)
	if err != nil {
		tb.Fatalf("%s/%s: decode %s: %v", d.account, d.id, data, err)
	}
	return f
}

// mustReadMsg reads the device's next frame, which must be a msg.
func (d *device) mustReadMsg(tb testing.TB) *protocol.Msg {
	tb.Helper()
	f := d.mustRead(tb)
	m, ok := f.(*protocol.Msg)
	if !ok {
		tb.Fatalf("%s/%s: got a %T frame, want a msg", d.account, d.id, f)
	}
	return m
}

// mustWrite sends a frame from the device.
func (d *device) mustWrite(tb testing.TB, f protocol.Frame) {
	tb.Helper()
	data, err := protocol.Encode(f)
	if err != nil {
		tb.Fatalf("encode: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := d.conn.Write(ctx, websocket.MessageText, data); err != nil {
		tb.Fatalf("%s/%s: write: %v", d.account, d.id, err)
	}
}

// do sends a request to the stack with the API key key ("" for none) and returns
// the response with its body read.
func (st *stack) do(tb testing.TB, method, path, key string, body []byte) (*http.Response, []byte) {
	tb.Helper()
	resp, b, err := st.send(method, path, key, body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

// send is do for goroutines other than the test's: it returns the error.
func (st *stack) send(method, path, key string, body []byte) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, st.url+path, rd)
	if err != nil {
		return nil, nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := st.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, fmt.Errorf("%s %s: reading the body: %w", method, path, err)
	}
	return resp, b, nil
}

// push posts body to /v1/push with the test API key.
func (st *stack) push(tb testing.TB, body string) (*http.Response, []byte) {
	tb.Helper()
	return st.do(tb, http.MethodPost, "/v1/push", testAPIKey, []byte(body))
}

// mustPushOK posts body to /v1/push and decodes its 200 answer.
func (st *stack) mustPushOK(tb testing.TB, body string) PushResponse {
	tb.Helper()
	resp, b := st.push(tb, body)
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("push %s: HTTP %d %s, want 200", body, resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("push: Content-Type %q, want application/json", ct)
	}
	var pr PushResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		tb.Fatalf("push: decoding %s: %v", b, err)
	}
	if pr.ID == "" {
		tb.Errorf("push: response %s has no id", b)
	}
	return pr
}

// checkProblem checks that resp is an RFC 9457 problem with HTTP status and code,
// consistent in its header and every required field, and returns it.
func checkProblem(tb testing.TB, resp *http.Response, body []byte, status int, code protocol.Code) *protocol.Problem {
	tb.Helper()
	if resp.StatusCode != status {
		tb.Errorf("HTTP status %d, want %d (body %s)", resp.StatusCode, status, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != protocol.ProblemContentType {
		tb.Fatalf("Content-Type %q, want %q (body %s)", ct, protocol.ProblemContentType, body)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		tb.Fatalf("problem body %s is not a JSON object: %v", body, err)
	}
	for _, f := range []string{"type", "title", "status", "code"} {
		if _, ok := raw[f]; !ok {
			tb.Errorf("problem %s has no %q", body, f)
		}
	}
	var p protocol.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		tb.Fatalf("decoding problem %s: %v", body, err)
	}
	if p.Status != resp.StatusCode {
		tb.Errorf("problem status %d, HTTP status %d", p.Status, resp.StatusCode)
	}
	if p.Code != code {
		tb.Errorf("problem code %q, want %q (body %s)", p.Code, code, body)
	}
	// The code decides the status, except for 405, which has no code of its own.
	if resp.StatusCode != http.StatusMethodNotAllowed && protocol.HTTPStatus(p.Code) != resp.StatusCode {
		tb.Errorf("problem code %q maps to HTTP %d, the response is %d", p.Code, protocol.HTTPStatus(p.Code), resp.StatusCode)
	}
	if want := "https://herald.dev/problems/" + string(p.Code); p.Type != want {
		tb.Errorf("problem type %q, want %q", p.Type, want)
	}
	if p.Title == "" || p.Title != p.Code.Title() {
		tb.Errorf("problem title %q, want %q", p.Title, p.Code.Title())
	}
	return &p
}
