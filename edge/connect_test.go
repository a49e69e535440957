package edge

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

func TestConnectAuth(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.AllowedOrigins = []string{"*.example.com"} })
	good := e.token(t, "a1", "tv1")
	expired := func() string {
		e.iss = mustIssuerAt(t, time.Now().Add(-2*time.Hour))
		defer func() { e.iss = mustIssuerAt(t, time.Now()) }()
		return e.token(t, "a1", "tv1")
	}()
	tests := []struct {
		name   string
		url    string
		header http.Header
		want   int // HTTP status of a failed handshake; 0 means it must succeed
	}{
		{"bearer header", "", http.Header{"Authorization": {"Bearer " + good}}, 0},
		{"query token as browsers send it", "?access_token=" + good, nil, 0},
		{"no token", "", nil, http.StatusUnauthorized},
		{"bad token", "", http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
		{"expired token", "", http.Header{"Authorization": {"Bearer " + expired}}, http.StatusUnauthorized},
		{"basic auth is not a bearer token", "", http.Header{"Authorization": {"Basic " + good}}, http.StatusUnauthorized},
		{"allowed origin pattern", "?access_token=" + good, http.Header{"Origin": {"https://app.example.com"}}, 0},
		{"same origin", "?access_token=" + good, http.Header{"Origin": {"SAME"}}, 0},
		{"foreign origin", "?access_token=" + good, http.Header{"Origin": {"https://evil.test"}}, http.StatusForbidden},
		{"foreign origin is refused before the token is checked", "", http.Header{"Origin": {"https://evil.test"}}, http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if o := tt.header.Get("Origin"); o == "SAME" {
				tt.header.Set("Origin", e.hs.URL)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, resp, err := websocket.Dial(ctx, e.wsURL()+tt.url, &websocket.DialOptions{HTTPHeader: tt.header, Subprotocols: []string{protocol.Subprotocol}})
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				defer c.CloseNow()
				d := &device{tb: t, c: c}
				if _, ok := d.read().(*protocol.Welcome); !ok {
					t.Fatal("no welcome")
				}
				return
			}
			if err == nil {
				c.CloseNow()
				t.Fatalf("dial succeeded, want HTTP %d", tt.want)
			}
			if resp == nil || resp.StatusCode != tt.want {
				t.Fatalf("dial: resp=%v err=%v, want HTTP %d", resp, err, tt.want)
			}
			if ct := resp.Header.Get("Content-Type"); ct != protocol.ProblemContentType {
				t.Fatalf("Content-Type %q, want a problem", ct)
			}
		})
	}
}

func TestConnectRequiresSubprotocol(t *testing.T) {
	e := mustEdge(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + e.token(t, "a1", "tv1")}}})
	if err != nil {
		t.Fatal(err)
	}
	d := &device{tb: t, c: c}
	if got := d.closeStatus(); got != websocket.StatusPolicyViolation {
		t.Fatalf("close status %v, want policy violation", got)
	}
}

func TestWelcome(t *testing.T) {
	now := time.UnixMilli(1763884800000)
	e := mustEdge(t, func(c *Config) { c.PingInterval = 20 * time.Second; c.Now = func() time.Time { return now } })
	d := e.mustDial(t, "a1", "tv1")
	w := d.welcome
	if w.Account != "a1" || w.Device != "tv1" || w.Edge != "edge-1" || w.PingMS != 20000 || w.ServerTime != now.UnixMilli() || !strings.HasPrefix(w.Session, "s_") {
		t.Fatalf("welcome = %+v", w)
	}
	got, err := e.reg.Lookup(context.Background(), "a1", "tv1")
	if err != nil || got.Session != w.Session || got.Edge != "edge-1" {
		t.Fatalf("registration = %+v, %v; want session %s", got, err, w.Session)
	}
}

