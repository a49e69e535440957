package edge

import (
	"testing"
	"time"
)

func TestSessionInfo(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.MinLifetime, c.MaxLifetime = 20*time.Minute, 30*time.Minute })
	if _, ok := e.srv.SessionInfo("a1", "tv1"); ok {
		t.Fatal("SessionInfo before any connection: ok")
	}
	before := time.Now()
	d := e.mustDial(t, "a1", "tv1")
	got, ok := e.srv.SessionInfo("a1", "tv1")
	if !ok {
		t.Fatal("SessionInfo of a connected device: not ok")
	}
	if got.Session != d.welcome.Session || got.Transport != TransportWebSocket {
		t.Fatalf("SessionInfo = %+v; want session %q over ws", got, d.welcome.Session)
	}
	if got.Since.Before(before.Add(-time.Second)) || got.Since.After(time.Now()) {
		t.Fatalf("Since = %v, want about %v", got.Since, before)
	}
	if got.Lifetime < 20*time.Minute || got.Lifetime > 30*time.Minute {
		t.Fatalf("Lifetime = %v, want in [20m, 30m]", got.Lifetime)
	}
	if _, ok := e.srv.SessionInfo("a1", "phone"); ok {
		t.Fatal("SessionInfo of another device of the account: ok")
	}

	e.mustEvents(t, "a1", "web")
	eventually(t, "the SSE session", func() bool {
		info, ok := e.srv.SessionInfo("a1", "web")
		return ok && info.Transport == TransportSSE
	})
}
