package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"
)

func secret(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }

func TestVerify(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(VerifierConfig{
		HS256:   []HS256Key{{ID: "k1", Secret: secret(1)}, {ID: "k2", Secret: secret(2)}},
		Ed25519: []Ed25519Key{{ID: "ed", Key: pub}},
		Leeway:  time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	mint := func(t *testing.T, i *Issuer, err error, ttl time.Duration) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		s, err := i.Issue("a1", "tv1", ttl)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hsKid := func(id string, b byte) func(t *testing.T) string {
		return func(t *testing.T) string {
			i, err := NewHS256Issuer(HS256Key{ID: id, Secret: secret(b)})
			return mint(t, i, err, time.Minute)
		}
	}
	tests := []struct {
		name    string
		token   func(t *testing.T) string
		wantErr error
	}{
		{"hs256 first key", hsKid("k1", 1), nil},
		{"hs256 rotated key", hsKid("k2", 2), nil},
		{"hs256 without kid tries every key", hsKid("", 2), nil},
		{"hs256 wrong kid for secret", hsKid("k1", 2), ErrInvalid},
		{"hs256 unknown secret", hsKid("", 3), ErrInvalid},
		{"eddsa", func(t *testing.T) string {
			i, err := NewEd25519Issuer("ed", priv)
			return mint(t, i, err, time.Minute)
		}, nil},
		{"expired", func(t *testing.T) string {
			i, err := NewHS256Issuer(HS256Key{ID: "k1", Secret: secret(1)})
			if err == nil {
				i.now = func() time.Time { return time.Now().Add(-time.Hour) }
			}
			return mint(t, i, err, time.Minute)
		}, ErrExpired},
		{"alg none", func(*testing.T) string {
			h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
			c := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"tv1","account":"a1","exp":9999999999}`))
			return h + "." + c + "."
		}, ErrInvalid},
		{"garbage", func(*testing.T) string { return "not-a-token" }, ErrInvalid},
		{"empty", func(*testing.T) string { return "" }, ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := v.Verify(tt.token(t))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Verify err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Account != "a1" || c.Device != "tv1" || c.Expires.IsZero() {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func TestEdDSARejectedWithoutEdKey(t *testing.T) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	v, err := NewVerifier(VerifierConfig{HS256: []HS256Key{{Secret: secret(1)}}})
	if err != nil {
		t.Fatal(err)
	}
	i, err := NewEd25519Issuer("", priv)
	if err != nil {
		t.Fatal(err)
	}
	s, err := i.Issue("a1", "tv1", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(s); !errors.Is(err, ErrInvalid) {
		t.Fatalf("EdDSA token accepted by an HS256-only verifier: %v", err)
	}
}

func TestConfigErrors(t *testing.T) {
	if _, err := NewVerifier(VerifierConfig{}); err == nil {
		t.Fatal("verifier without keys accepted")
	}
	if _, err := NewVerifier(VerifierConfig{HS256: []HS256Key{{Secret: []byte("short")}}}); err == nil {
		t.Fatal("short secret accepted")
	}
	if _, err := NewHS256Issuer(HS256Key{Secret: []byte("short")}); err == nil {
		t.Fatal("issuer with short secret accepted")
	}
	i, _ := NewHS256Issuer(HS256Key{Secret: secret(1)})
	if _, err := i.Issue("", "d", time.Minute); err == nil {
		t.Fatal("token without account issued")
	}
}
