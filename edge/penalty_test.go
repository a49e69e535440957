package edge

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// floodUntilPolicy sends acks over the frame budget until the edge closes the
// connection, and requires the close to be 1008.
func (d *device) floodUntilPolicy() {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		for ctx.Err() == nil {
			if d.c.Write(ctx, websocket.MessageText, []byte(`{"t":"ack","id":"m"}`)) != nil {
				return
			}
		}
	}()
	for {
		_, _, err := d.c.Read(ctx)
		if err != nil {
			if got := websocket.CloseStatus(err); got != ClosePolicy {
				d.tb.Fatalf("read: %v, want close %v", err, ClosePolicy)
			}
			return
		}
	}
}

// mustBackoff dials and requires a 429 problem before the upgrade with the given
// Retry-After.
func (e *testEdge) mustBackoff(t *testing.T, account, dev, retry string) {
	t.Helper()
	c, resp, err := e.dial(account, dev, nil)
	if err == nil {
		_ = c.CloseNow()
		t.Fatalf("dial %s/%s succeeded, want 429", account, dev)
	}
	if resp == nil || resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Content-Type") != protocol.ProblemContentType {
		t.Fatalf("dial %s/%s: %v %v, want a 429 problem", account, dev, resp, err)
	}
	if got := resp.Header.Get("Retry-After"); got != retry {
		t.Fatalf("Retry-After %q, want %q", got, retry)
	}
}

// policyEdge is an edge whose frame budget is 5 frames, whose clock moves only
// when told, with a backoff of 5 s up to 10 s.
func policyEdge(t *testing.T, mutate func(*Config)) (*testEdge, *testClock) {
	clock := newTestClock()
	e := mustEdge(t, func(c *Config) {
		c.Now = clock.Now
		c.FrameRate, c.FrameBurst, c.MaxRateHits = 1, 5, 3
		c.PolicyBackoff, c.PolicyBackoffMax = 5*time.Second, 10*time.Second
		if mutate != nil {
			mutate(c)
		}
	})
	return e, clock
}

// TestPolicyBackoff: a device closed with 1008 is refused with 429 and
// Retry-After until its window passes; the window doubles for a repeat up to
// PolicyBackoffMax; the other devices of its account connect as before.
func TestPolicyBackoff(t *testing.T) {
	e, clock := policyEdge(t, nil)
	sibling := e.mustDial(t, "a1", "phone1")
	e.mustDial(t, "a1", "tv1").floodUntilPolicy()
	e.mustBackoff(t, "a1", "tv1", "5")
	clock.advance(4 * time.Second)
	e.mustBackoff(t, "a1", "tv1", "1")
	// SSE is refused alike, before its stream starts.
	req, _ := http.NewRequest(http.MethodGet, e.hs.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+e.token(t, "a1", "tv1"))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" {
		t.Fatalf("SSE in backoff: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
	}
	// The account's other devices are not in backoff.
	e.mustDial(t, "a1", "tv2")
	sibling.send(&protocol.Ack{ID: "m"})

	clock.advance(time.Second)
	e.mustDial(t, "a1", "tv1").floodUntilPolicy() // a repeat: the window doubles
	e.mustBackoff(t, "a1", "tv1", "10")
	clock.advance(10 * time.Second)
	e.mustDial(t, "a1", "tv1").floodUntilPolicy() // capped at PolicyBackoffMax
	e.mustBackoff(t, "a1", "tv1", "10")
	if got := e.metric(t, "herald_edge_connections_refused_total", "reason", "policy_backoff"); got != 5 {
		t.Fatalf("refused{policy_backoff} = %v, want 5", got)
	}
	if got := e.metric(t, "herald_edge_policy_backoff_devices"); got != 1 {
		t.Fatalf("policy_backoff_devices = %v, want 1", got)
	}
	// Quiet for PolicyBackoffMax after its window: forgotten, the next window is
	// PolicyBackoff again.
	clock.advance(10*time.Second + 10*time.Second)
	e.srv.penalties.sweep(clock.Now())
	if got := e.metric(t, "herald_edge_policy_backoff_devices"); got != 0 {
		t.Fatalf("policy_backoff_devices after the sweep = %v, want 0", got)
	}
	e.mustDial(t, "a1", "tv1").floodUntilPolicy()
	e.mustBackoff(t, "a1", "tv1", "5")
}

// TestPolicyBackoffOff: a negative PolicyBackoff lets a device closed with 1008
// reconnect at once.
func TestPolicyBackoffOff(t *testing.T) {
	e, _ := policyEdge(t, func(c *Config) { c.PolicyBackoff = -1 })
	e.mustDial(t, "a1", "tv1").floodUntilPolicy()
	e.mustDial(t, "a1", "tv1")
}

