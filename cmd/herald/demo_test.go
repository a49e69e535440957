package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/demo"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// demoDo sends a request to a running dev server and returns the status, the
// Content-Type and the body.
func demoDo(tb testing.TB, method, u, body string) (int, string, []byte) {
	tb.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, r)
	if err != nil {
		tb.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("%s %s: reading the body: %v", method, u, err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

// mustDemoToken asks the dev server for a token of account/device.
func mustDemoToken(tb testing.TB, dev *devServer, account, device string) string {
	tb.Helper()
	status, ctype, body := demoDo(tb, http.MethodPost, dev.base+"/demo/api/token", `{"account":"`+account+`","device":"`+device+`"}`)
	if status != http.StatusOK || ctype != "application/json" {
		tb.Fatalf("POST /demo/api/token: HTTP %d %s: %s", status, ctype, body)
	}
	var out demo.TokenResponse
	if err := json.Unmarshal(body, &out); err != nil || out.Token == "" {
		tb.Fatalf("POST /demo/api/token answered %s (%v), want a token", body, err)
	}
	if out.Account != account || out.Device != device || out.ExpiresIn <= 0 {
		tb.Errorf("POST /demo/api/token answered %s, want %s/%s and a positive expires_in", body, account, device)
	}
	return out.Token
}

// mustBrowserConn connects to the dev server as a browser does, with the token in
// the query and the page's Origin, and returns the connection and its welcome.
func mustBrowserConn(tb testing.TB, dev *devServer, tok string) (*websocket.Conn, *protocol.Welcome) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	h := http.Header{"Origin": {dev.base}}
	c, _, err := websocket.Dial(ctx, "ws://"+dev.addr+"/v1/connect?access_token="+url.QueryEscape(tok),
		&websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}, HTTPHeader: h})
	if err != nil {
		tb.Fatalf("dial with the demo token: %v", err)
	}
	tb.Cleanup(func() { _ = c.CloseNow() })
	_, data, err := c.Read(ctx)
	if err != nil {
		tb.Fatalf("reading the welcome: %v", err)
	}
	f, err := protocol.Decode(data)
	if err != nil {
		tb.Fatalf("decode %s: %v", data, err)
	}
	w, ok := f.(*protocol.Welcome)
	if !ok {
		tb.Fatalf("first frame %s, want a welcome", data)
	}
	return c, w
}

// wantProblem checks a problem+json answer with its status and code.
func wantProblem(tb testing.TB, status int, ctype string, body []byte, wantStatus int, wantCode protocol.Code, wantDetail string) {
	tb.Helper()
	if status != wantStatus {
		tb.Errorf("HTTP %d, want %d: %s", status, wantStatus, body)
	}
	if ctype != protocol.ProblemContentType {
		tb.Errorf("Content-Type %q, want %q", ctype, protocol.ProblemContentType)
	}
	var p protocol.Problem
	if err := json.Unmarshal(body, &p); err != nil {
		tb.Fatalf("body %s is not a problem: %v", body, err)
	}
	if p.Code != wantCode || p.Status != wantStatus {
		tb.Errorf("problem %s, want code %s and status %d", body, wantCode, wantStatus)
	}
	if !strings.Contains(p.Detail, wantDetail) {
		tb.Errorf("problem detail %q does not say %q", p.Detail, wantDetail)
	}
}

