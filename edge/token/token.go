// Package token mints and verifies device tokens: JWTs that carry a device's account
// and id. The edge verifies a token before it upgrades a connection; `herald token`
// and backends mint them.
//
// Algorithms are pinned by configuration: a verifier accepts HS256 only if it holds
// a shared secret and EdDSA only if it holds an Ed25519 public key, so neither "none"
// nor algorithm confusion can pass. Each key may carry a key id ("kid") so that keys
// can be rotated: a token naming a kid is checked against that key only.
package token

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Claims are what a device token says about its bearer.
type Claims struct {
	Account string
	Device  string
	Expires time.Time
}

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("token: invalid")

// ErrExpired is wrapped (with ErrInvalid) when the token's exp has passed.
var ErrExpired = errors.New("token: expired")

// DefaultLeeway is the clock skew allowed on exp and nbf.
const DefaultLeeway = 30 * time.Second

// HS256Key is a shared secret for HS256 tokens.
type HS256Key struct {
	ID     string // optional kid
	Secret []byte // at least 32 bytes
}

// Ed25519Key is a public key for EdDSA tokens.
type Ed25519Key struct {
	ID  string // optional kid
	Key ed25519.PublicKey
}

// VerifierConfig configures a Verifier. At least one key is required.
type VerifierConfig struct {
	HS256   []HS256Key
	Ed25519 []Ed25519Key
	// Leeway is the allowed clock skew; zero means DefaultLeeway.
	Leeway time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// MinSecretBytes is the shortest HS256 secret accepted.
const MinSecretBytes = 32

// Verifier checks device tokens. It is safe for concurrent use.
type Verifier struct {
	parser  *jwt.Parser
	hs      []HS256Key
	ed      []Ed25519Key
	methods []string
}

// NewVerifier validates cfg and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if len(cfg.HS256) == 0 && len(cfg.Ed25519) == 0 {
		return nil, errors.New("token: verifier needs at least one key")
	}
	for _, k := range cfg.HS256 {
		if len(k.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("token: HS256 secret %q is %d bytes, want at least %d", k.ID, len(k.Secret), MinSecretBytes)
		}
	}
	for _, k := range cfg.Ed25519 {
		if len(k.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("token: Ed25519 key %q has %d bytes, want %d", k.ID, len(k.Key), ed25519.PublicKeySize)
		}
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	v := &Verifier{hs: cfg.HS256, ed: cfg.Ed25519}
	if len(cfg.HS256) > 0 {
		v.methods = append(v.methods, jwt.SigningMethodHS256.Alg())
	}
	if len(cfg.Ed25519) > 0 {
		v.methods = append(v.methods, jwt.SigningMethodEdDSA.Alg())
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(v.methods),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
	}
	if cfg.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(cfg.Now))
	}
	v.parser = jwt.NewParser(opts...)
	return v, nil
}

type deviceClaims struct {
	Account string `json:"account"`
	jwt.RegisteredClaims
}

// Verify checks raw and returns its claims. Every failure wraps ErrInvalid; an
// expired token also wraps ErrExpired.
func (v *Verifier) Verify(raw string) (Claims, error) {
	var dc deviceClaims
	var lastErr error
	for _, key := range v.candidates(raw) {
		_, err := v.parser.ParseWithClaims(raw, &dc, func(*jwt.Token) (any, error) { return key, nil })
		if err == nil {
			lastErr = nil
			break
		}
		lastErr = err
		if errors.Is(err, jwt.ErrTokenExpired) || !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
			break // only a signature mismatch is worth trying the next key for
		}
	}
	if lastErr != nil {
		if errors.Is(lastErr, jwt.ErrTokenExpired) {
			return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, ErrExpired)
		}
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, lastErr)
	}
	if dc.Account == "" || dc.Subject == "" {
		return Claims{}, fmt.Errorf("%w: account and sub (device) are required", ErrInvalid)
	}
	c := Claims{Account: dc.Account, Device: dc.Subject}
	if dc.ExpiresAt != nil {
		c.Expires = dc.ExpiresAt.Time
	}
	return c, nil
}

// candidates returns the keys to try for raw: the one its kid names, or every key of
// its algorithm. A malformed token gets no candidates and fails in the parser.
func (v *Verifier) candidates(raw string) []any {
	kid, alg := "", ""
	if t, _, err := v.parser.ParseUnverified(raw, &deviceClaims{}); err == nil {
		kid, _ = t.Header["kid"].(string)
		alg, _ = t.Header["alg"].(string)
	}
	var keys []any
	switch alg {
	case jwt.SigningMethodHS256.Alg():
		for _, k := range v.hs {
			if kid == "" || k.ID == kid {
				keys = append(keys, k.Secret)
			}
		}
	case jwt.SigningMethodEdDSA.Alg():
		for _, k := range v.ed {
			if kid == "" || k.ID == kid {
				keys = append(keys, k.Key)
			}
		}
	}
	if len(keys) == 0 {
		keys = append(keys, nil) // let the parser report the real problem
	}
	return keys
}

// Issuer mints device tokens with one key.
type Issuer struct {
	method jwt.SigningMethod
	key    any
	kid    string
	now    func() time.Time
}

// NewHS256Issuer returns an Issuer that signs with an HS256 secret.
func NewHS256Issuer(k HS256Key) (*Issuer, error) {
	if len(k.Secret) < MinSecretBytes {
		return nil, fmt.Errorf("token: HS256 secret is %d bytes, want at least %d", len(k.Secret), MinSecretBytes)
	}
	return &Issuer{method: jwt.SigningMethodHS256, key: k.Secret, kid: k.ID, now: time.Now}, nil
}

// NewEd25519Issuer returns an Issuer that signs with an Ed25519 private key.
func NewEd25519Issuer(kid string, key ed25519.PrivateKey) (*Issuer, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("token: Ed25519 private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	return &Issuer{method: jwt.SigningMethodEdDSA, key: key, kid: kid, now: time.Now}, nil
}

// Issue mints a token for the device that expires after ttl.
func (i *Issuer) Issue(account, device string, ttl time.Duration) (string, error) {
	if account == "" || device == "" {
		return "", errors.New("token: account and device are required")
	}
	if ttl <= 0 {
		return "", errors.New("token: ttl must be positive")
	}
	now := i.now()
	t := jwt.NewWithClaims(i.method, deviceClaims{
		Account: account,
		RegisteredClaims: jwt.RegisteredClaims{
			Subject:   device,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(ttl)),
		},
	})
	if i.kid != "" {
		t.Header["kid"] = i.kid
	}
	s, err := t.SignedString(i.key)
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return s, nil
}

// SetClock replaces the issuer's clock, so that tokens can be minted for another
// time (for tests of expiry).
func (i *Issuer) SetClock(now func() time.Time) { i.now = now }
