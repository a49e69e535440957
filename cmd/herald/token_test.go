package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/settings"
)

// mustVerifier returns a verifier that accepts only key.
func mustVerifier(tb testing.TB, key token.HS256Key) *token.Verifier {
	tb.Helper()
	v, err := token.NewVerifier(token.VerifierConfig{HS256: []token.HS256Key{key}})
	if err != nil {
		tb.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func TestToken(t *testing.T) {
	const secret = "another-secret-of-at-least-32-bytes!"
	dev := token.HS256Key{Secret: []byte(settings.DevTokenSecret)}
	custom := token.HS256Key{Secret: []byte(secret)}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		accepts  token.HS256Key
		rejects  token.HS256Key
		devNote  bool          // stderr says the development secret signed
		validFor time.Duration // the token's lifetime
	}{
		{
			name: "development secret", args: []string{"--account", "a1", "--device", "tv1"},
			accepts: dev, rejects: custom, devNote: true, validFor: 24 * time.Hour,
		},
		{
			name: "--token-secret", args: []string{"--account", "a1", "--device", "tv1", "--token-secret", secret},
			accepts: custom, rejects: dev, validFor: 24 * time.Hour,
		},
		{
			name: "HERALD_TOKEN_SECRET", args: []string{"--account", "a1", "--device", "tv1"}, env: map[string]string{"HERALD_TOKEN_SECRET": secret},
			accepts: custom, rejects: dev, validFor: 24 * time.Hour,
		},
		{
			name: "kid:secret", args: []string{"--account", "a1", "--device", "tv1", "--token-secret", "k1:" + secret},
			accepts: token.HS256Key{ID: "k1", Secret: []byte(secret)}, rejects: token.HS256Key{ID: "k2", Secret: []byte(secret)}, validFor: 24 * time.Hour,
		},
		{
			name: "--ttl", args: []string{"--account", "a1", "--device", "tv1", "--ttl", "1h"},
			accepts: dev, rejects: custom, devNote: true, validFor: time.Hour,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			before := time.Now()
			r := runCmd(t, context.Background(), append([]string{"token"}, tt.args...)...)
			if r.code != 0 {
				t.Fatalf("exit code %d\nstderr: %s", r.code, r.stderr)
			}
			raw := strings.TrimSpace(r.stdout)
			if strings.ContainsAny(raw, " \n") {
				t.Fatalf("stdout is not one token: %q", r.stdout)
			}
			c, err := mustVerifier(t, tt.accepts).Verify(raw)
			if err != nil {
				t.Fatalf("token does not verify: %v", err)
			}
			if c.Account != "a1" || c.Device != "tv1" {
				t.Errorf("claims %s/%s, want a1/tv1", c.Account, c.Device)
			}
			// exp has one-second resolution.
			if lo, hi := before.Add(tt.validFor-time.Second), time.Now().Add(tt.validFor+time.Second); c.Expires.Before(lo) || c.Expires.After(hi) {
				t.Errorf("token expires at %v, want %v after it was minted", c.Expires, tt.validFor)
			}
			if _, err := mustVerifier(t, tt.rejects).Verify(raw); !errors.Is(err, token.ErrInvalid) {
				t.Errorf("a verifier with another key accepts the token: %v", err)
			}
			if got := strings.Contains(r.stderr, "development secret"); got != tt.devNote {
				t.Errorf("stderr mentions the development secret: %v, want %v\n%s", got, tt.devNote, r.stderr)
			}
		})
	}
}
