package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/settings"
)

// apikeyOutput is what `herald apikey` printed on stdout.
type apikeyOutput struct{ key, entry string }

// mustAPIKey runs `herald apikey args...` with stdin in and parses its stdout.
func mustAPIKey(tb testing.TB, in string, args ...string) apikeyOutput {
	tb.Helper()
	var stdout, stderr syncBuffer
	if err := apikey(args, strings.NewReader(in), &stdout, &stderr); err != nil {
		tb.Fatalf("herald apikey %v: %v\n%s", args, err, stderr.String())
	}
	var out apikeyOutput
	for line := range strings.Lines(stdout.String()) {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "key: "); ok {
			out.key = v
		}
		if v, ok := strings.CutPrefix(line, "api-keys entry: "); ok {
			out.entry = v
		}
	}
	if out.entry == "" {
		tb.Fatalf("herald apikey %v printed no entry:\n%s", args, stdout.String())
	}
	return out
}

func TestAPIKeyCommand(t *testing.T) {
	t.Run("new", func(t *testing.T) {
		out := mustAPIKey(t, "", "new", "--name", "backend", "--scopes", "send,types", "--rate", "6000/m", "--burst", "50")
		if !strings.HasPrefix(out.key, api.SecretPrefix) {
			t.Errorf("key %q does not start with %s", out.key, api.SecretPrefix)
		}
		if strings.Contains(out.entry, out.key) {
			t.Errorf("entry %q holds the key", out.entry)
		}
		k, plain, err := api.ParseKey(out.entry)
		if err != nil || plain {
			t.Fatalf("ParseKey(%q) = %v, plaintext %v", out.entry, err, plain)
		}
		want := api.Key{Name: "backend", Hash: api.HashSecret(out.key), Scopes: api.ScopeSend | api.ScopeTypes, Rate: 100, Burst: 50}
		if k != want {
			t.Errorf("entry %q reads as %+v, want %+v", out.entry, k, want)
		}
		if again := mustAPIKey(t, "", "new", "--name", "backend"); again.key == out.key {
			t.Errorf("two keys are the same")
		}
	})
	t.Run("hash", func(t *testing.T) {
		out := mustAPIKey(t, "an-old-plaintext-key\n", "hash", "--name", "legacy")
		if out.key != "" {
			t.Errorf("hash printed a key %q", out.key)
		}
		k, _, err := api.ParseKey(out.entry)
		if err != nil || k != api.NewKey("legacy", "an-old-plaintext-key") {
			t.Errorf("entry %q reads as %+v, %v", out.entry, k, err)
		}
	})
	bad := []struct {
		name   string
		args   []string
		in     string
		stderr string
	}{
		{"no subcommand", nil, "", "apikey new"},
		{"unknown subcommand", []string{"rotate"}, "", "apikey new"},
		{"no name", []string{"new"}, "", "--name"},
		{"bad name", []string{"new", "--name", "a b"}, "", "no spaces"},
		{"unknown scope", []string{"new", "--name", "b", "--scopes", "send,admin"}, "", `"admin"`},
		{"bad rate", []string{"new", "--name", "b", "--rate", "fast"}, "", "--rate"},
		{"burst without a rate", []string{"new", "--name", "b", "--burst", "5"}, "", "--burst"},
		{"hash without a key", []string{"hash", "--name", "b"}, "", "stdin"},
		{"hash of a short key", []string{"hash", "--name", "b"}, "short\n", "fewer than 8"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr syncBuffer
			err := apikey(tt.args, strings.NewReader(tt.in), &stdout, &stderr)
			if _, ok := err.(settings.UsageError); !ok || !strings.Contains(err.Error()+stderr.String(), tt.stderr) {
				t.Errorf("apikey %v = %v (stderr %q); want a usage error naming %q", tt.args, err, stderr.String(), tt.stderr)
			}
			if stdout.String() != "" {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}

func TestServeAPIKeyConfig(t *testing.T) {
	const secret = "a-production-secret-of-at-least-32-bytes"
	tests := []struct {
		name   string
		keys   string
		stderr []string
		not    []string
	}{
		{name: "the development key in plaintext", keys: "d:" + settings.DevAPIKey, stderr: []string{"public development key"}},
		{name: "the development key hashed", keys: api.NewKey("d", settings.DevAPIKey).Spec(), stderr: []string{"public development key"}},
		{name: "a bad scope", keys: api.NewKey("b", "some-key-1").Spec() + ":scopes=sned", stderr: []string{`"sned"`}},
		{name: "a short plaintext key", keys: "b:tiny-k", stderr: []string{"at least 8"}, not: []string{"tiny-k"}},
		{name: "a bad --api-key-rate", keys: "b:long-enough-key --api-key-rate=-1", stderr: []string{"--api-key-rate"}},
		{name: "a bad --max-json-depth", keys: "b:long-enough-key --max-json-depth=0", stderr: []string{"--max-json-depth"}},
		{name: "a bad --max-header-bytes", keys: "b:long-enough-key --max-header-bytes=0", stderr: []string{"--max-header-bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			keys, extra, _ := strings.Cut(tt.keys, " ")
			args := []string{"serve", "--token-secret", secret, "--api-keys", keys}
			if extra != "" {
				args = append(args, extra)
			}
			r := runCmd(t, context.Background(), args...)
			if r.code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", r.code, r.stderr)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr %q does not say %q", r.stderr, s)
				}
			}
			for _, s := range tt.not {
				if strings.Contains(r.stderr, s) {
					t.Errorf("stderr %q shows %q", r.stderr, s)
				}
			}
		})
	}
}

