package main

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
	"testing"
)

// mustRSAPEM writes a fresh RSA public key as PEM and returns the private key
// and the file's path.
func mustRSAPEM(t *testing.T) (*rsa.PrivateKey, string) {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return k, mustConfigFile(t, "rs.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
}

func TestTokenKeySettings(t *testing.T) {
	_, pemFile := mustRSAPEM(t)
	jwks := mustConfigFile(t, "jwks.json", `{"keys":[{"kty":"oct","kid":"j1","k":"`+base64.RawURLEncoding.EncodeToString([]byte(testSecret))+`"}]}`)
	badJWKS := mustConfigFile(t, "bad.json", `{"keys":[{"kty":"EC","kid":"x"}]}`)
	tests := []struct {
		name   string
		args   []string
		stderr []string // empty: the configuration is valid
	}{
		{"rsa key only", []string{"--token-rsa-key", "r1:" + pemFile}, nil},
		{"jwks only", []string{"--token-jwks", jwks, "--token-skew", "5s"}, nil},
		{"every source", []string{"--token-secret", "h1:" + testSecret, "--token-rsa-key", "r1:" + pemFile, "--token-jwks", jwks}, nil},
		{"no key", nil, []string{"--token-secret", "--token-rsa-key", "--token-jwks", "required"}},
		{"zero skew", []string{"--token-secret", testSecret, "--token-skew", "0s"}, []string{"--token-skew", "out of range"}},
		{"skew too large", []string{"--token-secret", testSecret, "--token-skew", "1h"}, []string{"--token-skew", "5m0s"}},
		{"missing rsa file", []string{"--token-rsa-key", "r1:/nonexistent/rs.pem"}, []string{"--token-rsa-key", "/nonexistent/rs.pem"}},
		{"rsa file not pem", []string{"--token-rsa-key", jwks}, []string{"--token-rsa-key", jwks}},
		{"bad jwks", []string{"--token-jwks", badJWKS}, []string{"--token-jwks", "kty", badJWKS}},
		{"missing jwks", []string{"--token-jwks", "/nonexistent/jwks.json"}, []string{"--token-jwks", "/nonexistent/jwks.json"}},
		{"duplicate kid", []string{"--token-secret", "j1:" + testSecret, "--token-jwks", jwks}, []string{`"j1"`, "twice"}},
		{"zero jwks check", []string{"--token-jwks", jwks, "--token-jwks-check", "0s"}, []string{"--token-jwks-check"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			args := append([]string{"config", "print", "--roles", "edge"}, tt.args...)
			r := runCmd(t, ctx, args...)
			if tt.stderr == nil {
				if r.code != 0 {
					t.Fatalf("exit code %d\nstderr: %s", r.code, r.stderr)
				}
				return
			}
			if r.code != 2 {
				t.Fatalf("exit code %d, want 2\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not mention %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}

func TestTokenKeysFromFile(t *testing.T) {
	_, pemFile := mustRSAPEM(t)
	file := mustConfigFile(t, "herald.yaml", "roles: [edge]\ntoken-rsa-key:\n  - r1:"+pemFile+"\ntoken-skew: 10s\n")
	r := runCmd(t, context.Background(), "config", "print", "--config", file)
	if r.code != 0 {
		t.Fatalf("exit code %d\nstderr: %s", r.code, r.stderr)
	}
	got := printed(t, r.stdout)
	for setting, want := range map[string]string{"token-rsa-key": "r1:" + pemFile, "token-skew": "10s"} {
		if got[setting][0] != want || got[setting][1] != "file "+file {
			t.Errorf("%s = %v, want %s from the file", setting, got[setting], want)
		}
	}
}
