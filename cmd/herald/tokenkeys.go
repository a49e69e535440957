package main

import (
	"flag"
	"log/slog"
	"strings"
	"time"

	"github.com/heraldpush/herald/edge/token"
)

// tokenKeys are the device-token settings besides the HS256 secrets
// (--token-secret): RS256 public keys, a JWKS file and the clock skew.
type tokenKeys struct {
	rsaKeys   listFlag // kid:file.pem or file.pem
	jwksFile  string
	jwksCheck time.Duration
	skew      time.Duration
}

// flags defines the settings on fs; herald dev takes the skew only.
func (t *tokenKeys) flags(fs *flag.FlagSet, dev bool) {
	if !dev {
		fs.Var(&t.rsaKeys, "token-rsa-key", "RS256 device-token public keys, comma-separated, as kid:file.pem or file.pem (PEM, at least 2048 bits)")
		fs.StringVar(&t.jwksFile, "token-jwks", "", "a JWKS file (RFC 7517) of device-token keys: kty oct (HS256), OKP Ed25519 (EdDSA), RSA (RS256); re-read when it changes or on SIGHUP")
		fs.DurationVar(&t.jwksCheck, "token-jwks-check", token.DefaultJWKSCheck, "how often, at most, --token-jwks is checked for a change")
	}
	fs.DurationVar(&t.skew, "token-skew", token.DefaultLeeway, "clock skew allowed on a device token's exp and nbf; a connection is closed with 4001 at exp plus the skew")
}

// validate checks the settings that need no file.
func (t *tokenKeys) validate() error {
	if t.skew <= 0 || t.skew > token.MaxLeeway {
		return usagef("--token-skew %v is out of range: want more than 0s and at most %v", t.skew, token.MaxLeeway)
	}
	if t.jwksFile != "" && t.jwksCheck <= 0 {
		return usagef("--token-jwks-check %v must be positive", t.jwksCheck)
	}
	return nil
}

// any reports whether a key source other than --token-secret is set.
func (t *tokenKeys) any() bool { return len(t.rsaKeys) > 0 || t.jwksFile != "" }

// verifier reads the key files and returns the edge's token verifier, with the
// HS256 secrets (kid:secret or secret) too.
func (t *tokenKeys) verifier(secrets []string, log *slog.Logger) (*token.Verifier, error) {
	cfg := token.VerifierConfig{
		HS256:     hs256Keys(secrets),
		JWKSFile:  t.jwksFile,
		JWKSCheck: t.jwksCheck,
		Leeway:    t.skew,
		Logger:    log,
	}
	for _, e := range t.rsaKeys {
		kid, path, ok := strings.Cut(e, ":")
		if !ok || strings.ContainsAny(kid, `/\.`) {
			kid, path = "", e
		}
		k, err := token.ReadRSAPublicKey(path)
		if err != nil {
			return nil, usagef("--token-rsa-key: %v", err)
		}
		cfg.RS256 = append(cfg.RS256, token.RSAKey{ID: kid, Key: k})
	}
	v, err := token.NewVerifier(cfg)
	if err != nil {
		return nil, usagef("device-token keys (--token-secret, --token-rsa-key, --token-jwks): %v", err)
	}
	return v, nil
}
