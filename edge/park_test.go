package edge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

// rawDevice is a device speaking WebSocket by hand over TCP, so that a test
// decides how its bytes are cut into writes.
type rawDevice struct {
	tb testing.TB
	c  net.Conn
	br *bufio.Reader
}

// dialRaw connects account/device; extra is written in the same write as the
// upgrade request.
func (e *testEdge) dialRaw(tb testing.TB, account, dev string, extra []byte) *rawDevice {
	tb.Helper()
	c, err := net.Dial("tcp", strings.TrimPrefix(e.hs.URL, "http://"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = c.Close() })
	req := "GET /v1/connect HTTP/1.1\r\nHost: edge\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol.Subprotocol + "\r\nAuthorization: Bearer " + e.token(tb, account, dev) + "\r\n\r\n"
	if _, err := c.Write(append([]byte(req), extra...)); err != nil {
		tb.Fatal(err)
	}
	d := &rawDevice{tb: tb, c: c, br: bufio.NewReader(c)}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(d.br, nil)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		tb.Fatalf("status %d", resp.StatusCode)
	}
	return d
}

// frame reads the next frame from the edge.
func (d *rawDevice) frame() (op byte, payload []byte) {
	d.tb.Helper()
	_ = d.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var h [2]byte
	if _, err := io.ReadFull(d.br, h[:]); err != nil {
		d.tb.Fatalf("read: %v", err)
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var b [2]byte
		_, _ = io.ReadFull(d.br, b[:])
		n = uint64(binary.BigEndian.Uint16(b[:]))
	case 127:
		var b [8]byte
		_, _ = io.ReadFull(d.br, b[:])
		n = binary.BigEndian.Uint64(b[:])
	}
	payload = make([]byte, n)
	if _, err := io.ReadFull(d.br, payload); err != nil {
		d.tb.Fatalf("read: %v", err)
	}
	return h[0] & 0x0f, payload
}

// frameOf reads frames until one with opcode op, answering pings.
func (d *rawDevice) frameOf(op byte) []byte {
	d.tb.Helper()
	for {
		got, p := d.frame()
		if got == op {
			return p
		}
		if got == wsOpPing {
			d.write(wsFrame(true, wsOpPong, true, p))
		}
	}
}

func (d *rawDevice) write(b []byte) {
	d.tb.Helper()
	if _, err := d.c.Write(b); err != nil {
		d.tb.Fatalf("write: %v", err)
	}
}

// mustGoroutinesAtMost waits until the process runs at most n goroutines.
func mustGoroutinesAtMost(tb testing.TB, n int) {
	tb.Helper()
	eventually(tb, "goroutines to go", func() bool { return runtime.NumGoroutine() <= n })
}

func TestIdleConnectionsPark(t *testing.T) {
	e := mustEdge(t, nil)
	base := runtime.NumGoroutine()
	const n = 20
	devs := make([]*device, n)
	for i := range devs {
		devs[i] = e.mustDial(t, "a1", "d"+string(rune('a'+i)))
	}
	// No goroutine per idle connection: neither the handler nor a reader.
	mustGoroutinesAtMost(t, base)
	// A parked connection still reads: each device's frame gets its answer, and
	// the connection parks again.
	for _, d := range devs {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := d.c.Write(ctx, websocket.MessageBinary, []byte("x")); err != nil {
			t.Fatal(err)
		}
		cancel()
		d.readError(protocol.CodeBadFrame)
	}
	mustGoroutinesAtMost(t, base)
	if got := e.srv.Stats().Connections; got != n {
		t.Fatalf("%d connections, want %d", got, n)
	}
}

func TestParkedConnectionEnds(t *testing.T) {
	tests := []struct {
		name  string
		end   func(d *device)
		cause string
	}{
		{"the device closes", func(d *device) { _ = d.c.Close(websocket.StatusNormalClosure, "") }, "client_closed"},
		{"the connection drops", func(d *device) { _ = d.c.CloseNow() }, "client_closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEdge(t, nil)
			base := runtime.NumGoroutine()
			d := e.mustDial(t, "a1", "tv1")
			mustGoroutinesAtMost(t, base)
			tt.end(d)
			eventually(t, "the session to end", func() bool { return e.srv.Stats().Connections == 0 })
			eventually(t, "the device to be unregistered", func() bool {
				_, err := e.reg.Lookup(context.Background(), "a1", "tv1")
				return err == registry.ErrNotFound
			})
			// Counted once the session has been unregistered.
			eventually(t, "the disconnect to be counted", func() bool {
				return e.metric(t, "herald_edge_disconnects_total", "reason", tt.cause) == 1
			})
		})
	}
}

