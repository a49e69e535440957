package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// A connection lives past its first token's exp through two refreshes, and
// closes with 4001 at the last token's; the lifetime it had is kept.
func TestTokenRefresh(t *testing.T) {
	e := expiringEdge(t, nil)
	d, _ := e.dialToken(t, 2*time.Second)
	refresh := func(id string, ttl time.Duration, account, device string, topics ...string) protocol.Frame {
		t.Helper()
		tok, err := e.iss.IssueTopics(account, device, ttl, topics)
		if err != nil {
			t.Fatal(err)
		}
		d.send(&protocol.Refresh{ID: id, Token: tok})
		return d.read()
	}
	start := time.Now()
	for i, ttl := range []time.Duration{3 * time.Second, 4 * time.Second} {
		time.Sleep(time.Second)
		id := fmt.Sprint("r", i)
		f := refresh(id, ttl, "a1", "tv1")
		r, ok := f.(*protocol.Refreshed)
		if !ok || r.ID != id || r.Exp < time.Now().Unix() {
			t.Fatalf("refresh %d answered %#v", i, f)
		}
	}
	// Past the first token's exp (2 s) and the second's (3 s after 1 s):
	// alive, and still taking messages.
	time.Sleep(time.Until(start.Add(4200 * time.Millisecond)))
	if e.srv.session("a1", "tv1") == nil {
		t.Fatal("the connection closed before its refreshed token's exp")
	}
	ce := d.closeError()
	if ce.Code != CloseTokenExpired {
		t.Fatalf("closed with %v %q, want 4001", ce.Code, ce.Reason)
	}
	if took := time.Since(start); took < 4*time.Second {
		t.Fatalf("closed %v after the first refresh, before the last token's exp", took)
	}
	if n := e.metric(t, "herald_edge_token_refreshes_total"); n != 2 {
		t.Fatalf("herald_edge_token_refreshes_total %v, want 2", n)
	}
}

// A token for another device or account, one with other grants, or an
// invalid one is refused with forbidden, and the connection closes at the
// old deadline.
func TestTokenRefreshRefused(t *testing.T) {
	e := expiringEdge(t, nil)
	d, exp := e.dialToken(t, 2*time.Second)
	for _, c := range []struct {
		name, account, device string
		topics                []string
		raw                   string
	}{
		{name: "another device", account: "a1", device: "tv2"},
		{name: "another account", account: "a2", device: "tv1"},
		{name: "other grants", account: "a1", device: "tv1", topics: []string{"news.*"}},
		{name: "not a token", raw: "not.a.token"},
	} {
		tok := c.raw
		if tok == "" {
			var err error
			if tok, err = e.iss.IssueTopics(c.account, c.device, time.Hour, c.topics); err != nil {
				t.Fatal(err)
			}
		}
		d.send(&protocol.Refresh{ID: "x-" + strings.ReplaceAll(c.name, " ", "-"), Token: tok})
		er, ok := d.read().(*protocol.Error)
		if !ok || er.Code != protocol.CodeForbidden || er.Re != "x-"+strings.ReplaceAll(c.name, " ", "-") {
			t.Fatalf("%s: answered %#v, want forbidden", c.name, er)
		}
	}
	ce := d.closeError()
	if ce.Code != CloseTokenExpired || time.Now().Before(exp) {
		t.Fatalf("closed with %v at %v, want 4001 at the old exp %v", ce.Code, time.Now(), exp)
	}
}

// Refreshes share the hello budget.
func TestTokenRefreshBudget(t *testing.T) {
	e := expiringEdge(t, func(c *Config) { c.HelloRate, c.HelloBurst = 0.001, 1 })
	d, _ := e.dialToken(t, time.Hour)
	tok, err := e.iss.Issue("a1", "tv1", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	d.send(&protocol.Refresh{ID: "r1", Token: tok})
	if _, ok := d.read().(*protocol.Refreshed); !ok {
		t.Fatal("first refresh not answered refreshed")
	}
	d.send(&protocol.Refresh{ID: "r2", Token: tok})
	if er, ok := d.read().(*protocol.Error); !ok || er.Code != protocol.CodeRateLimited {
		t.Fatalf("second refresh answered %#v, want rate_limited", er)
	}
}

// POST /v1/refresh refreshes an SSE stream's token.
func TestTokenRefreshSSE(t *testing.T) {
	e := expiringEdge(t, nil)
	tok, err := e.iss.Issue("a1", "tv1", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, e.hs.URL+"/v1/events", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var session string
	eventually(t, "the stream's session", func() bool {
		if ss := e.srv.session("a1", "tv1"); ss != nil {
			session = ss.id
			return true
		}
		return false
	})
	post := func(token, body string) (int, string) {
		t.Helper()
		r, _ := http.NewRequest(http.MethodPost, e.hs.URL+"/v1/refresh", strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+token)
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var b bytes.Buffer
		_, _ = b.ReadFrom(res.Body)
		return res.StatusCode, b.String()
	}
	fresh, err := e.iss.Issue("a1", "tv1", 4*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := e.iss.Issue("a1", "tv2", time.Hour)
	for _, c := range []struct {
		name, token, body string
		want              int
	}{
		{"another device's session", other, fmt.Sprintf(`{"session":%q}`, session), http.StatusNotFound},
		{"a wrong session", fresh, `{"session":"s_nope"}`, http.StatusNotFound},
		{"no session", fresh, `{}`, http.StatusBadRequest},
		{"no token", "", fmt.Sprintf(`{"session":%q}`, session), http.StatusUnauthorized},
	} {
		if code, body := post(c.token, c.body); code != c.want {
			t.Errorf("%s: %d %s, want %d", c.name, code, body, c.want)
		}
	}
	start := time.Now()
	code, body := post(fresh, fmt.Sprintf(`{"session":%q}`, session))
	var out struct{ Exp int64 }
	if code != http.StatusOK || json.Unmarshal([]byte(body), &out) != nil || out.Exp < time.Now().Unix() {
		t.Fatalf("refresh: %d %s", code, body)
	}
	time.Sleep(2500 * time.Millisecond)
	if e.srv.session("a1", "tv1") == nil {
		t.Fatal("the stream closed at its first token's exp")
	}
	eventually(t, "the stream to close at the new token's exp", func() bool { return e.srv.session("a1", "tv1") == nil })
	if time.Since(start) < 2*time.Second {
		t.Fatal("closed before the refreshed expiry")
	}
}
