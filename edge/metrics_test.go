package edge

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestConnectionsGauge(t *testing.T) {
	const n = 8
	e := mustEdge(t, nil)
	check := func(want int) {
		t.Helper()
		if got := testutil.ToFloat64(e.srv.met.connections); got != float64(want) {
			t.Fatalf("herald_edge_connections = %v, want %d", got, want)
		}
		if got := e.metric(t, "herald_edge_connections"); got != float64(want) {
			t.Fatalf("herald_edge_connections gathered = %v, want %d", got, want)
		}
		if got := e.srv.Stats().Connections; got != want {
			t.Fatalf("Stats().Connections = %d, want %d", got, want)
		}
	}
	check(0)
	var devs []*device
	for i := range n {
		// A device holding its welcome is attached, and counted.
		devs = append(devs, e.mustDial(t, "a1", fmt.Sprintf("d%d", i)))
		check(i + 1)
	}
	// A device connecting again replaces its connection: still one.
	old := devs[0]
	go old.closeStatus() // answer the close handshake
	devs[0] = e.mustDial(t, "a1", "d0")
	eventually(t, "the replaced connection to end", func() bool {
		return e.metric(t, "herald_edge_disconnects_total", "reason", "replaced", "code", "4000") == 1
	})
	check(n)
	for i, d := range devs {
		if err := d.c.Close(websocket.StatusNormalClosure, ""); err != nil {
			t.Fatal(err)
		}
		want := n - i - 1
		eventually(t, "the gauge to follow", func() bool { return e.srv.Stats().Connections == want })
		check(want)
	}
	if got := e.metric(t, "herald_edge_connects_total", "transport", "ws"); got != n+1 {
		t.Fatalf("connects{ws} = %v, want %d", got, n+1)
	}
	eventually(t, "every disconnect to be counted", func() bool {
		return e.metric(t, "herald_edge_disconnects_total", "reason", "client_closed", "code", "1000") == n
	})
}

func TestDisconnectReasons(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
		// end ends the device's connection somehow.
		end          func(t *testing.T, e *testEdge, d *device)
		reason, code string
	}{
		{"the device closes", nil, func(t *testing.T, e *testEdge, d *device) {
			_ = d.c.Close(websocket.StatusNormalClosure, "")
		}, "client_closed", "1000"},
		{"the device goes away", nil, func(t *testing.T, e *testEdge, d *device) {
			_ = d.c.Close(websocket.StatusGoingAway, "")
		}, "client_closed", "1001"},
		{"the device chooses its own code", nil, func(t *testing.T, e *testEdge, d *device) {
			_ = d.c.Close(4999, "")
		}, "client_closed", "other"},
		{"the device vanishes", nil, func(t *testing.T, e *testEdge, d *device) {
			_ = d.c.CloseNow()
		}, "client_closed", "1006"},
		{"replaced", nil, func(t *testing.T, e *testEdge, d *device) {
			go d.closeStatus() // answer the close handshake
			e.mustDial(t, "a1", "tv1")
		}, "replaced", "4000"},
		{"removed", nil, func(t *testing.T, e *testEdge, d *device) {
			go d.closeStatus()
			e.srv.closeSession("a1", "tv1", d.welcome.Session, CloseRemoved)
		}, "removed", "4003"},
		{"too many bad frames", nil, func(t *testing.T, e *testEdge, d *device) {
			for range DefaultMaxBadFrames {
				d.write("[]")
			}
		}, "bad_frames", "1003"},
		{"rate limited repeatedly", func(c *Config) { c.MsgRate, c.MsgBurst, c.MaxRateHits = 1e-9, 1, 2 }, func(t *testing.T, e *testEdge, d *device) {
			for range 3 {
				d.send(&protocol.Msg{Type: "tiny.echo.v1", To: &protocol.Target{Device: "x"}, Payload: payload(map[string]any{})})
			}
		}, "policy", "1008"},
		{"a frame too big", func(c *Config) { c.MaxFrameBytes = 64 }, func(t *testing.T, e *testEdge, d *device) {
			d.write(`{"t":"ack","id":"` + strings.Repeat("x", 100) + `"}`)
		}, "too_big", "1009"},
		{"no pong", func(c *Config) { c.PingInterval, c.PongTimeout = 40*time.Millisecond, 40*time.Millisecond }, func(t *testing.T, e *testEdge, d *device) {
			// The device never reads, so it never answers a ping.
		}, "ping_timeout", "1006"},
		{"shutdown", nil, func(t *testing.T, e *testEdge, d *device) {
			go d.closeStatus() // answer the close handshake
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := e.srv.Shutdown(ctx); err != nil {
				t.Error(err)
			}
		}, "shutdown", "1001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEdge(t, tt.mutate)
			d := e.mustDial(t, "a1", "tv1")
			tt.end(t, e, d)
			eventually(t, fmt.Sprintf("a disconnect {%s,%s}", tt.reason, tt.code), func() bool {
				return e.metric(t, "herald_edge_disconnects_total", "reason", tt.reason, "code", tt.code) == 1
			})
		})
	}
}

