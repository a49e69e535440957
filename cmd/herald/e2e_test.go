package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// TestEndToEnd walks through what a new user does: start dev, listen as a device,
// send to it through the REST API.
func TestEndToEnd(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()

	listenOut, listenErr := &syncBuffer{}, &syncBuffer{}
	lctx, stopListen := context.WithCancel(ctx)
	defer stopListen()
	listenDone := make(chan int, 1)
	go func() {
		listenDone <- run(lctx, []string{"listen", "--url", dev.base, "--account", "a1", "--device", "tv1"}, listenOut, listenErr)
	}()
	mustFrame(t, listenOut, "the listener's welcome", func(f protocol.Frame) bool {
		w, ok := f.(*protocol.Welcome)
		return ok && w.Account == "a1" && w.Device == "tv1"
	})
	// A device that has its welcome is routable (docs/protocol.md): no waiting for
	// the registry before sending.

	send := func(t *testing.T, device, payload string) result {
		t.Helper()
		return runCmd(t, ctx, "send", "--url", dev.base, "--key", settings.DevAPIKey, "--account", "a1", "--device", device,
			"--type", "notification.v1", "--payload", payload, "--timeout", "10s")
	}

	t.Run("send to the listener is delivered", func(t *testing.T) {
		r := send(t, "tv1", `{"title":"Hi"}`)
		if r.code != 0 || !strings.Contains(r.stdout, "delivered") {
			t.Fatalf("send: exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		var pr struct {
			ID      string            `json:"id"`
			Results []protocol.Result `json:"results"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &pr); err != nil {
			t.Fatalf("send printed %q: %v", r.stdout, err)
		}
		f := mustFrame(t, listenOut, "the msg in the listener's output", func(f protocol.Frame) bool {
			m, ok := f.(*protocol.Msg)
			return ok && m.ID == pr.ID
		})
		m := f.(*protocol.Msg)
		if m.Type != "notification.v1" {
			t.Errorf("msg type %q, want notification.v1", m.Type)
		}
		if m.From == nil || m.From.Service != "dev" {
			t.Errorf("msg from %+v, want the dev API key's name", m.From)
		}
		var b bytes.Buffer
		if err := json.Compact(&b, m.Payload); err != nil || b.String() != `{"title":"Hi"}` {
			t.Errorf("msg payload %s, want {\"title\":\"Hi\"}", m.Payload)
		}
	})

	t.Run("send without --device reaches the account's devices", func(t *testing.T) {
		// The body names no "device": the API refuses "device":"".
		r := runCmd(t, ctx, "send", "--url", dev.base, "--key", settings.DevAPIKey, "--account", "a1",
			"--type", "notification.v1", "--payload", `{"title":"All"}`, "--timeout", "10s")
		var pr struct {
			ID      string            `json:"id"`
			Results []protocol.Result `json:"results"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &pr) != nil {
			t.Fatalf("send: exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		if len(pr.Results) != 1 || pr.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusDelivered}) {
			t.Errorf("results %+v, want tv1 delivered", pr.Results)
		}
		mustFrame(t, listenOut, "the msg in the listener's output", func(f protocol.Frame) bool {
			m, ok := f.(*protocol.Msg)
			return ok && m.ID == pr.ID
		})
	})

	t.Run("send to an unconnected device is queued in its inbox", func(t *testing.T) {
		r := send(t, "tv9", `{"title":"Hi"}`)
		if r.code != 0 || !strings.Contains(r.stdout, `"queued"`) || strings.Contains(r.stdout, "delivered") {
			t.Errorf("send: exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	})

	t.Run("invalid payload fails with the problem", func(t *testing.T) {
		r := send(t, "tv1", `{"title":5}`)
		if r.code != 1 {
			t.Errorf("exit code %d, want 1", r.code)
		}
		for _, s := range []string{"422", "schema_invalid", "/title"} {
			if !strings.Contains(r.stderr, s) {
				t.Errorf("stderr does not mention %q:\n%s", s, r.stderr)
			}
		}
		if r.stdout != "" {
			t.Errorf("stdout %q, want nothing", r.stdout)
		}
	})

	// The listener printed only frames.
	for line := range strings.SplitSeq(strings.TrimSpace(listenOut.String()), "\n") {
		if _, err := protocol.Decode([]byte(line)); err != nil {
			t.Errorf("listener printed %q, not a frame: %v", line, err)
		}
	}

	if err := dev.stop(); err != nil {
		t.Errorf("serve returned %v after its context was cancelled, want nil", err)
	}
	stopListen()
	select {
	case code := <-listenDone:
		if code != 0 {
			t.Errorf("listen exited %d, want 0\nstderr: %s", code, listenErr)
		}
	case <-time.After(waitBound):
		t.Fatalf("listen did not return after its context was cancelled")
	}
}

// TestBrowserConnect connects as a browser does: the token in the query, and an
// Origin header.
func TestBrowserConnect(t *testing.T) {
	dev := mustDev(t)
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(settings.DevTokenSecret)})
	if err != nil {
		t.Fatal(err)
	}
	good, err := iss.Issue("a1", "web1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte("some-other-secret-of-at-least-32-bytes")})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := other.Issue("a1", "web1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		origin string
		token  string // "" sends none
		status int    // 101 means connected
	}{
		{name: "own origin", origin: "http://" + dev.addr, token: good, status: http.StatusSwitchingProtocols},
		{name: "no origin", token: good, status: http.StatusSwitchingProtocols},
		{name: "foreign origin", origin: "http://evil.example", token: good, status: http.StatusForbidden},
		{name: "own host on another port", origin: "http://127.0.0.1:1", token: good, status: http.StatusForbidden},
		{name: "no token", origin: "http://" + dev.addr, status: http.StatusUnauthorized},
		{name: "malformed token", origin: "http://" + dev.addr, token: "not.a.token", status: http.StatusUnauthorized},
		{name: "token of another secret", origin: "http://" + dev.addr, token: forged, status: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := "ws://" + dev.addr + "/v1/connect"
			if tt.token != "" {
				u += "?access_token=" + url.QueryEscape(tt.token)
			}
			h := http.Header{}
			if tt.origin != "" {
				h.Set("Origin", tt.origin)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}, HTTPHeader: h})
			if c != nil {
				defer c.CloseNow()
			}
			if resp == nil {
				t.Fatalf("dial: no HTTP response: %v", err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("HTTP %d, want %d (%v)", resp.StatusCode, tt.status, err)
			}
			if tt.status != http.StatusSwitchingProtocols {
				if err == nil {
					t.Errorf("dial succeeded with HTTP %d", resp.StatusCode)
				}
				if ct := resp.Header.Get("Content-Type"); ct != protocol.ProblemContentType {
					t.Errorf("Content-Type %q, want %q", ct, protocol.ProblemContentType)
				}
				return
			}
			if err != nil {
				t.Fatalf("dial: %v", err)
			}
			if c.Subprotocol() != protocol.Subprotocol {
				t.Errorf("subprotocol %q, want %q", c.Subprotocol(), protocol.Subprotocol)
			}
			_, data, err := c.Read(ctx)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			f, err := protocol.Decode(data)
			if err != nil {
				t.Fatalf("decode %s: %v", data, err)
			}
			if w, ok := f.(*protocol.Welcome); !ok || w.Account != "a1" || w.Device != "web1" {
				t.Errorf("first frame %s, want a welcome for a1/web1", data)
			}
			_ = c.Close(websocket.StatusNormalClosure, "")
		})
	}
}

// TestServeListenFails checks that a taken address fails the command and leaves
// nothing running.
func TestServeListenFails(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	r := runCmd(t, context.Background(), "dev", "--addr", ln.Addr().String())
	if r.code != 1 || !strings.Contains(r.stderr, "listen on "+ln.Addr().String()) {
		t.Errorf("exit code %d, want 1 naming the address\nstderr: %s", r.code, r.stderr)
	}
}