func TestTakeover(t *testing.T) {
	e := mustEdge(t, nil)
	first := e.mustDial(t, "a1", "tv1")
	second := e.mustDial(t, "a1", "tv1")
	if got := first.closeStatus(); got != CloseReplaced {
		t.Fatalf("older connection closed with %v, want 4000", got)
	}
	// The older session's disconnect must not remove the newer registration.
	eventually(t, "one connection", func() bool { return e.srv.Stats().Connections == 1 })
	got, err := e.reg.Lookup(context.Background(), "a1", "tv1")
	if err != nil || got.Session != second.welcome.Session {
		t.Fatalf("registration = %+v, %v; want the newer session %s", got, err, second.welcome.Session)
	}
	r := e.srv.Deliver(context.Background(), "a1", "tv1", &protocol.Msg{ID: "m1", Type: "tiny.echo.v1", Payload: payload(map[string]string{"text": "hi"})}, nil)
	if r.Status != protocol.StatusDelivered {
		t.Fatalf("deliver after takeover: %+v", r)
	}
	if m := second.readMsg(); m.ID != "m1" {
		t.Fatalf("newer connection got %+v", m)
	}
}

func TestDisconnectUnregisters(t *testing.T) {
	e := mustEdge(t, nil)
	d := e.mustDial(t, "a1", "tv1")
	if err := d.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "unregistration", func() bool {
		_, err := e.reg.Lookup(context.Background(), "a1", "tv1")
		return err == registry.ErrNotFound
	})
	if r := e.srv.Deliver(context.Background(), "a1", "tv1", &protocol.Msg{ID: "m", Type: "tiny.echo.v1", Payload: payload(map[string]string{})}, nil); r.Status != protocol.StatusOffline {
		t.Fatalf("deliver to a gone device: %+v", r)
	}
}

func TestPongTimeoutCloses(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.PingInterval = 40 * time.Millisecond; c.PongTimeout = 40 * time.Millisecond })
	// A client that never reads never answers pings.
	c, _, err := e.dial("a1", "tv1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	eventually(t, "the silent connection to be closed", func() bool { return e.srv.Stats().Connections == 0 && e.srv.Stats().Accepted == 1 })
	// The count drops as the session leaves the table, just before it is
	// unregistered.
	eventually(t, "the silent connection to be unregistered", func() bool {
		_, err := e.reg.Lookup(context.Background(), "a1", "tv1")
		return err == registry.ErrNotFound
	})
}

func TestPingsKeepReadingClientsAlive(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.PingInterval = 20 * time.Millisecond; c.PongTimeout = 200 * time.Millisecond })
	d := e.mustDial(t, "a1", "tv1")
	// The client answers pings while it reads; after many ping intervals a message
	// still arrives on the same connection.
	done := make(chan protocol.Frame, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, data, err := d.c.Read(ctx)
		if err != nil {
			done <- nil
			return
		}
		f, _ := protocol.Decode(data)
		done <- f
	}()
	time.Sleep(300 * time.Millisecond)
	if r := e.srv.Deliver(context.Background(), "a1", "tv1", &protocol.Msg{ID: "late", Type: "tiny.echo.v1", Payload: payload(map[string]string{})}, nil); r.Status != protocol.StatusDelivered {
		t.Fatalf("deliver: %+v", r)
	}
	if m, ok := (<-done).(*protocol.Msg); !ok || m.ID != "late" {
		t.Fatalf("got %#v", m)
	}
}

func TestShutdownClosesWithGoingAway(t *testing.T) {
	e := mustEdge(t, nil)
	devs := []*device{e.mustDial(t, "a1", "tv1"), e.mustDial(t, "a1", "phone1"), e.mustDial(t, "a2", "tv1")}
	// Devices keep reading, as real ones do, so they answer the close handshake.
	codes := make(chan websocket.StatusCode, len(devs))
	for _, d := range devs {
		go func() { codes <- d.closeStatus() }()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for range devs {
		if got := <-codes; got != CloseGoingAway {
			t.Fatalf("closed with %v, want 1001", got)
		}
	}
	for _, k := range [][2]string{{"a1", "tv1"}, {"a1", "phone1"}, {"a2", "tv1"}} {
		if _, err := e.reg.Lookup(context.Background(), k[0], k[1]); err != registry.ErrNotFound {
			t.Fatalf("%v still registered after shutdown", k)
		}
	}
	// New connections are refused while shut down.
	if _, resp, err := e.dial("a1", "tv1", nil); err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("dial after shutdown: %v %v", resp, err)
	}
}
