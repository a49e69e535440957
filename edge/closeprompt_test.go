package edge

import (
	"encoding/binary"
	"errors"
	"io"
	"os"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// TestMisbehaviourClosesPromptly: a device that keeps sending after the edge's
// close frame, never answering it, gets the close frame and then has its TCP
// connection closed, well before coder/websocket's 5 s close handshake would
// give up.
func TestMisbehaviourClosesPromptly(t *testing.T) {
	tests := []struct {
		name  string
		first []byte // what brings the close on
		code  websocket.StatusCode
	}{
		{"policy", nil, ClosePolicy},
		{"invalid UTF-8", []byte("{\"t\":\"ack\",\"id\":\"\xff\"}"), CloseInvalidUTF8},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := mustEdge(t, func(c *Config) { c.FrameRate, c.FrameBurst, c.MaxRateHits = 1, 5, 3 })
			d := e.dialRaw(t, "a1", "tv1", nil)
			if tt.first != nil {
				d.write(wsFrame(true, wsOpText, true, tt.first))
			}
			// The device floods until its writes fail, and never answers the close.
			ack := wsFrame(true, wsOpText, true, []byte(`{"t":"ack","id":"m"}`))
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					_ = d.c.SetWriteDeadline(time.Now().Add(5 * time.Second))
					if _, err := d.c.Write(ack); err != nil {
						return
					}
				}
			}()
			code := closeFrameCode(t, d)
			if code != tt.code {
				t.Fatalf("close code %v, want %v", code, tt.code)
			}
			closed := time.Now()
			// Whatever still comes, the connection ends (EOF, or a reset since the
			// device's unread frames were discarded).
			_ = d.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err := io.Copy(io.Discard, d.br)
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the connection is still open 10 s after the close frame")
			}
			// Generous for a loaded machine: the point is not 5 s of draining.
			if took := time.Since(closed); took > 3*time.Second {
				t.Fatalf("the connection ended %v after the close frame, want well under 5 s", took)
			}
		})
	}
}

// closeFrameCode reads frames until the close frame and returns its code.
func closeFrameCode(t *testing.T, d *rawDevice) websocket.StatusCode {
	t.Helper()
	p := d.frameOf(wsOpClose)
	if len(p) < 2 {
		t.Fatalf("close frame without a code: %q", p)
	}
	return websocket.StatusCode(binary.BigEndian.Uint16(p))
}

func TestMisbehaved(t *testing.T) {
	for code, want := range map[websocket.StatusCode]bool{
		ClosePolicy: true, CloseTooBig: true, CloseInvalidUTF8: true, CloseUnsupported: true,
		CloseNormal: false, CloseGoingAway: false, CloseReplaced: false, CloseLifetime: false,
		CloseTokenExpired: false, CloseRemoved: false, CloseInternal: false,
	} {
		if got := misbehaved(code); got != want {
			t.Errorf("misbehaved(%v) = %v, want %v", code, got, want)
		}
	}
}

// TestCloseBoundsAreSettings: the bounds of a close for misbehaviour default to
// DefaultCloseWriteTimeout and DefaultCloseLinger, reach each connection's
// transport as set, and may not be negative.
func TestCloseBoundsAreSettings(t *testing.T) {
	e := mustEdge(t, nil)
	if c := e.srv.cfg; c.CloseWriteTimeout != DefaultCloseWriteTimeout || c.CloseLinger != DefaultCloseLinger {
		t.Errorf("defaults: write %v, linger %v", c.CloseWriteTimeout, c.CloseLinger)
	}
	e = mustEdge(t, func(c *Config) { c.CloseWriteTimeout, c.CloseLinger = 3*time.Second, 40*time.Millisecond })
	e.mustDial(t, "a1", "tv1")
	var tr *wsTransport
	eventually(t, "the session", func() bool {
		e.srv.mu.Lock()
		defer e.srv.mu.Unlock()
		for _, ss := range e.srv.accounts {
			tr, _ = ss.t.(*wsTransport)
		}
		return tr != nil
	})
	if tr.closeWrite != 3*time.Second || tr.closeLinger != 40*time.Millisecond {
		t.Errorf("transport: write %v, linger %v", tr.closeWrite, tr.closeLinger)
	}
	for _, set := range []func(*Config){
		func(c *Config) { c.CloseWriteTimeout = -time.Second },
		func(c *Config) { c.CloseLinger = -time.Second },
	} {
		cfg := e.srv.cfg
		set(&cfg)
		if err := cfg.setDefaults(); err == nil {
			t.Errorf("a negative close bound was taken: %+v / %v", cfg.CloseWriteTimeout, cfg.CloseLinger)
		}
	}
}
