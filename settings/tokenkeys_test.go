package settings

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/heraldpush/herald/edge/token"
)

// testSecret is an HS256 secret long enough for every use.
const testSecret = "a-production-secret-of-at-least-32-bytes"

// mustFile writes content to a file named name in a temporary directory and
// returns its path.
func mustFile(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

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
	return k, mustFile(t, "rs.pem", string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})))
}

// TestTokenKeysVerifier checks that the verifier built from the settings accepts
// tokens of each source and applies the skew.
func TestTokenKeysVerifier(t *testing.T) {
	priv, pemFile := mustRSAPEM(t)
	jwks := mustFile(t, "jwks.json", `{"keys":[{"kty":"oct","kid":"j1","k":"`+base64.RawURLEncoding.EncodeToString([]byte(testSecret+"-jwks"))+`"}]}`)
	keys := TokenKeys{RSAKeys: List{"r1:" + pemFile}, JWKSFile: jwks, JWKSCheck: time.Second, Skew: 7 * time.Second}
	v, err := keys.Verifier([]string{"h1:" + testSecret}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs, err1 := token.NewHS256Issuer(token.HS256Key{ID: "h1", Secret: []byte(testSecret)})
	js, err2 := token.NewHS256Issuer(token.HS256Key{ID: "j1", Secret: []byte(testSecret + "-jwks")})
	rs, err3 := token.NewRS256Issuer("r1", priv)
	if err := errors.Join(err1, err2, err3); err != nil {
		t.Fatal(err)
	}
	for name, iss := range map[string]*token.Issuer{"secret": hs, "jwks": js, "rsa": rs} {
		tok, err := iss.Issue("a1", "tv1", time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		c, err := v.Verify(tok)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if c.Until.Sub(c.Expires) != 7*time.Second {
			t.Errorf("%s: until %v, exp %v: want the skew of 7s between", name, c.Until, c.Expires)
		}
	}
}