// TestDemoPage checks that herald dev serves the demo and the SDK it imports.
func TestDemoPage(t *testing.T) {
	dev := mustDev(t)
	tests := []struct {
		name, path string
		status     int
		ctype      string // a substring of the Content-Type
		body       string // a substring of the body
	}{
		{"index", "/demo/", http.StatusOK, "text/html", "<title>Herald demo</title>"},
		{"without the slash", "/demo", http.StatusOK, "text/html", "<title>Herald demo</title>"},
		{"with a query", "/demo/?account=a1&device=tv&role=player", http.StatusOK, "text/html", `src="app.js"`},
		{"app", "/demo/app.js", http.StatusOK, "javascript", "./sdk/index.js"},
		{"style", "/demo/style.css", http.StatusOK, "text/css", ":root"},
		{"sdk", "/demo/sdk/index.js", http.StatusOK, "javascript", "HeraldClient"},
		{"missing file", "/demo/nope.js", http.StatusNotFound, "", ""},
		{"missing sdk file", "/demo/sdk/nope.js", http.StatusNotFound, "", ""},
		{"a directory", "/demo/sdk/", http.StatusNotFound, "", ""},
		{"the REST API still owns /", "/v1/types", http.StatusUnauthorized, protocol.ProblemContentType, "API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, ctype, body := demoDo(t, http.MethodGet, dev.base+tt.path, "")
			if status != tt.status {
				t.Fatalf("GET %s: HTTP %d, want %d: %.200s", tt.path, status, tt.status, body)
			}
			if !strings.Contains(ctype, tt.ctype) {
				t.Errorf("GET %s: Content-Type %q, want %q", tt.path, ctype, tt.ctype)
			}
			if !bytes.Contains(body, []byte(tt.body)) {
				t.Errorf("GET %s: body does not contain %q: %.300s", tt.path, tt.body, body)
			}
		})
	}
}

// TestDemoToken checks that the token endpoint answers tokens the edge accepts,
// and a problem for bad input.
func TestDemoToken(t *testing.T) {
	dev := mustDev(t)

	t.Run("the edge accepts the token", func(t *testing.T) {
		tok := mustDemoToken(t, dev, "demo-t1", "tv")
		c, w := mustBrowserConn(t, dev, tok)
		if w.Account != "demo-t1" || w.Device != "tv" {
			t.Errorf("welcome for %s/%s, want demo-t1/tv", w.Account, w.Device)
		}
		_ = c.Close(websocket.StatusNormalClosure, "")
	})

	long := strings.Repeat("x", 129)
	bad := []struct {
		name, body, detail string
	}{
		{"empty body", "", "must be a JSON object"},
		{"not JSON", "account=a1", "not valid JSON"},
		{"an array", `["a1","tv"]`, "must be a JSON object"},
		{"a number for the account", `{"account":7,"device":"tv"}`, `"account"`},
		{"no account", `{"device":"tv"}`, "account is required"},
		{"no device", `{"account":"a1"}`, "device is required"},
		{"account with a space", `{"account":"a 1","device":"tv"}`, "not a valid id"},
		{"device with a slash", `{"account":"a1","device":"tv/1"}`, "not a valid id"},
		{"device too long", `{"account":"a1","device":"` + long + `"}`, "not a valid id"},
		{"two objects", `{"account":"a1","device":"tv"}{}`, "nothing after it"},
		{"too large", `{"account":"a1","device":"tv","x":"` + strings.Repeat("y", 4<<10) + `"}`, "larger than"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			status, ctype, body := demoDo(t, http.MethodPost, dev.base+"/demo/api/token", tt.body)
			wantProblem(t, status, ctype, body, http.StatusBadRequest, protocol.CodeBadRequest, tt.detail)
		})
	}

	t.Run("GET is not allowed", func(t *testing.T) {
		status, ctype, body := demoDo(t, http.MethodGet, dev.base+"/demo/api/token", "")
		wantProblem(t, status, ctype, body, http.StatusMethodNotAllowed, protocol.CodeBadRequest, "not allowed")
	})
	t.Run("an unknown endpoint", func(t *testing.T) {
		status, ctype, body := demoDo(t, http.MethodPost, dev.base+"/demo/api/nope", "{}")
		wantProblem(t, status, ctype, body, http.StatusNotFound, protocol.CodeNotFound, "/demo/api/token")
	})
}

