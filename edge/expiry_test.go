package edge

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
)

// expiringEdge is an edge whose verifier allows a tenth of a second of clock skew.
func expiringEdge(t *testing.T, mutate func(*Config)) *testEdge {
	t.Helper()
	return mustEdge(t, func(c *Config) {
		v, err := token.NewVerifier(token.VerifierConfig{HS256: []token.HS256Key{{Secret: testSecret}}, Leeway: 100 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		c.Verifier = v
		if mutate != nil {
			mutate(c)
		}
	})
}

// dialToken connects with a token valid for ttl (exp is in whole seconds, so it
// ends up to a second sooner) and reads the welcome.
func (e *testEdge) dialToken(t *testing.T, ttl time.Duration) (*device, time.Time) {
	t.Helper()
	tok, err := e.iss.Issue("a1", "tv1", ttl)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	c, _, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	d := &device{tb: t, c: c}
	if _, ok := d.read().(*protocol.Welcome); !ok {
		t.Fatal("first frame is not a welcome")
	}
	return d, time.Now().Add(ttl).Truncate(time.Second)
}

// closeError reads until the connection ends and returns its close frame.
func (d *device) closeError() websocket.CloseError {
	d.tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		_, _, err := d.c.Read(ctx)
		if err == nil {
			continue
		}
		var ce websocket.CloseError
		if !errors.As(err, &ce) {
			d.tb.Fatalf("connection ended without a close frame: %v", err)
		}
		return ce
	}
}

func TestTokenExpiryCloses(t *testing.T) {
	t.Run("an expired token closes its connection with 4001", func(t *testing.T) {
		e := expiringEdge(t, nil)
		d, exp := e.dialToken(t, 2*time.Second)
		ce := d.closeError()
		if ce.Code != CloseTokenExpired || ce.Reason != "token_expired" {
			t.Fatalf("closed with %v %q, want 4001 token_expired", ce.Code, ce.Reason)
		}
		if time.Now().Before(exp) {
			t.Fatalf("closed before the token's exp %v", exp)
		}
		eventually(t, "the disconnect to be counted", func() bool {
			return e.metric(t, "herald_edge_disconnects_total", "reason", "token_expired", "code", "4001") == 1
		})
	})

	t.Run("a token expiring in the reconnect grace closes with 4001", func(t *testing.T) {
		e := expiringEdge(t, func(c *Config) {
			c.MinLifetime, c.MaxLifetime, c.ReconnectGrace = 100*time.Millisecond, 100*time.Millisecond, time.Minute
		})
		d, _ := e.dialToken(t, 2*time.Second)
		d.readReconnect()
		if ce := d.closeError(); ce.Code != CloseTokenExpired {
			t.Fatalf("closed with %v, want 4001 (the grace is a minute)", ce.Code)
		}
	})

	t.Run("a lifetime ending first sends reconnect", func(t *testing.T) {
		e := expiringEdge(t, func(c *Config) {
			c.MinLifetime, c.MaxLifetime, c.ReconnectGrace = 100*time.Millisecond, 100*time.Millisecond, 100*time.Millisecond
		})
		d, _ := e.dialToken(t, time.Hour)
		d.readReconnect()
		if ce := d.closeError(); ce.Code != CloseLifetime {
			t.Fatalf("closed with %v, want 4002", ce.Code)
		}
	})

	t.Run("a token that outlives the test keeps its connection", func(t *testing.T) {
		e := expiringEdge(t, nil)
		d, _ := e.dialToken(t, time.Hour)
		d.send(&protocol.Hello{})
		time.Sleep(2 * time.Second) // longer than the short tokens above live
		d.send(&protocol.Hello{})
		if n := e.metric(t, "herald_edge_disconnects_total"); n != 0 {
			t.Fatalf("%v disconnects", n)
		}
	})
}

func TestTokenExpiryClosesSSE(t *testing.T) {
	e := expiringEdge(t, nil)
	tok, err := e.iss.Issue("a1", "tv1", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.hs.URL+"/v1/events", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := resp.Body.Read(buf); err != nil {
			if ctx.Err() != nil {
				t.Fatal("the stream outlived its token")
			}
			break
		}
	}
	eventually(t, "the disconnect to be counted", func() bool {
		return e.metric(t, "herald_edge_disconnects_total", "reason", "token_expired") == 1
	})
}
