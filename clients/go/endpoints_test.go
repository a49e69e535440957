package herald

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestNewEndpoints(t *testing.T) {
	tests := []struct {
		name      string
		url       string
		fallbacks []string
		retry     time.Duration
		want      []string // connect URLs; nil means New must fail
		wantErr   string   // a part of New's error
	}{
		{"url only", "ws://a", nil, 0, []string{"ws://a/v1/connect"}, ""},
		{"fallbacks in order", "https://eu.example.com", []string{"https://us.example.com", "wss://ap.example.com/herald"}, 0,
			[]string{"wss://eu.example.com/v1/connect", "wss://us.example.com/v1/connect", "wss://ap.example.com/herald/v1/connect"}, ""},
		{"no url with fallbacks", "", []string{"ws://b"}, 0, nil, "Config.URL is required"},
		{"empty fallback", "ws://a", []string{"ws://b", ""}, 0, nil, "Config.FallbackURLs[1] is empty"},
		{"bad fallback scheme", "ws://a", []string{"ftp://b"}, 0, nil, `Config.FallbackURLs[0] "ftp://b": scheme`},
		{"fallback without host", "ws://a", []string{"wss:///x"}, 0, nil, "has no host"},
		{"fallback same as url", "http://a", []string{"ws://a/v1/connect"}, 0, nil, `Config.FallbackURLs[0] "ws://a/v1/connect" is the same endpoint as Config.URL`},
		{"duplicate fallbacks", "ws://a", []string{"ws://b", "ws://c", "ws://b/"}, 0, nil, "Config.FallbackURLs[2] \"ws://b/\" is the same endpoint as Config.FallbackURLs[0]"},
		{"negative retry", "ws://a", []string{"ws://b"}, -time.Second, nil, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := New(Config{URL: tt.url, FallbackURLs: tt.fallbacks, FallbackRetry: tt.retry, Token: "t"})
			if tt.want == nil {
				if err == nil {
					t.Fatalf("New succeeded with %v", c.eps)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("New error %q, want one with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			var got []string
			for _, ep := range c.eps {
				got = append(got, ep.connect)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("endpoints %v, want %v", got, tt.want)
			}
			if c.Endpoint() != tt.url {
				t.Errorf("Endpoint() = %q before Run, want the preferred %q", c.Endpoint(), tt.url)
			}
		})
	}
}

func TestNextEndpoint(t *testing.T) {
	refused := fmt.Errorf("herald: dial: %w", errors.New("connect: connection refused"))
	status := func(code int) error { return &handshakeError{status: code, err: errors.New("status")} }
	closed := func(code websocket.StatusCode) error {
		return fmt.Errorf("herald: read: %w", websocket.CloseError{Code: code})
	}
	drain := &reconnectRequest{after: time.Second, reason: "drain"}
	tests := []struct {
		name   string
		cur, n int
		st     stage
		err    error
		want   int
	}{
		{"one endpoint: a failed dial stays", 0, 1, stageDial, refused, 0},
		{"preferred refused: the first fallback", 0, 3, stageDial, refused, 1},
		{"fallback refused: the next", 1, 3, stageDial, refused, 2},
		{"last refused: wrap to the preferred", 2, 3, stageDial, refused, 0},
		{"5xx before the upgrade moves", 0, 2, stageDial, status(http.StatusServiceUnavailable), 1},
		{"502 from a proxy moves", 0, 2, stageDial, status(http.StatusBadGateway), 1},
		{"429 with Retry-After stays", 0, 2, stageDial, status(http.StatusTooManyRequests), 0},
		{"401 stays", 1, 2, stageDial, status(http.StatusUnauthorized), 1},
		{"no welcome moves", 0, 2, stageDial, errors.New("herald: waiting for welcome: EOF"), 1},
		{"token func failed stays", 1, 3, stageToken, errors.New("herald: token: offline"), 1},
		{"lost on the preferred: the preferred again", 0, 3, stageConnected, closed(websocket.StatusAbnormalClosure), 0},
		{"lost on a fallback: back to the preferred", 2, 3, stageConnected, closed(websocket.StatusGoingAway), 0},
		{"drain on the preferred stays", 0, 2, stageConnected, drain, 0},
		{"drain on a fallback stays", 1, 2, stageConnected, drain, 1},
		{"token expired on a fallback stays", 1, 2, stageConnected, closed(closeTokenExpired), 1},
		{"preferred back", 2, 3, stageConnected, errPreferredBack, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nextEndpoint(tt.cur, tt.n, tt.st, tt.err); got != tt.want {
				t.Errorf("nextEndpoint(%d, %d, %d, %v) = %d, want %d", tt.cur, tt.n, tt.st, tt.err, got, tt.want)
			}
		})
	}
}

func TestAcksURL(t *testing.T) {
	for in, want := range map[string]string{
		"ws://a:8080/v1/connect":            "http://a:8080/v1/acks",
		"wss://a/herald/v1/connect?x=1":     "https://a/herald/v1/acks",
		"wss://edge.example.com/v1/connect": "https://edge.example.com/v1/acks",
	} {
		if got := acksURL(in); got != want {
			t.Errorf("acksURL(%s) = %s, want %s", in, got, want)
		}
	}
}

// TestFallbackAndBack runs a client whose preferred endpoint answers 503 (its
// region's edges gone, a load balancer left): it connects to the fallback,
// stays there while its checks of the preferred endpoint find it down, and
// once the preferred endpoint is back leaves the fallback with 1000, without
// an error, for it.
func TestFallbackAndBack(t *testing.T) {
	var down atomic.Bool
	down.Store(true)
	preferred := newScriptServer(t, func(sc *srvConn) { sc.drain() })
	preferred.auth = func(token string) int {
		switch {
		case down.Load():
			return http.StatusServiceUnavailable
		case token != "tok":
			return http.StatusUnauthorized
		}
		return 0
	}
	closes := make(chan websocket.StatusCode, 1)
	fallback := newScriptServer(t, func(sc *srvConn) {
		select {
		case closes <- sc.closeStatus():
		default: // a second connection: reported by the count of accepted ones
		}
	})

	var mu sync.Mutex
	var errs []error // guarded by mu: what each StateDisconnected reported
	r := startClient(t, Config{
		URL: preferred.URL, FallbackURLs: []string{fallback.URL}, FallbackRetry: 20 * time.Millisecond,
		Token: "tok", MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond,
		OnState: func(s State, err error) {
			if s == StateDisconnected {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		},
	})
	r.connected(t)
	if got := r.c.Endpoint(); got != fallback.URL {
		t.Fatalf("Endpoint() = %s, want the fallback %s", got, fallback.URL)
	}
	waitFor(t, "two checks of the preferred endpoint", func() bool { return preferred.probeCount() >= 2 })
	if n := len(fallback.acceptedTokens()); n != 1 {
		t.Errorf("%d connections to the fallback, want 1: a failed check must not leave it", n)
	}
	if got := r.c.Endpoint(); got != fallback.URL {
		t.Errorf("Endpoint() = %s after failed checks, want the fallback %s", got, fallback.URL)
	}

	down.Store(false)
	if got := recv(t, closes); got != websocket.StatusNormalClosure {
		t.Errorf("the fallback saw close %v, want 1000", got)
	}
	waitFor(t, "the connection to the preferred endpoint", func() bool { return len(preferred.acceptedTokens()) == 1 })
	r.connected(t)
	if got := r.c.Endpoint(); got != preferred.URL {
		t.Errorf("Endpoint() = %s, want the preferred %s", got, preferred.URL)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(errs) != 2 || errs[0] == nil || errs[1] != nil {
		t.Errorf("disconnects reported %v, want the preferred's 503, then leaving the fallback without an error", errs)
	}
}

// waitFor polls cond until it holds, within failAfter.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
