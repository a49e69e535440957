package edge

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// The tests of this file check the rights of a device (docs/security.md, "Device
// rights and origins"): each fails if the rule it names is removed.

// TestForgedFromIsOverwritten: the edge sets a device message's "from" to the
// sender's own device, whatever the frame says, for a target on the same edge and
// for one on another edge.
func TestForgedFromIsOverwritten(t *testing.T) {
	edges, _ := mustCluster(t, 2, nil)
	phone := edges[0].mustDial(t, "a1", "phone1")
	local := edges[0].mustDial(t, "a1", "tab1")
	remote := edges[1].mustDial(t, "a1", "tv1")
	play := payload(map[string]any{"action": "pause"})
	for _, tc := range []struct {
		name   string
		to     string
		target *device
		forged *protocol.Sender
	}{
		{"another device, same edge", "tab1", local, &protocol.Sender{Device: "tv1"}},
		{"a service, same edge", "tab1", local, &protocol.Sender{Service: "billing"}},
		{"another device, across a link", "tv1", remote, &protocol.Sender{Device: "tab1"}},
		{"a service, across a link", "tv1", remote, &protocol.Sender{Service: "billing", Device: "tab1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := "forged-" + strings.ReplaceAll(tc.name, " ", "-")
			phone.send(&protocol.Msg{ID: id, Type: "playback.control.v1", To: &protocol.Target{Device: tc.to}, From: tc.forged, Payload: play})
			m := tc.target.readMsg()
			if m.ID != id || m.From == nil || *m.From != (protocol.Sender{Device: "phone1"}) {
				t.Fatalf("%s got %+v from %+v, want from phone1 only", tc.to, m, m.From)
			}
			if r := phone.readReceipt(); r.ID != id || r.Results[0].Status != protocol.StatusDelivered {
				t.Fatalf("receipt %+v", r)
			}
		})
	}
}