// TestServeAPIKeys runs serve with a hashed, scoped key and a plaintext one: the
// hashed key works within its scopes, the plaintext one draws a warning that
// names it and never shows its secret.
func TestServeAPIKeys(t *testing.T) {
	scoped := mustAPIKey(t, "", "new", "--name", "typesonly", "--scopes", "types")
	const plainSecret = "legacy-plaintext-secret"
	p := startProc(t, "api", "--roles=api", "--api-keys", scoped.entry+",legacy:"+plainSecret)
	base := "http://" + p.addr
	do := func(method, path, key string) int {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitBound)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, method, base+path, strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode
	}
	t.Cleanup(http.DefaultClient.CloseIdleConnections)
	checks := []struct {
		name, method, path, key string
		status                  int
	}{
		{"scoped key in scope", http.MethodGet, "/v1/types", scoped.key, http.StatusOK},
		{"scoped key out of scope", http.MethodGet, "/v1/accounts/a1/devices", scoped.key, http.StatusForbidden},
		{"scoped key cannot send", http.MethodPost, "/v1/push", scoped.key, http.StatusForbidden},
		{"the entry is not a key", http.MethodGet, "/v1/types", scoped.entry, http.StatusUnauthorized},
		{"plaintext key has every scope", http.MethodGet, "/v1/accounts/a1/devices", plainSecret, http.StatusOK},
	}
	for _, c := range checks {
		if got := do(c.method, c.path, c.key); got != c.status {
			t.Errorf("%s: %s %s: HTTP %d, want %d", c.name, c.method, c.path, got, c.status)
		}
	}
	logs := p.Logs()
	if !strings.Contains(logs, "plaintext") || !strings.Contains(logs, "legacy") {
		t.Errorf("no warning about the plaintext key in the log:\n%s", logs)
	}
	for _, secret := range []string{plainSecret, scoped.key} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log shows a secret %q", secret)
		}
	}
}

// TestListenerHeaderLimits checks that every listener (public, internal, admin)
// refuses an oversized header with 431 and carries the configured timeouts.
func TestListenerHeaderLimits(t *testing.T) {
	const maxHeader = 2048
	var c settings.Server
	fs := settings.NewFlags("serve", &syncBuffer{})
	c.Flags(fs, false)
	err := settings.Parse(fs, []string{
		"--roles=edge,api", "--token-secret", "a-production-secret-of-at-least-32-bytes", "--api-keys", api.NewKey("b", "a-long-api-key").Spec(),
		"--addr", "127.0.0.1:0", "--internal-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0",
		"--max-header-bytes", fmt.Sprint(maxHeader), "--read-header-timeout", "7s", "--idle-timeout", "42s",
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(false); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan *node, 1), make(chan error, 1)
	stderr := &syncBuffer{}
	go func() { done <- serve(ctx, &c, &syncBuffer{}, stderr, func(n *node) { ready <- n }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitBound):
			t.Errorf("serve did not return")
		}
	})
	var n *node
	select {
	case n = <-ready:
	case err := <-done:
		t.Fatalf("serve: %v\n%s", err, stderr)
	case <-time.After(waitBound):
		t.Fatalf("serve is not listening\n%s", stderr)
	}
	if len(n.listeners) != 3 {
		t.Fatalf("%d listeners, want public, internal and admin", len(n.listeners))
	}
	for _, l := range n.listeners {
		t.Run(l.name, func(t *testing.T) {
			if l.srv.MaxHeaderBytes != maxHeader || l.srv.ReadHeaderTimeout != 7*time.Second || l.srv.IdleTimeout != 42*time.Second {
				t.Errorf("MaxHeaderBytes %d, ReadHeaderTimeout %v, IdleTimeout %v; want %d, 7s, 42s",
					l.srv.MaxHeaderBytes, l.srv.ReadHeaderTimeout, l.srv.IdleTimeout, maxHeader)
			}
			addr := l.ln.Addr().String()
			// net/http allows 4 KiB over MaxHeaderBytes; this is well past both.
			if got := rawStatus(t, addr, maxHeader+8192); got != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("an oversized header got HTTP %d, want 431", got)
			}
			if got := rawStatus(t, addr, maxHeader/4); got == http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("a header within the limit got 431")
			}
		})
	}
}

// rawStatus sends GET /healthz with a header field of size bytes to addr and
// returns the status of the answer.
func rawStatus(tb testing.TB, addr string, size int) int {
	tb.Helper()
	conn, err := net.DialTimeout("tcp", addr, waitBound)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(waitBound))
	req := "GET /healthz HTTP/1.1\r\nHost: herald\r\nX-Filler: " + strings.Repeat("x", size) + "\r\nConnection: close\r\n\r\n"
	if _, err := conn.Write([]byte(req)); err != nil {
		tb.Fatalf("writing the request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		tb.Fatalf("reading the answer: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}
