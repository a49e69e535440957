package edge

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/protocol"
)

func TestBadFrames(t *testing.T) {
	e := mustEdge(t, nil)
	tests := []struct {
		name  string
		frame string
		re    string
	}{
		{"not json", `hello`, ""},
		{"json array", `[1,2]`, ""},
		{"unknown kind", `{"t":"shout","id":"x1"}`, "x1"},
		{"missing t", `{"id":"x2"}`, "x2"},
		{"msg without type", `{"t":"msg","id":"x3","to":{"device":"tv1"},"payload":{}}`, "x3"},
		{"wrong field type", `{"t":"ack","id":7}`, ""},
		{"server-only kind", `{"t":"welcome","session":"s","account":"a","device":"d","edge":"e"}`, ""},
		{"msg without to", `{"t":"msg","id":"x4","type":"tiny.echo.v1","payload":{}}`, "x4"},
	}
	d := e.mustDial(t, "a1", "phone1")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.tb = t
			d.write(tt.frame)
			if got := d.readError(protocol.CodeBadFrame); got.Re != tt.re {
				t.Fatalf("re = %q, want %q (%s)", got.Re, tt.re, got.Message)
			}
		})
	}
	d.tb = t
	t.Run("binary message", func(t *testing.T) {
		d.tb = t
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.c.Write(ctx, websocket.MessageBinary, []byte(`{"t":"ack","id":"x"}`)); err != nil {
			t.Fatal(err)
		}
		d.readError(protocol.CodeBadFrame)
	})
}

func TestBadFrameLimit(t *testing.T) {
	e := mustEdge(t, nil)
	t.Run("a good frame does not reset the count", func(t *testing.T) {
		// The limit is a rate, not a streak: good frames between bad ones do not
		// give a client more bad frames.
		d := e.mustDial(t, "a1", "tv1")
		for range 2 {
			d.write("nope")
			d.readError(protocol.CodeBadFrame)
			d.write(`{"t":"ack","id":"m"}`)
		}
		d.write("nope")
		d.readError(protocol.CodeBadFrame)
		if got := d.closeStatus(); got != CloseUnsupported {
			t.Fatalf("close status %v, want %v", got, CloseUnsupported)
		}
	})
	t.Run("bad frames spread over the window keep the connection", func(t *testing.T) {
		e := mustEdge(t, func(c *Config) { c.BadFrameWindow = 300 * time.Millisecond })
		d := e.mustDial(t, "a1", "tv1")
		for range 6 {
			d.write("nope")
			d.readError(protocol.CodeBadFrame)
			time.Sleep(150 * time.Millisecond) // more than a token back (3 per 300 ms)
		}
		// Still open: an undecodable frame is still answered.
		d.write(`{"t":"msg","id":"q","to":{"device":"x"},"type":"no.such.v1","payload":{}}`)
		d.readError(protocol.CodeUnknownType)
	})
	t.Run("three in a row close with 1003", func(t *testing.T) {
		d := e.mustDial(t, "a1", "tv2")
		for range 3 {
			d.write("[]")
		}
		for range 3 {
			d.readError(protocol.CodeBadFrame)
		}
		if got := d.closeStatus(); got != CloseUnsupported {
			t.Fatalf("closed with %v, want 1003", got)
		}
	})
}

func TestFrameSizeLimit(t *testing.T) {
	const limit = 1024
	e := mustEdge(t, func(c *Config) { c.MaxFrameBytes = limit })
	frame := func(n int) string {
		base := `{"t":"hello","pad":""}`
		return strings.Replace(base, `""`, `"`+strings.Repeat("x", n-len(base))+`"`, 1)
	}
	if len(frame(limit)) != limit {
		t.Fatal("frame size arithmetic")
	}
	t.Run("at the limit", func(t *testing.T) {
		d := e.mustDial(t, "a1", "tv1")
		d.write(frame(limit))
		d.write("nope") // still open: the next frame is answered
		d.readError(protocol.CodeBadFrame)
	})
	t.Run("over the limit closes with 1009", func(t *testing.T) {
		d := e.mustDial(t, "a1", "tv2")
		d.write(frame(limit + 1))
		if got := d.closeStatus(); got != CloseTooBig {
			t.Fatalf("closed with %v, want 1009", got)
		}
	})
}