// TestTargetsStayInTheAccount: a device names targets by id within its own
// account. A device of another account is answered as an unknown device
// (rejected unknown_device), even when it is online on another edge; siblings and presence never cross accounts; the same id in two
// accounts reaches the sender's account only.
func TestTargetsStayInTheAccount(t *testing.T) {
	edges, _ := mustCluster(t, 2, nil)
	play := payload(map[string]any{"action": "pause"})
	foreign := edges[1].mustDial(t, "a2", "tv9")
	foreign.send(&protocol.Hello{Presence: ptr(true)})
	otherPhone := edges[0].mustDial(t, "a2", "phone2")
	// The hello of tv9 is handled once a msg after it is answered.
	// phone2's presence may come before the receipt or not at all.
	foreign.send(&protocol.Msg{ID: "sync", Type: "tiny.echo.v1", To: &protocol.Target{Device: "phone2"}, Payload: payload(map[string]any{})})
	for synced := false; !synced; {
		switch f := foreign.read().(type) {
		case *protocol.Receipt:
			synced = true
		case *protocol.Presence:
			if f.Device != "phone2" {
				t.Fatalf("a2/tv9 got presence of %s", f.Device)
			}
		default:
			t.Fatalf("a2/tv9 got %#v", f)
		}
	}
	otherPhone.readMsg()
	// a1's devices come online on both edges: presence a2/tv9 must not see.
	phone := edges[0].mustDial(t, "a1", "phone1")
	tv := edges[1].mustDial(t, "a1", "tv1")
	tv.send(&protocol.Hello{Device: &protocol.DeviceInfo{Platform: "tv"}})

	t.Run("a device of another account is answered as an unknown one", func(t *testing.T) {
		// tv9 is online in a2 on another edge; nosuch is in no account. The
		// answers are the same, so that a device cannot learn which ids exist in
		// other accounts, and neither names anything but the id it was sent.
		phone.send(&protocol.Msg{ID: "x1", Type: "playback.control.v1", To: &protocol.Target{Devices: []string{"tv9", "nosuch"}}, Payload: play})
		r := phone.readReceipt()
		want := []protocol.Result{
			{Device: "tv9", Status: protocol.StatusRejected, Error: errUnknownDevice},
			{Device: "nosuch", Status: protocol.StatusRejected, Error: errUnknownDevice},
		}
		if r.ID != "x1" || fmt.Sprint(r.Results) != fmt.Sprint(want) {
			t.Fatalf("receipt %+v, want %v", r, want)
		}
		// A foreign target among own ones: the own ones are delivered.
		phone.send(&protocol.Msg{ID: "x2", Type: "playback.control.v1", To: &protocol.Target{Devices: []string{"tv1", "tv9"}}, Payload: play})
		if m := tv.readMsg(); m.ID != "x2" {
			t.Fatalf("a1/tv1 got %+v", m)
		}
		r = phone.readReceipt()
		want = []protocol.Result{{Device: "tv1", Status: protocol.StatusDelivered}, {Device: "tv9", Status: protocol.StatusRejected, Error: errUnknownDevice}}
		if fmt.Sprint(r.Results) != fmt.Sprint(want) {
			t.Fatalf("receipt %+v, want %v", r, want)
		}
	})
	t.Run("siblings are of the sender's account", func(t *testing.T) {
		phone.send(&protocol.Msg{ID: "x4", Type: "playback.control.v1", To: &protocol.Target{Siblings: true}, Payload: play})
		r := phone.readReceipt()
		if len(r.Results) != 1 || r.Results[0].Device != "tv1" {
			t.Fatalf("siblings of a1/phone1: %+v, want a1/tv1 only", r.Results)
		}
		if m := tv.readMsg(); m.ID != "x4" {
			t.Fatalf("a1/tv1 got %+v", m)
		}
	})
	t.Run("neither messages nor presence reached the other account", func(t *testing.T) {
		// The next frame a2/tv9 sees is the presence of a2's new device (or of
		// a2/phone2, which may have come online after tv9's hello).
		edges[0].mustDial(t, "a2", "speaker2")
		for {
			switch f := foreign.read().(type) {
			case *protocol.Presence:
				if f.Device == "speaker2" {
					return
				}
				if f.Device != "phone2" {
					t.Fatalf("a2/tv9 got presence of %s", f.Device)
				}
			default:
				t.Fatalf("a2/tv9 got %#v", f)
			}
		}
	})
	t.Run("the same id in two accounts reaches the sender's account only", func(t *testing.T) {
		mine := edges[1].mustDial(t, "a2", "tv1") // a1 has a tv1 too
		otherPhone.send(&protocol.Msg{ID: "x3", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Payload: play})
		if m := mine.readMsg(); m.ID != "x3" || m.From.Device != "phone2" {
			t.Fatalf("a2/tv1 got %+v", m)
		}
		if r := otherPhone.readReceipt(); r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusDelivered}) {
			t.Fatalf("receipt %+v", r)
		}
		// a1/phone1 reaches a1/tv1, which saw nothing of x3 before.
		phone.send(&protocol.Msg{ID: "x5", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Payload: play})
		if m := tv.readMsg(); m.ID != "x5" {
			t.Fatalf("a1/tv1 got %+v, want x5", m)
		}
		phone.readReceipt()
	})
}

