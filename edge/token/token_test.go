package token

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func secret(b byte) []byte { return []byte(strings.Repeat(string(rune('a'+b)), 32)) }

var rsaKeys = sync.OnceValues(func() (*rsa.PrivateKey, *rsa.PrivateKey) {
	a, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	b, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return a, b
})

// sign mints a token with arbitrary header and claims.
func sign(t *testing.T, m jwt.SigningMethod, key any, kid any, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(m, claims)
	if kid != nil {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned builds an alg-none token by hand.
func unsigned(header string) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(header))
	c := base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"tv1","account":"a1","exp":9999999999}`))
	return h + "." + c + "."
}

func pubPEM(t *testing.T, k *rsa.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	edPub, edPriv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	_, edOther, _ := ed25519.GenerateKey(rand.Reader)
	rsa1, rsa2 := rsaKeys()
	const skew = 10 * time.Second
	v, err := NewVerifier(VerifierConfig{
		HS256:   []HS256Key{{ID: "k1", Secret: secret(1)}, {ID: "k2", Secret: secret(2)}},
		Ed25519: []Ed25519Key{{ID: "ed", Key: edPub}},
		RS256:   []RSAKey{{ID: "rs", Key: &rsa1.PublicKey}},
		Leeway:  skew,
		Now:     func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	rsOnly, err := NewVerifier(VerifierConfig{RS256: []RSAKey{{Key: &rsa1.PublicKey}}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	claims := func(mod func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"sub": "tv1", "account": "a1", "exp": now.Add(time.Minute).Unix()}
		if mod != nil {
			mod(c)
		}
		return c
	}
	ok := claims(nil)
	pem1 := pubPEM(t, &rsa1.PublicKey)
	tests := []struct {
		name    string
		v       *Verifier // nil: v
		token   string
		wantErr error
	}{
		{"hs256 first key", nil, sign(t, jwt.SigningMethodHS256, secret(1), "k1", ok), nil},
		{"hs256 rotated key", nil, sign(t, jwt.SigningMethodHS256, secret(2), "k2", ok), nil},
		{"hs256 without kid tries the hs256 keys", nil, sign(t, jwt.SigningMethodHS256, secret(2), nil, ok), nil},
		{"eddsa", nil, sign(t, jwt.SigningMethodEdDSA, edPriv, "ed", ok), nil},
		{"eddsa without kid", nil, sign(t, jwt.SigningMethodEdDSA, edPriv, nil, ok), nil},
		{"rs256", nil, sign(t, jwt.SigningMethodRS256, rsa1, "rs", ok), nil},
		{"rs256 without kid", nil, sign(t, jwt.SigningMethodRS256, rsa1, nil, ok), nil},
		{"exp passed within the skew", nil, sign(t, jwt.SigningMethodHS256, secret(1), "k1", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-skew / 2).Unix() })), nil},
		{"nbf ahead within the skew", nil, sign(t, jwt.SigningMethodHS256, secret(1), "k1", claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(skew / 2).Unix() })), nil},

		{"hs256 kid names another secret", nil, sign(t, jwt.SigningMethodHS256, secret(2), "k1", ok), ErrInvalid},
		{"hs256 unknown secret", nil, sign(t, jwt.SigningMethodHS256, secret(3), nil, ok), ErrInvalid},
		{"unknown kid", nil, sign(t, jwt.SigningMethodHS256, secret(1), "k9", ok), ErrInvalid},
		{"kid not a string", nil, sign(t, jwt.SigningMethodHS256, secret(1), 7, ok), ErrInvalid},
		{"empty kid", nil, sign(t, jwt.SigningMethodHS256, secret(1), "", ok), ErrInvalid},
		{"kid of an hs256 key on an eddsa token", nil, sign(t, jwt.SigningMethodEdDSA, edPriv, "k1", ok), ErrInvalid},
		{"eddsa unknown key", nil, sign(t, jwt.SigningMethodEdDSA, edOther, nil, ok), ErrInvalid},
		{"rs256 unknown key", nil, sign(t, jwt.SigningMethodRS256, rsa2, nil, ok), ErrInvalid},
		{"rs256 kid names another key", nil, sign(t, jwt.SigningMethodRS256, rsa2, "rs", ok), ErrInvalid},
		{"confusion: hs256 signed with the rsa public key, rsa kid", nil, sign(t, jwt.SigningMethodHS256, pem1, "rs", ok), ErrInvalid},
		{"confusion: hs256 signed with the rsa public key, no kid", nil, sign(t, jwt.SigningMethodHS256, pem1, nil, ok), ErrInvalid},
		{"confusion: rsa-only verifier", rsOnly, sign(t, jwt.SigningMethodHS256, pem1, nil, ok), ErrInvalid},
		{"confusion: rsa-only verifier, der bytes", rsOnly, sign(t, jwt.SigningMethodHS256, x509.MarshalPKCS1PublicKey(&rsa1.PublicKey), nil, ok), ErrInvalid},
		{"rs384 refused", rsOnly, sign(t, jwt.SigningMethodRS384, rsa1, nil, ok), ErrInvalid},
		{"hs512 refused", nil, sign(t, jwt.SigningMethodHS512, secret(1), "k1", ok), ErrInvalid},
		{"alg none", nil, unsigned(`{"alg":"none","typ":"JWT"}`), ErrInvalid},
		{"alg none with kid", nil, unsigned(`{"alg":"none","typ":"JWT","kid":"k1"}`), ErrInvalid},
		{"alg None", nil, unsigned(`{"alg":"None","typ":"JWT"}`), ErrInvalid},
		{"expired beyond the skew", nil, sign(t, jwt.SigningMethodHS256, secret(1), "k1", claims(func(c jwt.MapClaims) { c["exp"] = now.Add(-2 * skew).Unix() })), ErrExpired},
		{"no exp", nil, sign(t, jwt.SigningMethodHS256, secret(1), "k1", claims(func(c jwt.MapClaims) { delete(c, "exp") })), ErrInvalid},
		{"nbf beyond the skew", nil, sign(t, jwt.SigningMethodHS256, secret(1), "k1", claims(func(c jwt.MapClaims) { c["nbf"] = now.Add(2 * skew).Unix() })), ErrInvalid},
		{"no account", nil, sign(t, jwt.SigningMethodHS256, secret(1), "k1", claims(func(c jwt.MapClaims) { delete(c, "account") })), ErrInvalid},
		{"no sub", nil, sign(t, jwt.SigningMethodHS256, secret(1), "k1", claims(func(c jwt.MapClaims) { delete(c, "sub") })), ErrInvalid},
		{"garbage", nil, "not-a-token", ErrInvalid},
		{"empty", nil, "", ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vv := tt.v
			if vv == nil {
				vv = v
			}
			c, err := vv.Verify(tt.token)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Verify err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if c.Account != "a1" || c.Device != "tv1" || c.Expires.IsZero() || !c.Until.Equal(c.Expires.Add(skew)) {
				t.Fatalf("claims = %+v", c)
			}
		})
	}
}

func TestIssuers(t *testing.T) {
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	rsa1, _ := rsaKeys()
	v, err := NewVerifier(VerifierConfig{
		HS256:   []HS256Key{{ID: "hs", Secret: secret(1)}},
		Ed25519: []Ed25519Key{{ID: "ed", Key: edPub}},
		RS256:   []RSAKey{{ID: "rs", Key: &rsa1.PublicKey}},
	})
	if err != nil {
		t.Fatal(err)
	}
	hs, err1 := NewHS256Issuer(HS256Key{ID: "hs", Secret: secret(1)})
	ed, err2 := NewEd25519Issuer("ed", edPriv)
	rs, err3 := NewRS256Issuer("rs", rsa1)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	for name, i := range map[string]*Issuer{"hs256": hs, "eddsa": ed, "rs256": rs} {
		s, err := i.Issue("a1", "tv1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(s); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	hs.SetClock(func() time.Time { return time.Now().Add(-time.Hour) })
	s, _ := hs.Issue("a1", "tv1", time.Minute)
	if _, err := v.Verify(s); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired token: %v", err)
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
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	hs := []HS256Key{{Secret: secret(1)}}
	tests := []struct {
		name string
		cfg  VerifierConfig
	}{
		{"no keys", VerifierConfig{}},
		{"short secret", VerifierConfig{HS256: []HS256Key{{Secret: []byte("short")}}}},
		{"short ed25519 key", VerifierConfig{Ed25519: []Ed25519Key{{Key: make([]byte, 5)}}}},
		{"small rsa key", VerifierConfig{RS256: []RSAKey{{Key: &small.PublicKey}}}},
		{"nil rsa key", VerifierConfig{RS256: []RSAKey{{}}}},
		{"duplicate kid", VerifierConfig{HS256: []HS256Key{{ID: "a", Secret: secret(1)}, {ID: "a", Secret: secret(2)}}}},
		{"negative skew", VerifierConfig{HS256: hs, Leeway: -time.Second}},
		{"skew too large", VerifierConfig{HS256: hs, Leeway: MaxLeeway + time.Second}},
		{"negative jwks check", VerifierConfig{HS256: hs, JWKSCheck: -time.Second}},
		{"missing jwks file", VerifierConfig{HS256: hs, JWKSFile: filepath.Join(t.TempDir(), "none.json")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewVerifier(tt.cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := NewHS256Issuer(HS256Key{Secret: []byte("short")}); err == nil {
		t.Fatal("issuer with short secret accepted")
	}
	if _, err := NewRS256Issuer("", small); err == nil {
		t.Fatal("issuer with small rsa key accepted")
	}
	i, _ := NewHS256Issuer(HS256Key{Secret: secret(1)})
	if _, err := i.Issue("", "d", time.Minute); err == nil {
		t.Fatal("token without account issued")
	}
}

func TestReadRSAPublicKey(t *testing.T) {
	k, _ := rsaKeys()
	p := filepath.Join(t.TempDir(), "rs.pem")
	if err := os.WriteFile(p, pubPEM(t, &k.PublicKey), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := ReadRSAPublicKey(p)
	if err != nil || !got.Equal(&k.PublicKey) {
		t.Fatalf("ReadRSAPublicKey = %v, %v", got, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.pem")
	if err := os.WriteFile(bad, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRSAPublicKey(bad); err == nil {
		t.Fatal("a file without PEM accepted")
	}
}

// jwkJSON returns the JWK of a key, for JWKS files in tests.
func jwkJSON(kid string, k any) map[string]string {
	enc := base64.RawURLEncoding.EncodeToString
	switch k := k.(type) {
	case []byte:
		return map[string]string{"kty": "oct", "kid": kid, "k": enc(k), "alg": "HS256"}
	case ed25519.PublicKey:
		return map[string]string{"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": enc(k), "use": "sig"}
	case *rsa.PublicKey:
		return map[string]string{"kty": "RSA", "kid": kid, "n": enc(k.N.Bytes()), "e": enc(big.NewInt(int64(k.E)).Bytes()), "alg": "RS256"}
	}
	panic("unknown key type")
}

func writeJWKS(t *testing.T, path string, keys ...map[string]string) {
	t.Helper()
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestParseJWKSErrors(t *testing.T) {
	rsa1, _ := rsaKeys()
	tests := []struct {
		name string
		data string
	}{
		{"not json", `{`},
		{"no keys", `{"keys":[]}`},
		{"several keys without kid", `{"keys":[{"kty":"oct","k":"` + strings.Repeat("A", 43) + `"},{"kty":"oct","kid":"b","k":"` + strings.Repeat("A", 43) + `"}]}`},
		{"unknown kty", `{"keys":[{"kty":"EC","kid":"a","crv":"P-256"}]}`},
		{"oct with an rsa alg", `{"keys":[{"kty":"oct","kid":"a","alg":"RS256","k":"` + strings.Repeat("A", 43) + `"}]}`},
		{"rsa with an hmac alg", `{"keys":[{"kty":"RSA","kid":"a","alg":"HS256","n":"` + base64.RawURLEncoding.EncodeToString(rsa1.N.Bytes()) + `","e":"AQAB"}]}`},
		{"rsa without n", `{"keys":[{"kty":"RSA","kid":"a","e":"AQAB"}]}`},
		{"rsa even exponent", `{"keys":[{"kty":"RSA","kid":"a","n":"` + base64.RawURLEncoding.EncodeToString(rsa1.N.Bytes()) + `","e":"Ag"}]}`},
		{"okp other curve", `{"keys":[{"kty":"OKP","kid":"a","crv":"X25519","x":"` + strings.Repeat("A", 43) + `"}]}`},
		{"encryption key", `{"keys":[{"kty":"oct","kid":"a","use":"enc","k":"` + strings.Repeat("A", 43) + `"}]}`},
		{"bad base64", `{"keys":[{"kty":"oct","kid":"a","k":"!!"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, _, err := ParseJWKS([]byte(tt.data)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	// Short secrets and small RSA keys parse but are refused by the verifier.
	p := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, p, jwkJSON("a", []byte("short")))
	if _, err := NewVerifier(VerifierConfig{JWKSFile: p}); err == nil {
		t.Fatal("a short oct key accepted")
	}
}

func TestJWKSRotation(t *testing.T) {
	rsa1, rsa2 := rsaKeys()
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	p := filepath.Join(t.TempDir(), "jwks.json")
	writeJWKS(t, p, jwkJSON("old", &rsa1.PublicKey), jwkJSON("new", &rsa2.PublicKey), jwkJSON("ed", edPub), jwkJSON("hs", secret(4)))
	v, err := NewVerifier(VerifierConfig{JWKSFile: p, JWKSCheck: time.Second, Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	ok := func() jwt.MapClaims {
		return jwt.MapClaims{"sub": "tv1", "account": "a1", "exp": clock().Add(time.Hour).Unix()}
	}
	oldTok := sign(t, jwt.SigningMethodRS256, rsa1, "old", ok())
	newTok := sign(t, jwt.SigningMethodRS256, rsa2, "new", ok())
	for name, s := range map[string]string{
		"old": oldTok, "new": newTok,
		"ed": sign(t, jwt.SigningMethodEdDSA, edPriv, "ed", ok()),
		"hs": sign(t, jwt.SigningMethodHS256, secret(4), "hs", ok()),
	} {
		if _, err := v.Verify(s); err != nil {
			t.Fatalf("%s token before rotation: %v", name, err)
		}
	}

	// Retire "old" with an explicit reload.
	writeJWKS(t, p, jwkJSON("new", &rsa2.PublicKey))
	if err := v.Reload(); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(oldTok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("token of a removed key: %v", err)
	}
	if _, err := v.Verify(newTok); err != nil {
		t.Fatalf("token of the remaining key: %v", err)
	}

	// A bad file keeps the keys in use.
	if err := os.WriteFile(p, []byte(`{"keys":[`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := v.Reload(); err == nil {
		t.Fatal("a bad file reloaded")
	}
	if _, err := v.Verify(newTok); err != nil {
		t.Fatalf("keys lost after a bad reload: %v", err)
	}

	// Add "old" back; the change is seen without Reload once the check interval
	// has passed. The mtime is set apart explicitly: a coarse file clock could
	// leave it equal.
	writeJWKS(t, p, jwkJSON("old", &rsa1.PublicKey), jwkJSON("new", &rsa2.PublicKey))
	mtime := time.Now().Add(time.Hour)
	if err := os.Chtimes(p, mtime, mtime); err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(oldTok); !errors.Is(err, ErrInvalid) {
		t.Fatalf("file looked at before the check interval: %v", err)
	}
	advance(2 * time.Second)
	if _, err := v.Verify(oldTok); err != nil {
		t.Fatalf("token of a re-added key after the check interval: %v", err)
	}
}

// TestKeyFuncPinsAlg checks the pinning itself, below the signature library's own
// key-type checks: a kid names a key of one algorithm only.
func TestKeyFuncPinsAlg(t *testing.T) {
	rsa1, _ := rsaKeys()
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	static, err := staticKeys(VerifierConfig{
		HS256:   []HS256Key{{ID: "hs", Secret: secret(1)}},
		Ed25519: []Ed25519Key{{ID: "ed", Key: edPub}},
		RS256:   []RSAKey{{ID: "rs", Key: &rsa1.PublicKey}},
	})
	if err != nil {
		t.Fatal(err)
	}
	ks, err := newKeys(static)
	if err != nil {
		t.Fatal(err)
	}
	methods := map[string]jwt.SigningMethod{"HS256": jwt.SigningMethodHS256, "EdDSA": jwt.SigningMethodEdDSA, "RS256": jwt.SigningMethodRS256, "RS384": jwt.SigningMethodRS384}
	for _, kid := range []string{"hs", "ed", "rs", ""} {
		for alg, m := range methods {
			tok := &jwt.Token{Method: m, Header: map[string]any{"alg": alg}}
			if kid != "" {
				tok.Header["kid"] = kid
			}
			k, err := ks.keyFunc(tok)
			want := (kid == "" && alg != "RS384") || (kid == "hs" && alg == "HS256") || (kid == "ed" && alg == "EdDSA") || (kid == "rs" && alg == "RS256")
			if (err == nil) != want {
				t.Errorf("kid %q alg %s: key %T, err %v; want a key: %v", kid, alg, k, err, want)
			}
		}
	}
}