func TestDeviceToDevice(t *testing.T) {
	e := mustEdge(t, nil)
	phone := e.mustDial(t, "a1", "phone1")
	tv := e.mustDial(t, "a1", "tv1")
	tab := e.mustDial(t, "a1", "tab1")
	other := e.mustDial(t, "a2", "tv9")
	play := payload(map[string]any{"action": "seek", "position_ms": 1000})

	t.Run("to one device with a receipt", func(t *testing.T) {
		phone.send(&protocol.Msg{ID: "m1", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Payload: play,
			From: &protocol.Sender{Device: "spoofed"}})
		m := tv.readMsg()
		if m.ID != "m1" || m.From == nil || m.From.Device != "phone1" || m.Type != "playback.control.v1" || m.To != nil || m.TS == 0 {
			t.Fatalf("tv got %+v", m)
		}
		r := phone.readReceipt()
		if r.ID != "m1" || len(r.Results) != 1 || r.Results[0] != (protocol.Result{Device: "tv1", Status: protocol.StatusDelivered}) {
			t.Fatalf("receipt %+v", r)
		}
	})
	t.Run("ack gives a second receipt", func(t *testing.T) {
		phone.send(&protocol.Msg{ID: "m2", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Ack: true, Payload: play})
		m := tv.readMsg()
		if !m.Ack {
			t.Fatalf("ack flag lost: %+v", m)
		}
		if r := phone.readReceipt(); r.Results[0].Status != protocol.StatusDelivered {
			t.Fatalf("first receipt %+v", r)
		}
		tv.send(&protocol.Ack{ID: "m2"})
		if r := phone.readReceipt(); r.ID != "m2" || r.Results[0].Status != protocol.StatusAcked {
			t.Fatalf("second receipt %+v", r)
		}
	})
	t.Run("devices with one offline", func(t *testing.T) {
		e.mustList(t, "a1", "gone1")
		phone.send(&protocol.Msg{ID: "m3", Type: "playback.control.v1", To: &protocol.Target{Devices: []string{"tv1", "gone1", "tab1"}}, Payload: play})
		tv.readMsg()
		tab.readMsg()
		r := phone.readReceipt()
		want := []protocol.Result{{Device: "tv1", Status: "delivered"}, {Device: "gone1", Status: "offline"}, {Device: "tab1", Status: "delivered"}}
		if fmt.Sprint(r.Results) != fmt.Sprint(want) {
			t.Fatalf("results %v, want %v", r.Results, want)
		}
	})
	t.Run("siblings are the other devices of the account, online or not", func(t *testing.T) {
		phone.send(&protocol.Msg{Type: "playback.control.v1", To: &protocol.Target{Siblings: true}, Payload: play})
		a, b := tv.readMsg(), tab.readMsg()
		if a.ID == "" || a.ID != b.ID {
			t.Fatalf("server-assigned ids %q %q", a.ID, b.ID)
		}
		r := phone.readReceipt()
		want := []protocol.Result{{Device: "gone1", Status: "offline"}, {Device: "tab1", Status: "delivered"}, {Device: "tv1", Status: "delivered"}}
		if r.ID != a.ID || fmt.Sprint(r.Results) != fmt.Sprint(want) {
			t.Fatalf("receipt %+v, want %v", r, want)
		}
	})
	t.Run("an unknown device is rejected", func(t *testing.T) {
		phone.send(&protocol.Msg{ID: "m6", Type: "playback.control.v1", To: &protocol.Target{Devices: []string{"tv1", "nosuch"}}, Payload: play})
		tv.readMsg()
		r := phone.readReceipt()
		want := []protocol.Result{{Device: "tv1", Status: "delivered"}, {Device: "nosuch", Status: "rejected", Error: errUnknownDevice}}
		if fmt.Sprint(r.Results) != fmt.Sprint(want) {
			t.Fatalf("receipt %+v, want %v", r, want)
		}
	})
	t.Run("another account's device is answered as an unknown one", func(t *testing.T) {
		phone.send(&protocol.Msg{ID: "m5", Type: "playback.control.v1", To: &protocol.Target{Devices: []string{"tv1", "tv9"}}, Payload: play})
		tv.readMsg()
		r := phone.readReceipt()
		want := []protocol.Result{{Device: "tv1", Status: "delivered"}, {Device: "tv9", Status: "rejected", Error: errUnknownDevice}}
		if r.ID != "m5" || fmt.Sprint(r.Results) != fmt.Sprint(want) {
			t.Fatalf("receipt %+v, want %v", r, want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if _, _, err := other.c.Read(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("a2/tv9 received something: %v", err)
		}
	})
}

func TestDeviceMsgErrors(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.MaxTargets = 2 })
	d := e.mustDial(t, "a1", "phone1")
	e.mustList(t, "a1", "tv1", "a", "b", "c")
	tests := []struct {
		name   string
		msg    *protocol.Msg
		code   protocol.Code
		detail string // expected pointer of the first detail, if any
	}{
		{"unknown type", &protocol.Msg{ID: "e1", Type: "no.such.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]any{})}, protocol.CodeUnknownType, ""},
		{"schema invalid", &protocol.Msg{ID: "e2", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]any{"action": "seek", "position_ms": -5})}, protocol.CodeSchemaInvalid, "/position_ms"},
		{"service-only type", &protocol.Msg{ID: "e3", Type: "notification.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]any{"title": "x"})}, protocol.CodeForbidden, ""},
		{"payload over max_bytes", &protocol.Msg{ID: "e4", Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]any{"text": strings.Repeat("x", 100)})}, protocol.CodeTooLarge, ""},
		{"too many targets", &protocol.Msg{ID: "e5", Type: "tiny.echo.v1", To: &protocol.Target{Devices: []string{"a", "b", "c"}}, Payload: payload(map[string]any{})}, protocol.CodeTooLarge, ""},
		{"id too long", &protocol.Msg{ID: strings.Repeat("i", MaxIDBytes+1), Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]any{})}, protocol.CodeBadFrame, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d.tb = t
			d.send(tt.msg)
			got := d.readError(tt.code)
			if tt.code != protocol.CodeBadFrame && got.Re != tt.msg.ID {
				t.Fatalf("re = %q, want %q", got.Re, tt.msg.ID)
			}
			if tt.detail != "" && (len(got.Details) == 0 || got.Details[0].Pointer != tt.detail) {
				t.Fatalf("details %+v, want pointer %s", got.Details, tt.detail)
			}
		})
	}
}

