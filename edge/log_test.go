package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
)

// logBuffer collects log output; it is safe for concurrent use.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// lines parses the JSON log lines.
func (b *logBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		m := map[string]any{}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("log line %q: %v", l, err)
		}
		out = append(out, m)
	}
	return out
}

func TestLogsCarryNoSecrets(t *testing.T) {
	logs := &logBuffer{}
	e := mustEdge(t, func(c *Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.MsgRate, c.MsgBurst = 1e-9, 3
	})
	e.mustList(t, "a1", "phone1", "tv1")

	// Tokens: one signed by a stranger (well formed, refused), the device's own.
	stranger, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte("a-different-secret-of-at-least-32-bytes")})
	if err != nil {
		t.Fatal(err)
	}
	badTok, err := stranger.Issue("a1", "phone1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	goodTok := e.token(t, "a1", "phone1")
	// Any 12 characters of a token's claims or signature (its header is the same
	// for every token) give it away, as does any piece of a payload.
	secrets := []string{"SECRET", "PAYLOAD"}
	for _, tok := range []string{badTok, goodTok} {
		for _, part := range strings.Split(tok, ".")[1:] {
			for i := 0; i+12 <= len(part); i++ {
				secrets = append(secrets, part[i:i+12])
			}
		}
	}

	// A bad token, in the header and in the query.
	if _, resp, err := e.dial("", "", http.Header{"Authorization": {"Bearer " + badTok}}); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad token: %v %v", resp, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, resp, err := websocket.Dial(ctx, e.wsURL()+"?access_token="+badTok, nil); err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("bad query token: %v %v", resp, err)
	}

	tv := e.mustDial(t, "a1", "tv1")
	c, _, err := websocket.Dial(ctx, e.wsURL()+"?access_token="+goodTok, &websocket.DialOptions{Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	phone := &device{tb: t, c: c}
	phone.read() // the welcome

	// Bad frames, each carrying the secret.
	phone.write(`["SECRET-PAYLOAD-1"]`)
	phone.readError(protocol.CodeBadFrame)
	phone.write(`{"t":"msg","id":7,"type":"tiny.echo.v1","payload":{"text":"SECRET-PAYLOAD-2"}}`)
	phone.readError(protocol.CodeBadFrame)
	phone.write(`{"t":"msg","type":"tiny.echo.v1","to":{"device":"tv1"},"payload":{"text":SECRET-PAYLOAD-3}}`)
	phone.readError(protocol.CodeBadFrame)
	// A message delivered, one refused by its type's size limit, one over the rate.
	phone.send(&protocol.Msg{ID: "m1", Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]string{"text": "SECRET-PAYLOAD-4"})})
	tv.readMsg()
	phone.readReceipt()
	phone.send(&protocol.Msg{ID: "m2", Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]string{"text": strings.Repeat("SECRET-PAYLOAD-5", 8)})})
	phone.readError(protocol.CodeTooLarge)
	for range 2 {
		phone.send(&protocol.Msg{Type: "tiny.echo.v1", To: &protocol.Target{Device: "tv1"}, Payload: payload(map[string]string{"text": "SECRET-PAYLOAD-6"})})
		if f := phone.read(); f == nil {
			t.Fatal("no answer")
		}
	}
	if err := phone.c.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the disconnect to be logged", func() bool { return strings.Contains(logs.String(), `"msg":"disconnected"`) })

	out := logs.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the logs contain %q", s)
		}
	}
	seen := map[string]bool{}
	for _, l := range logs.lines(t) {
		msg, _ := l["msg"].(string)
		seen[msg] = true
		if _, ok := l["session"]; !ok {
			continue
		}
		// A line about a connection names it fully.
		for _, k := range []string{"account", "device", "session", "remote"} {
			if v, _ := l[k].(string); v == "" {
				t.Errorf("line %q lacks %s: %v", msg, k, l)
			}
		}
	}
	for _, msg := range []string{"authentication failed", "connected", "bad frame", "device rate limited", "disconnected"} {
		if !seen[msg] {
			t.Errorf("no %q line in the logs:\n%s", msg, out)
		}
	}
}

func TestLogLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tests := []struct {
		name string
		// at are the offsets of the lines, all of kind noisyAuth unless other.
		at             []time.Duration
		wantLogged     int
		wantSuppressed int // reported with the last line logged
	}{
		{"up to the limit in a second", repeat(0, noisyPerSecond), noisyPerSecond, 0},
		{"one over the limit is suppressed", repeat(0, noisyPerSecond+1), noisyPerSecond, 0},
		{"the next second reports what was suppressed", append(repeat(0, noisyPerSecond+3), time.Second), noisyPerSecond + 1, 3},
		{"spread lines all pass", []time.Duration{0, time.Second, 2 * time.Second, 3 * time.Second, 4 * time.Second, 5 * time.Second, 6 * time.Second}, 7, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l logLimiter
			logged, last := 0, 0
			for _, d := range tt.at {
				if ok, n := l.allow(noisyAuth, t0.Add(d)); ok {
					logged++
					last = n
				}
			}
			if logged != tt.wantLogged || last != tt.wantSuppressed {
				t.Fatalf("logged %d (last reported %d suppressed), want %d (%d)", logged, last, tt.wantLogged, tt.wantSuppressed)
			}
		})
	}
	t.Run("kinds are limited apart", func(t *testing.T) {
		var l logLimiter
		for range noisyPerSecond + 1 {
			l.allow(noisyAuth, t0)
		}
		if ok, _ := l.allow(noisyBadFrame, t0); !ok {
			t.Fatal("a bad frame line was suppressed by auth lines")
		}
	})
}

func repeat(d time.Duration, n int) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = d
	}
	return out
}