func TestParkedConnectionsAnswerPings(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.PingInterval = 20 * time.Millisecond; c.PongTimeout = 150 * time.Millisecond })
	d := e.dialRaw(t, "a1", "tv1", nil)
	d.frameOf(0x1) // the welcome
	t.Run("pongs in one piece", func(t *testing.T) {
		for range 10 {
			d.frameOf(wsOpPing) // frameOf answers the pings it passes
			d.write(wsFrame(true, wsOpPong, true, nil))
		}
	})
	t.Run("pongs cut in two, the rest after a pause", func(t *testing.T) {
		for range 5 {
			d.frameOf(wsOpPing)
			pong := wsFrame(true, wsOpPong, true, []byte("x"))
			d.write(pong[:3])
			time.Sleep(30 * time.Millisecond)
			d.write(pong[3:])
		}
	})
	if got := e.srv.Stats().Connections; got != 1 {
		t.Fatalf("%d connections, want 1: a pong was missed", got)
	}
	d.write(wsFrame(true, 0x2, true, []byte("x")))
	if e := d.frameOf(0x1); !bytes.Contains(e, []byte(protocol.CodeBadFrame)) {
		t.Fatalf("got %s, want a bad_frame error", e)
	}
}

func TestFirstFrameWithTheRequest(t *testing.T) {
	e := mustEdge(t, nil)
	// The request and a frame in one write: net/http reads the frame's bytes with
	// the request, and the hijacked connection must hand them on.
	d := e.dialRaw(t, "a1", "tv1", wsFrame(true, 0x2, true, []byte("binary")))
	if w := d.frameOf(0x1); !bytes.Contains(w, []byte(`"welcome"`)) {
		t.Fatalf("first frame %s, want the welcome", w)
	}
	if e := d.frameOf(0x1); !bytes.Contains(e, []byte(protocol.CodeBadFrame)) {
		t.Fatalf("got %s, want a bad_frame error", e)
	}
}

func TestFragmentedMessageWithPauses(t *testing.T) {
	e := mustEdge(t, nil)
	base := runtime.NumGoroutine()
	d := e.dialRaw(t, "a1", "tv1", nil)
	d.frameOf(0x1) // the welcome
	mustGoroutinesAtMost(t, base)
	// A binary message in three fragments, with a ping between two of them and
	// pauses in which a reader between messages would park: the reader must stay
	// in the message.
	d.write(wsFrame(false, 0x2, true, []byte("ab")))
	time.Sleep(30 * time.Millisecond)
	d.write(wsFrame(true, wsOpPing, true, []byte("p")))
	if p := d.frameOf(wsOpPong); string(p) != "p" {
		t.Fatalf("pong %q", p)
	}
	time.Sleep(30 * time.Millisecond)
	d.write(wsFrame(false, 0x0, true, []byte("cd")))
	time.Sleep(30 * time.Millisecond)
	d.write(wsFrame(true, 0x0, true, []byte("ef")))
	if e := d.frameOf(0x1); !bytes.Contains(e, []byte(protocol.CodeBadFrame)) {
		t.Fatalf("got %s, want one bad_frame error for the message", e)
	}
	// Whole again, and parked.
	d.write(wsFrame(true, 0x2, true, []byte("x")))
	if e := d.frameOf(0x1); !bytes.Contains(e, []byte(protocol.CodeBadFrame)) {
		t.Fatalf("got %s, want a bad_frame error", e)
	}
	mustGoroutinesAtMost(t, base+1) // the test's own reader of the raw connection is not running
	if got := e.srv.Stats().Connections; got != 1 {
		t.Fatalf("%d connections", got)
	}
}
