package edge

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

func TestDrawLifetime(t *testing.T) {
	tests := []struct {
		name   string
		lo, hi time.Duration
	}{
		{"the defaults", DefaultMinLifetime, DefaultMaxLifetime},
		{"a narrow range", 200 * time.Millisecond, 210 * time.Millisecond},
		{"a wide range", time.Second, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const draws, bins = 2000, 10
			var counts [bins]int
			for range draws {
				d := drawLifetime(tt.lo, tt.hi)
				if d < tt.lo || d > tt.hi {
					t.Fatalf("drew %v outside [%v, %v]", d, tt.lo, tt.hi)
				}
				counts[min(bins-1, int(float64(d-tt.lo)/float64(tt.hi-tt.lo)*bins))]++
			}
			// Each decile expects 200 draws (standard deviation about 13). The bounds
			// are six deviations wide, and the chi-square bound (9 degrees of freedom)
			// fails by chance about once in ten million runs.
			const want = draws / bins
			chi2 := 0.0
			for i, n := range counts {
				if n < want-80 || n > want+80 {
					t.Errorf("decile %d holds %d draws, want about %d: %v", i, n, want, counts)
				}
				chi2 += float64((n-want)*(n-want)) / want
			}
			if chi2 > 50 {
				t.Errorf("chi-square %.1f over 9 degrees of freedom: %v", chi2, counts)
			}
		})
	}
	t.Run("min equal to max", func(t *testing.T) {
		if d := drawLifetime(time.Minute, time.Minute); d != time.Minute {
			t.Fatalf("drew %v", d)
		}
	})
}

func TestLifetimeConfig(t *testing.T) {
	tests := []struct {
		name           string
		lo, hi, grace  time.Duration
		wantLo, wantHi time.Duration
		wantErr        bool
	}{
		{"defaults", 0, 0, 0, DefaultMinLifetime, DefaultMaxLifetime, false},
		{"both set", time.Minute, 2 * time.Minute, 0, time.Minute, 2 * time.Minute, false},
		{"equal", time.Minute, time.Minute, 0, time.Minute, time.Minute, false},
		{"only a short max pulls min down", 0, time.Minute, 0, time.Minute, time.Minute, false},
		{"only a long min pushes max up", time.Hour, 0, 0, time.Hour, time.Hour, false},
		{"min over max", 2 * time.Minute, time.Minute, 0, 0, 0, true},
		{"negative min", -time.Minute, time.Minute, 0, 0, 0, true},
		{"negative grace", 0, 0, -time.Second, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Config{MinLifetime: tt.lo, MaxLifetime: tt.hi, ReconnectGrace: tt.grace}
			err := c.lifetimeDefaults()
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error for %+v", c)
				}
				return
			}
			if err != nil || c.MinLifetime != tt.wantLo || c.MaxLifetime != tt.wantHi || c.ReconnectGrace <= 0 {
				t.Fatalf("got [%v, %v] grace %v, %v; want [%v, %v]", c.MinLifetime, c.MaxLifetime, c.ReconnectGrace, err, tt.wantLo, tt.wantHi)
			}
		})
	}
}

func TestWelcomeCarriesLifetime(t *testing.T) {
	lo, hi := time.Hour, 2*time.Hour
	e := mustEdge(t, func(c *Config) { c.MinLifetime, c.MaxLifetime = lo, hi })
	seen := map[int64]bool{}
	for i := range 50 {
		d := e.mustDial(t, "a1", "tv"+string(rune('a'+i%26))+string(rune('a'+i/26)))
		ms := d.welcome.LifetimeMS
		if ms < lo.Milliseconds() || ms > hi.Milliseconds() {
			t.Fatalf("lifetime_ms %d outside [%d, %d]", ms, lo.Milliseconds(), hi.Milliseconds())
		}
		seen[ms] = true
		_ = d.c.CloseNow()
	}
	if len(seen) < 40 {
		t.Fatalf("50 connections drew only %d distinct lifetimes", len(seen))
	}
}

// readReconnect reads frames until a reconnect and returns it.
func (d *device) readReconnect() *protocol.Reconnect {
	d.tb.Helper()
	for {
		if r, ok := d.read().(*protocol.Reconnect); ok {
			return r
		}
	}
}