// TestAcksAreTheDevicesOwn: an ack, over POST /v1/acks or a WebSocket, counts only
// for a message the acking device itself received.
func TestAcksAreTheDevicesOwn(t *testing.T) {
	e := mustEdge(t, nil)
	events := e.mustEvents(t, "a1", "tv1")
	nextEvent(t, events, true) // welcome
	tab := e.mustDial(t, "a1", "tab1")
	e.mustDial(t, "a2", "tv1")
	res := make(chan protocol.Result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		res <- e.srv.Deliver(ctx, "a1", "tv1", &protocol.Msg{ID: "own1", Type: "tiny.echo.v1", Ack: true, Payload: payload(map[string]string{})}, nil)
	}()
	if ev := nextEvent(t, events, true); ev.id != "own1" {
		t.Fatalf("event %+v", ev)
	}
	ack := func(account, device string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/v1/acks", strings.NewReader(`{"ids":["own1"]}`))
		req.Header.Set("Authorization", "Bearer "+e.token(t, account, device))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("acks as %s/%s: %s %s", account, device, resp.Status, b)
		}
		return strings.TrimSpace(string(b))
	}
	for _, who := range [][2]string{{"a1", "tab1"}, {"a2", "tv1"}, {"a1", "phone1"}} {
		if got := ack(who[0], who[1]); got != `{"acked":0}` {
			t.Fatalf("ack of a1/tv1's message by %s/%s: %s, want acked 0", who[0], who[1], got)
		}
	}
	// Over a WebSocket too: the frame after the ack is answered in order.
	tab.send(&protocol.Ack{ID: "own1"})
	tab.send(&protocol.Msg{ID: "sync", Type: "tiny.echo.v1", To: &protocol.Target{Device: "tab1"}, Payload: payload(map[string]any{})})
	tab.readMsg()
	tab.readReceipt()
	select {
	case r := <-res:
		t.Fatalf("the delivery ended before a1/tv1 acked: %+v", r)
	default:
	}
	if got := ack("a1", "tv1"); got != `{"acked":1}` {
		t.Fatalf("own ack: %s", got)
	}
	if r := <-res; r.Status != protocol.StatusAcked {
		t.Fatalf("result %+v, want acked", r)
	}
}

// TestOriginAllowList: browsers may reach the device endpoints (WebSocket, SSE,
// acks) from the server's own host or a listed pattern only; a pattern matches a
// whole host name, not a suffix of it.
func TestOriginAllowList(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.AllowedOrigins = []string{"*.example.com", "tv.partner.test"} })
	tests := []struct {
		origin string
		want   int // status of GET /v1/events; POST /v1/acks answers 200 or the same refusal
	}{
		{"", http.StatusOK},
		{"SAME", http.StatusOK},
		{"https://app.example.com", http.StatusOK},
		{"https://APP.Example.COM", http.StatusOK},
		{"https://tv.partner.test", http.StatusOK},
		{"https://evil.test", http.StatusForbidden},
		{"https://example.com.evil.test", http.StatusForbidden},
		{"https://evilexample.com", http.StatusForbidden},
		{"https://tv.partner.test.evil.test", http.StatusForbidden},
		{"null", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run("origin "+tt.origin, func(t *testing.T) {
			origin := tt.origin
			if origin == "SAME" {
				origin = e.hs.URL
			}
			for _, ep := range []struct{ method, path, body string }{
				{http.MethodGet, "/v1/events", ""},
				{http.MethodPost, "/v1/acks", `{"ids":["nothing"]}`},
			} {
				ctx, cancel := context.WithCancel(context.Background())
				req, _ := http.NewRequestWithContext(ctx, ep.method, e.hs.URL+ep.path, strings.NewReader(ep.body))
				req.Header.Set("Authorization", "Bearer "+e.token(t, "a1", "tv1"))
				if origin != "" {
					req.Header.Set("Origin", origin)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					cancel()
					t.Fatal(err)
				}
				resp.Body.Close()
				cancel()
				if resp.StatusCode != tt.want {
					t.Fatalf("%s %s with Origin %q: %s, want %d", ep.method, ep.path, origin, resp.Status, tt.want)
				}
				if tt.want == http.StatusForbidden && !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/problem+json") {
					t.Fatalf("refusal is %s, want problem+json", resp.Header.Get("Content-Type"))
				}
			}
			// The WebSocket endpoint answers the same.
			hdr := http.Header{}
			if origin != "" {
				hdr.Set("Origin", origin)
			}
			c, resp, err := e.dial("a1", "tv1", hdr)
			if tt.want == http.StatusOK {
				if err != nil {
					t.Fatalf("dial with Origin %q: %v", origin, err)
				}
				_ = c.CloseNow()
				return
			}
			if err == nil {
				_ = c.CloseNow()
				t.Fatalf("dial with Origin %q succeeded", origin)
			}
			if resp == nil || resp.StatusCode != http.StatusForbidden {
				t.Fatalf("dial with Origin %q: %v, want 403", origin, err)
			}
		})
	}
}
