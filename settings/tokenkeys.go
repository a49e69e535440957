package settings

import (
	"flag"
	"log/slog"
	"strings"
	"time"

	"github.com/heraldpush/herald/edge/token"
)

// TokenKeys are the device-token settings besides the HS256 secrets
// (--token-secret): RS256 public keys, a JWKS file and the clock skew.
type TokenKeys struct {
	RSAKeys   List // kid:file.pem or file.pem
	JWKSFile  string
	JWKSCheck time.Duration
	Skew      time.Duration
}

// Flags defines the settings on fs; herald dev takes the skew only.
func (t *TokenKeys) Flags(fs *flag.FlagSet, dev bool) {
	if !dev {
		fs.Var(&t.RSAKeys, "token-rsa-key", "RS256 device-token public keys, comma-separated, as kid:file.pem or file.pem (PEM, at least 2048 bits)")
		fs.StringVar(&t.JWKSFile, "token-jwks", "", "a JWKS file (RFC 7517) of device-token keys: kty oct (HS256), OKP Ed25519 (EdDSA), RSA (RS256); re-read when it changes or on SIGHUP")
		fs.DurationVar(&t.JWKSCheck, "token-jwks-check", token.DefaultJWKSCheck, "how often, at most, --token-jwks is checked for a change")
	}
	fs.DurationVar(&t.Skew, "token-skew", token.DefaultLeeway, "clock skew allowed on a device token's exp and nbf; a connection is closed with 4001 at exp plus the skew")
}

// Validate checks the settings that need no file.
func (t *TokenKeys) Validate() error {
	if t.Skew <= 0 || t.Skew > token.MaxLeeway {
		return Usagef("--token-skew %v is out of range: want more than 0s and at most %v", t.Skew, token.MaxLeeway)
	}
	if t.JWKSFile != "" && t.JWKSCheck <= 0 {
		return Usagef("--token-jwks-check %v must be positive", t.JWKSCheck)
	}
	return nil
}

// Any reports whether a key source other than --token-secret is set.
func (t *TokenKeys) Any() bool { return len(t.RSAKeys) > 0 || t.JWKSFile != "" }

// Verifier reads the key files and returns the edge's token verifier, with the
// HS256 secrets (kid:secret or secret) too.
func (t *TokenKeys) Verifier(secrets []string, log *slog.Logger) (*token.Verifier, error) {
	cfg := token.VerifierConfig{
		HS256:     HS256Keys(secrets),
		JWKSFile:  t.JWKSFile,
		JWKSCheck: t.JWKSCheck,
		Leeway:    t.Skew,
		Logger:    log,
	}
	for _, e := range t.RSAKeys {
		kid, path, ok := strings.Cut(e, ":")
		if !ok || strings.ContainsAny(kid, `/\.`) {
			kid, path = "", e
		}
		k, err := token.ReadRSAPublicKey(path)
		if err != nil {
			return nil, Usagef("--token-rsa-key: %v", err)
		}
		cfg.RS256 = append(cfg.RS256, token.RSAKey{ID: kid, Key: k})
	}
	v, err := token.NewVerifier(cfg)
	if err != nil {
		return nil, Usagef("device-token keys (--token-secret, --token-rsa-key, --token-jwks): %v", err)
	}
	return v, nil
}