func TestMessageMetrics(t *testing.T) {
	// A burst of two: the first message and the one of an unknown type.
	e := mustEdge(t, func(c *Config) { c.MsgRate, c.MsgBurst = 1e-9, 2 })
	e.mustList(t, "a1", "phone1", "tv1")
	phone := e.mustDial(t, "a1", "phone1")
	tv := e.mustDial(t, "a1", "tv1")

	// A device message to a sibling: in accepted, out delivered, one latency.
	phone.send(&protocol.Msg{ID: "m1", Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]string{"text": "hi"})})
	if m := tv.readMsg(); m.ID != "m1" {
		t.Fatalf("got %+v", m)
	}
	phone.readReceipt()
	// A message of an unknown type: in rejected, as "other".
	phone.send(&protocol.Msg{ID: "m2", Type: "no.such.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]string{})})
	phone.readError(protocol.CodeUnknownType)
	// A message over the rate: in rate_limited.
	phone.send(&protocol.Msg{ID: "m3", Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]string{})})
	phone.readError(protocol.CodeRateLimited)
	// A push from a service: out delivered on the push path.
	if r := e.srv.Deliver(context.Background(), "a1", "tv1", &protocol.Msg{ID: "p1", Type: "tiny.echo.v1", Payload: payload(map[string]string{})}, nil); r.Status != protocol.StatusDelivered {
		t.Fatalf("push: %+v", r)
	}
	tv.readMsg()
	// A push to a device not here: out offline.
	e.srv.Deliver(context.Background(), "a1", "nobody", &protocol.Msg{ID: "p2", Type: "tiny.echo.v1", Payload: payload(map[string]string{})}, nil)

	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"herald_messages_total", []string{"path", "d2d", "direction", "in", "type", "tiny.echo.v1", "status", "accepted"}, 1},
		{"herald_messages_total", []string{"path", "d2d", "direction", "out", "type", "tiny.echo.v1", "status", "delivered"}, 1},
		{"herald_messages_total", []string{"path", "d2d", "direction", "in", "type", "other", "status", "rejected"}, 1},
		{"herald_messages_total", []string{"path", "d2d", "direction", "in", "type", "tiny.echo.v1", "status", "rate_limited"}, 1},
		{"herald_messages_total", []string{"path", "push", "direction", "out", "type", "tiny.echo.v1", "status", "delivered"}, 1},
		{"herald_messages_total", []string{"path", "push", "direction", "out", "type", "tiny.echo.v1", "status", "offline"}, 1},
		{"herald_messages_total", []string{"type", "no.such.v1"}, 0},
		{"herald_delivery_latency_seconds", []string{"path", "d2d"}, 1},
		{"herald_frames_rate_limited_total", []string{"direction", "in"}, 1},
	} {
		if got := e.metric(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestMetricsCostNoAllocations(t *testing.T) {
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	types := mustTypes(t)
	msg := &protocol.Msg{Type: "tiny.echo.v1", From: &protocol.Sender{Device: "d"}}
	unknown := &protocol.Msg{Type: "no.such.v1"}
	m.out(types, msg, protocol.StatusDelivered) // resolve the children once
	m.out(types, unknown, protocol.StatusDelivered)
	m.in(types, msg.Type, inAccepted)
	if n := testing.AllocsPerRun(1000, func() {
		m.out(types, msg, protocol.StatusDelivered)
		m.out(types, unknown, protocol.StatusDelivered)
		m.in(types, msg.Type, inAccepted)
		m.latency.Observe(0.001)
		m.dropped[dropQueueFull].Inc()
	}); n != 0 {
		t.Fatalf("%v allocations per message", n)
	}
}

func TestMetricsRegistration(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := newMetrics(reg); err != nil {
		t.Fatal(err)
	}
	// A second edge in the same registry is an error, not a panic.
	if _, err := newMetrics(reg); err == nil {
		t.Fatal("registered the edge's metrics twice")
	}
	// nil registers privately: any number of edges.
	for range 2 {
		if _, err := newMetrics(nil); err != nil {
			t.Fatal(err)
		}
	}
}