// TestDemoPushAndDevices checks the two endpoints that stand in for a backend: the
// device list and a push through the REST API.
func TestDemoPushAndDevices(t *testing.T) {
	dev := mustDev(t)
	c, _ := mustBrowserConn(t, dev, mustDemoToken(t, dev, "demo-p1", "tv"))
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()

	t.Run("device list", func(t *testing.T) {
		status, ctype, body := demoDo(t, http.MethodGet, dev.base+"/demo/api/devices?account=demo-p1", "")
		if status != http.StatusOK || ctype != "application/json" {
			t.Fatalf("HTTP %d %s: %s", status, ctype, body)
		}
		var out struct {
			Account string `json:"account"`
			Devices []struct {
				ID     string `json:"id"`
				Online bool   `json:"online"`
			} `json:"devices"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		if out.Account != "demo-p1" || len(out.Devices) != 1 || out.Devices[0].ID != "tv" || !out.Devices[0].Online {
			t.Errorf("device list %s, want tv online", body)
		}
	})

	t.Run("push", func(t *testing.T) {
		status, _, body := demoDo(t, http.MethodPost, dev.base+"/demo/api/push",
			`{"to":{"account":"demo-p1","device":"tv"},"type":"notification.v1","payload":{"title":"Hi"}}`)
		if status != http.StatusOK || !bytes.Contains(body, []byte(`"delivered"`)) {
			t.Fatalf("HTTP %d: %s, want tv delivered", status, body)
		}
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		f, err := protocol.Decode(data)
		if err != nil {
			t.Fatal(err)
		}
		m, ok := f.(*protocol.Msg)
		if !ok || m.Type != "notification.v1" || m.From == nil || m.From.Service != "dev" {
			t.Errorf("frame %s, want the notification from service dev", data)
		}
	})

	bad := []struct {
		name, method, path, body string
		status                   int
		code                     protocol.Code
		detail                   string
	}{
		{"devices without an account", http.MethodGet, "/demo/api/devices", "", http.StatusBadRequest, protocol.CodeBadRequest, "account is required"},
		{"devices of a bad account", http.MethodGet, "/demo/api/devices?account=a%2Fb", "", http.StatusBadRequest, protocol.CodeBadRequest, "not a valid id"},
		{"push of a bad payload", http.MethodPost, "/demo/api/push", `{"to":{"account":"demo-p1"},"type":"notification.v1","payload":{"title":5}}`,
			http.StatusUnprocessableEntity, protocol.CodeSchemaInvalid, ""},
		{"push that is not JSON", http.MethodPost, "/demo/api/push", `nope`, http.StatusBadRequest, protocol.CodeBadRequest, "JSON"},
		{"push of an unknown type", http.MethodPost, "/demo/api/push", `{"to":{"account":"demo-p1"},"type":"nope.v1","payload":{}}`,
			http.StatusUnprocessableEntity, protocol.CodeUnknownType, ""},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			status, ctype, body := demoDo(t, tt.method, dev.base+tt.path, tt.body)
			wantProblem(t, status, ctype, body, tt.status, tt.code, tt.detail)
		})
	}
}

// TestDemoPublish checks that a publish through /demo/api/publish reaches a
// device of the dev server subscribed to the topic with a token of
// /demo/api/token, and that the API's problems come back as they are.
func TestDemoPublish(t *testing.T) {
	dev := mustDev(t)
	status, ctype, body := demoDo(t, http.MethodPost, dev.base+"/demo/api/token", `{"account":"demo-pub1","device":"tv","topics":["scores.*"]}`)
	if status != http.StatusOK || ctype != "application/json" {
		t.Fatalf("POST /demo/api/token: HTTP %d %s: %s", status, ctype, body)
	}
	var tok demo.TokenResponse
	if err := json.Unmarshal(body, &tok); err != nil {
		t.Fatal(err)
	}
	c, _ := mustBrowserConn(t, dev, tok.Token)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	read := func() protocol.Frame {
		t.Helper()
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		f, err := protocol.Decode(data)
		if err != nil {
			t.Fatalf("decode %s: %v", data, err)
		}
		return f
	}
	if err := c.Write(ctx, websocket.MessageText, []byte(`{"t":"sub","id":"s1","topics":["scores.live","news.sports"]}`)); err != nil {
		t.Fatal(err)
	}
	subs, ok := read().(*protocol.Subs)
	want := []protocol.TopicResult{{Topic: "scores.live", Status: protocol.TopicSubscribed}, {Topic: "news.sports", Status: protocol.TopicForbidden}}
	if !ok || subs.ID != "s1" || !reflect.DeepEqual(subs.Results, want) {
		t.Fatalf("answer %+v, want subs s1 %+v", subs, want)
	}

	status, ctype, body = demoDo(t, http.MethodPost, dev.base+"/demo/api/publish", `{"topic":"scores.live","type":"notification.v1","payload":{"title":"2 - 1"}}`)
	if status != http.StatusOK || ctype != "application/json" {
		t.Fatalf("POST /demo/api/publish: HTTP %d %s: %s", status, ctype, body)
	}
	var res struct {
		ID      string `json:"id"`
		Edges   int    `json:"edges"`
		Devices int    `json:"devices"`
	}
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	if res.ID == "" || res.Edges != 1 || res.Devices != 1 {
		t.Errorf("answer %s, want an id, 1 edge and 1 device", body)
	}
	m, ok := read().(*protocol.Msg)
	if !ok || m.ID != res.ID || m.Topic != "scores.live" || m.From == nil || m.From.Service != "dev" || string(m.Payload) != `{"title":"2 - 1"}` {
		t.Errorf("frame %+v, want the published message with its topic from service dev", m)
	}

	for _, tt := range []struct {
		name, body string
		status     int
		code       protocol.Code
		detail     string
	}{
		{"a bad topic", `{"topic":"scores.*","type":"notification.v1","payload":{"title":"x"}}`, http.StatusBadRequest, protocol.CodeBadRequest, "topic: "},
		{"a bad payload", `{"topic":"scores.live","type":"notification.v1","payload":{"title":5}}`, http.StatusUnprocessableEntity, protocol.CodeSchemaInvalid, ""},
		{"a type not for topics", `{"topic":"scores.live","type":"playback.control.v1","payload":{"action":"play"}}`, http.StatusForbidden, protocol.CodeForbidden, "service_to_topic"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, ctype, body := demoDo(t, http.MethodPost, dev.base+"/demo/api/publish", tt.body)
			wantProblem(t, status, ctype, body, tt.status, tt.code, tt.detail)
		})
	}
}

// TestDemoNotOnServe checks that herald serve has neither the page nor the
// endpoints: they hand out tokens to anyone.
func TestDemoNotOnServe(t *testing.T) {
	var c settings.Server
	fs := settings.NewFlags("serve", io.Discard)
	c.Flags(fs, false)
	if err := settings.Parse(fs, []string{"--addr", "127.0.0.1:0", "--admin-addr", "", "--token-secret", strings.Repeat("s", 32), "--api-keys", "k:test-key"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(false); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	n, err := build(&c, log)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	if err := n.listenAll(&c, log); err != nil {
		t.Fatal(err)
	}
	var public http.Handler
	for _, l := range n.listeners {
		if l.name == "public" {
			public = l.srv.Handler
		}
	}
	if public == nil {
		t.Fatal("no public listener")
	}
	for _, tt := range []struct{ method, path, body string }{
		{http.MethodGet, "/demo/", ""},
		{http.MethodGet, "/demo/sdk/index.js", ""},
		{http.MethodPost, "/demo/api/token", `{"account":"a1","device":"tv"}`},
		{http.MethodPost, "/demo/api/push", `{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"x"}}`},
		{http.MethodGet, "/demo/api/devices?account=a1", ""},
		{http.MethodPost, "/demo/api/publish", `{"topic":"scores.live","type":"notification.v1","payload":{"title":"x"}}`},
	} {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer test-key")
			rec := httptest.NewRecorder()
			public.ServeHTTP(rec, req)
			if rec.Code != http.StatusNotFound {
				t.Errorf("HTTP %d, want 404: %.200s", rec.Code, rec.Body)
			}
		})
	}
}

// TestDevBannerNamesTheDemo checks that the banner starts with the demo's URL.
func TestDevBannerNamesTheDemo(t *testing.T) {
	var b strings.Builder
	printDevBanner(&b, "127.0.0.1:8080", "127.0.0.1:9092", "")
	first := strings.TrimSpace(b.String())
	first, _, _ = strings.Cut(first, "\n")
	if want := "Demo  http://127.0.0.1:8080/demo/  (open it in two tabs)"; first != want {
		t.Errorf("first line of the banner %q, want %q", first, want)
	}
}