func TestPenaltyTable(t *testing.T) {
	now := time.UnixMilli(1763884800000)
	newTable := func(t *testing.T, limit int) *penalties {
		cfg := Config{PolicyBackoff: time.Second, PolicyBackoffMax: 4 * time.Second, PolicyBackoffDevices: limit}
		p, err := newPenalties(&cfg, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Run("at the bound an entry makes room", func(t *testing.T) {
		const limit = 3
		p := newTable(t, limit)
		for i := range limit + 2 {
			p.add(deviceKey{"a1", fmt.Sprintf("d%d", i)}, now)
		}
		if len(p.m) != limit {
			t.Fatalf("%d entries, want the bound %d", len(p.m), limit)
		}
		if got := testutil.ToFloat64(p.evicted); got != 2 {
			t.Fatalf("evictions = %v, want 2", got)
		}
		if p.wait(deviceKey{"a1", fmt.Sprintf("d%d", limit+1)}, now) != time.Second {
			t.Fatal("the newest device is not in backoff")
		}
		// A device already in the table at the bound takes no one's place.
		p.add(deviceKey{"a1", fmt.Sprintf("d%d", limit+1)}, now)
		if got := testutil.ToFloat64(p.evicted); got != 2 {
			t.Fatalf("evictions = %v after a repeat, want 2", got)
		}
	})
	t.Run("the window doubles up to the max, and is forgotten after a quiet max", func(t *testing.T) {
		p := newTable(t, 10)
		k := deviceKey{"a1", "d"}
		at := now
		for _, want := range []time.Duration{1, 2, 4, 4} {
			if got := p.add(k, at); got != want*time.Second {
				t.Fatalf("window %v, want %v", got, want*time.Second)
			}
			at = at.Add(want * time.Second) // reconnects as the window ends
		}
		// The window ended at `at`; one instant before PolicyBackoffMax passes it
		// is remembered, at PolicyBackoffMax it is forgotten.
		p.sweep(at.Add(4*time.Second - time.Nanosecond))
		if len(p.m) != 1 {
			t.Fatal("swept before the quiet period ended")
		}
		if got := p.add(k, at.Add(4*time.Second-time.Nanosecond)); got != 4*time.Second {
			t.Fatalf("a repeat within the quiet period: window %v, want 4s", got)
		}
		// That window ends at `end`, and is forgotten PolicyBackoffMax later.
		end := at.Add(8*time.Second - time.Nanosecond)
		p.sweep(end.Add(4 * time.Second))
		if len(p.m) != 0 {
			t.Fatal("not swept after the quiet period")
		}
		if got := p.add(k, end.Add(4*time.Second)); got != time.Second {
			t.Fatalf("after the quiet period: window %v, want 1s", got)
		}
	})
	t.Run("wait ends with the window", func(t *testing.T) {
		p := newTable(t, 10)
		k := deviceKey{"a1", "d"}
		p.add(k, now)
		if got := p.wait(k, now.Add(time.Second-time.Nanosecond)); got != time.Nanosecond {
			t.Fatalf("wait %v, want 1ns", got)
		}
		if got := p.wait(k, now.Add(time.Second)); got != 0 {
			t.Fatalf("wait %v at the window's end, want 0", got)
		}
		if got := p.wait(deviceKey{"a1", "other"}, now); got != 0 {
			t.Fatalf("wait %v for another device, want 0", got)
		}
	})
}

func TestPolicyBackoffConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"PolicyBackoffMax under PolicyBackoff", func(c *Config) { c.PolicyBackoff, c.PolicyBackoffMax = time.Minute, time.Second }},
		{"negative PolicyBackoffMax", func(c *Config) { c.PolicyBackoffMax = -1 }},
		{"negative PolicyBackoffDevices", func(c *Config) { c.PolicyBackoffDevices = -1 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Config{ID: "e", Verifier: nopVerifier{}, Registry: registry.NewMemory(), Types: mustTypes(t),
				Devices: devicelist.NewMemory(), Versions: registry.NewMemory()}
			tt.mutate(&cfg)
			s, err := New(cfg)
			if err == nil {
				_ = s.Shutdown(context.Background())
				t.Fatal("New accepted it")
			}
		})
	}
	t.Run("defaults", func(t *testing.T) {
		cfg := Config{ID: "e", Verifier: nopVerifier{}, Registry: registry.NewMemory(), Types: mustTypes(t),
			Devices: devicelist.NewMemory(), Versions: registry.NewMemory()}
		if err := cfg.setDefaults(); err != nil {
			t.Fatal(err)
		}
		if cfg.PolicyBackoff != DefaultPolicyBackoff || cfg.PolicyBackoffMax != DefaultPolicyBackoffMax || cfg.PolicyBackoffDevices != DefaultPolicyBackoffDevices {
			t.Fatalf("defaults %v %v %v", cfg.PolicyBackoff, cfg.PolicyBackoffMax, cfg.PolicyBackoffDevices)
		}
	})
}
