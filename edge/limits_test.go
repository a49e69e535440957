package edge

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

// testClock is a clock that moves only when told.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func newTestClock() *testClock { return &testClock{now: time.UnixMilli(1763884800000)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// mustRefuse dials and requires a 503 problem before the upgrade; it returns the
// response.
func (e *testEdge) mustRefuse(t *testing.T, account, dev string) *http.Response {
	t.Helper()
	c, resp, err := e.dial(account, dev, nil)
	if err == nil {
		_ = c.CloseNow()
		t.Fatalf("dial %s/%s succeeded, want 503", account, dev)
	}
	if resp == nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != protocol.ProblemContentType {
		t.Fatalf("dial %s/%s: %v %v, want a 503 problem", account, dev, resp, err)
	}
	return resp
}

func TestMaxConnections(t *testing.T) {
	for _, max := range []int{1, 5} {
		t.Run(fmt.Sprintf("%d allowed, the next refused", max), func(t *testing.T) {
			e := mustEdge(t, func(c *Config) { c.MaxConnections = max })
			var devs []*device
			for i := range max {
				devs = append(devs, e.mustDial(t, "a1", fmt.Sprintf("d%d", i)))
			}
			e.mustRefuse(t, "a1", "over")
			// SSE counts against the same limit.
			req, _ := http.NewRequest(http.MethodGet, e.hs.URL+"/v1/events", nil)
			req.Header.Set("Authorization", "Bearer "+e.token(t, "a1", "sse"))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("SSE over the limit: %s", resp.Status)
			}
			if got := e.metric(t, "herald_edge_connections_refused_total", "reason", "max_connections"); got != 2 {
				t.Fatalf("refused{max_connections} = %v, want 2", got)
			}
			// A connection that ends frees its place once it is unregistered.
			_ = devs[0].c.CloseNow()
			eventually(t, "a free place", func() bool {
				e.srv.mu.Lock()
				defer e.srv.mu.Unlock()
				return e.srv.conns == max-1
			})
			e.mustDial(t, "a1", "again")
			e.mustRefuse(t, "a1", "over")
		})
	}
}

func TestConnectRate(t *testing.T) {
	tests := []struct {
		name  string
		rate  float64
		burst int
		// allowed is the burst actually allowed from a full bucket.
		allowed int
		// refill is the wait for one more token; retry the Retry-After expected.
		refill time.Duration
		retry  string
	}{
		{"a burst of 3 at 2 per second", 2, 3, 3, 500 * time.Millisecond, "1"},
		{"a burst of 1 at 0.25 per second", 0.25, 1, 1, 4 * time.Second, "4"},
		{"the burst defaults to a second's worth", 4, 0, 4, 250 * time.Millisecond, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newTestClock()
			e := mustEdge(t, func(c *Config) { c.ConnectRate, c.ConnectBurst, c.Now = tt.rate, tt.burst, clock.Now })
			for i := range tt.allowed {
				e.mustDial(t, "a1", fmt.Sprintf("d%d", i))
			}
			resp := e.mustRefuse(t, "a1", "over")
			if got := resp.Header.Get("Retry-After"); got != tt.retry {
				t.Fatalf("Retry-After %q, want %q", got, tt.retry)
			}
			// A request with a bad token costs a token too: the bucket protects the
			// token check itself.
			clock.advance(tt.refill)
			if _, resp, err := e.dial("", "", http.Header{"Authorization": {"Bearer bad"}}); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("bad token: %v %v", resp, err)
			}
			e.mustRefuse(t, "a1", "over")
			clock.advance(tt.refill)
			e.mustDial(t, "a1", "refilled")
			e.mustRefuse(t, "a1", "over")
			if got := e.metric(t, "herald_edge_connections_refused_total", "reason", "rate_limited"); got != 3 {
				t.Fatalf("refused{rate_limited} = %v, want 3", got)
			}
		})
	}
}

func TestMaxOutRate(t *testing.T) {
	const burst = 3
	clock := newTestClock()
	e := mustEdge(t, func(c *Config) { c.MaxOutRate, c.MaxOutBurst, c.Now = 1, burst, clock.Now })
	d := e.mustDial(t, "a1", "tv1")
	deliver := func(id string) protocol.Result {
		return e.srv.Deliver(context.Background(), "a1", "tv1", &protocol.Msg{ID: id, Type: "tiny.echo.v1", Payload: payload(map[string]string{})}, nil)
	}
	for i := range burst {
		id := fmt.Sprintf("m%d", i)
		if r := deliver(id); r.Status != protocol.StatusDelivered {
			t.Fatalf("message %d of the burst: %+v", i, r)
		}
		if m := d.readMsg(); m.ID != id {
			t.Fatalf("got %s, want %s", m.ID, id)
		}
	}
	if r := deliver("over"); r.Status != protocol.StatusRejected || r.Error != string(protocol.CodeRateLimited) {
		t.Fatalf("message over the rate: %+v, want rejected rate_limited", r)
	}
	// Frames other than messages are not limited.
	d.write(`[]`)
	d.readError(protocol.CodeBadFrame)
	clock.advance(time.Second)
	if r := deliver("later"); r.Status != protocol.StatusDelivered {
		t.Fatalf("message after a second: %+v", r)
	}
	if m := d.readMsg(); m.ID != "later" {
		t.Fatalf("got %s, want later", m.ID)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"herald_frames_dropped_total", []string{"reason", "out_rate"}, 1},
		{"herald_frames_dropped_total", []string{"reason", "queue_full"}, 0},
		{"herald_frames_rate_limited_total", []string{"direction", "out"}, 1},
		{"herald_messages_total", []string{"path", "push", "direction", "out", "type", "tiny.echo.v1", "status", "delivered"}, burst + 1},
		{"herald_messages_total", []string{"path", "push", "direction", "out", "type", "tiny.echo.v1", "status", "rejected"}, 1},
	} {
		if got := e.metric(t, c.name, c.labels...); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

func TestLimitsConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*Config)
	}{
		{"negative MaxConnections", func(c *Config) { c.MaxConnections = -1 }},
		{"negative ConnectRate", func(c *Config) { c.ConnectRate = -1 }},
		{"negative ConnectBurst", func(c *Config) { c.ConnectBurst = -1 }},
		{"negative MaxOutRate", func(c *Config) { c.MaxOutRate = -1 }},
		{"negative MaxOutBurst", func(c *Config) { c.MaxOutBurst = -1 }},
		{"MinLifetime over MaxLifetime", func(c *Config) { c.MinLifetime, c.MaxLifetime = time.Hour, time.Minute }},
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
}

// nopVerifier refuses every token.
type nopVerifier struct{}

func (nopVerifier) Verify(string) (token.Claims, error) { return token.Claims{}, token.ErrInvalid }