// downList is a device list whose store is down.
type downList struct{ *devicelist.Memory }

var errDown = errors.New("store down")

func (downList) IDs(context.Context, string) ([]string, error) { return nil, errDown }
func (downList) Touch(context.Context, string, string, *protocol.DeviceInfo) error {
	return errDown
}

func TestDeviceListUnavailable(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.Devices = downList{devicelist.NewMemory()} })
	d := e.mustDial(t, "a1", "phone1") // connecting works without the device list
	for _, to := range []*protocol.Target{{Siblings: true}, {Device: "tv1"}} {
		d.send(&protocol.Msg{ID: "u1", Type: "tiny.echo.v1", To: to, Payload: payload(map[string]any{})})
		if got := d.readError(protocol.CodeUnavailable); got.Re != "u1" {
			t.Fatalf("re = %q", got.Re)
		}
	}
	// A per-message error never closes the connection.
	d.write("nope")
	d.readError(protocol.CodeBadFrame)
}

func TestRateLimit(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.MsgRate = 0.001; c.MsgBurst = 2; c.MaxRateHits = 3 })
	d := e.mustDial(t, "a1", "phone1")
	msg := func(id string) *protocol.Msg {
		return &protocol.Msg{ID: id, Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]any{})}
	}
	// The burst passes.
	for _, id := range []string{"r1", "r2"} {
		d.send(msg(id))
		if r := d.readReceipt(); r.ID != id {
			t.Fatalf("receipt %+v, want %s", r, id)
		}
	}
	// Then every msg is rate limited, and MaxRateHits in a row close with 1008.
	for _, id := range []string{"r3", "r4", "r5"} {
		d.send(msg(id))
		if got := d.readError(protocol.CodeRateLimited); got.Re != id {
			t.Fatalf("re %q, want %s", got.Re, id)
		}
	}
	if got := d.closeStatus(); got != ClosePolicy {
		t.Fatalf("closed with %v, want 1008", got)
	}
}

func TestPresence(t *testing.T) {
	e := mustEdge(t, nil)
	tv := e.mustDial(t, "a1", "tv1")
	tv.send(&protocol.Hello{Device: &protocol.DeviceInfo{Platform: "tv"}, Presence: ptr(true)})
	// Wait until the hello was handled: a msg after it is answered in order.
	tv.send(&protocol.Msg{ID: "sync", Type: "tiny.echo.v1", To: &protocol.Target{Device: "nobody"}, Payload: payload(map[string]any{})})
	tv.readReceipt()
	phone := e.mustDial(t, "a1", "phone1")
	e.mustDial(t, "a2", "phone9") // another account: no presence for a1
	p, ok := tv.read().(*protocol.Presence)
	if !ok || p.Device != "phone1" || !p.Online || p.TS == 0 {
		t.Fatalf("presence %+v", p)
	}
	if err := phone.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	p, ok = tv.read().(*protocol.Presence)
	if !ok || p.Device != "phone1" || p.Online {
		t.Fatalf("presence %+v", p)
	}
}

func ptr[T any](v T) *T { return &v }