func TestLifetimeEnds(t *testing.T) {
	const life, grace = 200 * time.Millisecond, 200 * time.Millisecond
	short := func(c *Config) { c.MinLifetime, c.MaxLifetime, c.ReconnectGrace = life, life, grace }

	t.Run("a device that ignores reconnect is closed with 4002 after the grace", func(t *testing.T) {
		e := mustEdge(t, short)
		d := e.mustDial(t, "a1", "tv1")
		if d.welcome.LifetimeMS != life.Milliseconds() {
			t.Fatalf("lifetime_ms %d, want %d", d.welcome.LifetimeMS, life.Milliseconds())
		}
		r := d.readReconnect()
		got := time.Now()
		if r.Reason != protocol.ReasonLifetime || r.AfterMS < 0 || r.AfterMS >= reconnectJitter.Milliseconds() {
			t.Fatalf("reconnect %+v", r)
		}
		if code := d.closeStatus(); code != CloseLifetime {
			t.Fatalf("closed with %v, want 4002", code)
		}
		// The close never comes before the grace (the bound allows for the time
		// the reconnect frame took to arrive).
		if waited := time.Since(got); waited < grace/2 {
			t.Fatalf("closed %v after the reconnect, before the grace of %v", waited, grace)
		}
		eventually(t, "the disconnect to be counted", func() bool {
			return e.metric(t, "herald_edge_disconnects_total", "reason", "lifetime", "code", "4002") == 1
		})
	})

	t.Run("a device that closes on reconnect is not closed with 4002", func(t *testing.T) {
		e := mustEdge(t, short)
		d := e.mustDial(t, "a1", "tv1")
		d.readReconnect()
		if err := d.c.Close(websocket.StatusNormalClosure, "reconnecting"); err != nil {
			t.Fatalf("close: %v", err)
		}
		eventually(t, "the disconnect to be counted", func() bool {
			return e.metric(t, "herald_edge_disconnects_total", "reason", "lifetime", "code", "1000") == 1
		})
		time.Sleep(2 * grace) // past the grace: nothing more happens to the session
		if n := e.metric(t, "herald_edge_disconnects_total"); n != 1 {
			t.Fatalf("%v disconnects counted, want 1", n)
		}
		if n := e.metric(t, "herald_edge_disconnects_total", "code", "4002"); n != 0 {
			t.Fatalf("%v disconnects with 4002", n)
		}
	})

	t.Run("an SSE stream gets the reconnect event and ends after the grace", func(t *testing.T) {
		e := mustEdge(t, short)
		events := e.mustEvents(t, "a1", "tv1")
		var w protocol.Welcome
		if err := json.Unmarshal([]byte(nextEvent(t, events, true).data), &w); err != nil || w.LifetimeMS != life.Milliseconds() {
			t.Fatalf("welcome %+v: %v", w, err)
		}
		f, err := protocol.Decode([]byte(nextEvent(t, events, true).data))
		if r, ok := f.(*protocol.Reconnect); err != nil || !ok || r.Reason != protocol.ReasonLifetime {
			t.Fatalf("second event %#v: %v, want a reconnect", f, err)
		}
		got := time.Now()
		for range events { // until the stream ends
		}
		if waited := time.Since(got); waited < grace/2 {
			t.Fatalf("stream ended %v after the reconnect, before the grace of %v", waited, grace)
		}
		eventually(t, "the disconnect to be counted", func() bool {
			return e.metric(t, "herald_edge_disconnects_total", "reason", "lifetime", "code", "4002") == 1
		})
	})

	t.Run("no reconnect comes before the lifetime ends", func(t *testing.T) {
		e := mustEdge(t, func(c *Config) { c.MinLifetime, c.MaxLifetime, c.ReconnectGrace = time.Hour, time.Hour, grace })
		d := e.mustDial(t, "a1", "tv1")
		ctx, cancel := context.WithTimeout(context.Background(), 3*life)
		defer cancel()
		if _, _, err := d.c.Read(ctx); err == nil {
			t.Fatal("a frame arrived on a connection with an hour to live")
		}
	})
}

// TestNoMessageAfterReconnect: once a session was sent a reconnect frame, a
// message for it is answered offline instead of being queued behind the frame,
// where a device that closes on the frame would drop it after the edge counted
// it delivered; the reconnect frame still follows what was queued before it.
func TestNoMessageAfterReconnect(t *testing.T) {
	e := mustEdge(t, nil)
	tv := e.mustDial(t, "a1", "tv1")
	var ss *session
	eventually(t, "the session", func() bool { ss = e.srv.session("a1", "tv1"); return ss != nil })
	msg := func(id string) *protocol.Msg {
		return &protocol.Msg{ID: id, Type: "tiny.echo.v1", Payload: payload(map[string]any{"text": id})}
	}
	ctx := context.Background()
	if r := e.srv.write(ctx, "a1", "tv1", msg("before"), nil); r.Status != protocol.StatusDelivered {
		t.Fatalf("before the reconnect: %+v", r)
	}
	e.srv.reconnect(ss, causeDrain)
	if r := e.srv.write(ctx, "a1", "tv1", msg("after"), nil); r.Status != protocol.StatusOffline {
		t.Fatalf("after the reconnect: %+v, want offline", r)
	}
	if m := tv.readMsg(); m.ID != "before" {
		t.Fatalf("first frame %+v", m)
	}
	if f, ok := tv.read().(*protocol.Reconnect); !ok || f.Reason != protocol.ReasonDrain {
		t.Fatalf("second frame %#v, want the reconnect", f)
	}
}
