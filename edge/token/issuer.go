package token

import (
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald/protocol"
)

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

// NewRS256Issuer returns an Issuer that signs with an RSA private key.
func NewRS256Issuer(kid string, key *rsa.PrivateKey) (*Issuer, error) {
	if key == nil || key.N == nil || key.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("token: RSA private key must have at least %d bits", MinRSABits)
	}
	return &Issuer{method: jwt.SigningMethodRS256, key: key, kid: kid, now: time.Now}, nil
}

// Issue mints a token for the device that expires after ttl. The account and
// device must be valid ids (protocol.ValidID): Verify refuses any other.
func (i *Issuer) Issue(account, device string, ttl time.Duration) (string, error) {
	return i.IssueTopics(account, device, ttl, nil)
}

// IssueTopics is Issue with a "topics" claim: the topic patterns the device
// may subscribe to (protocol.ValidTopicPattern each, at most MaxTopics).
func (i *Issuer) IssueTopics(account, device string, ttl time.Duration, topics []string) (string, error) {
	if len(topics) > MaxTopics {
		return "", fmt.Errorf("token: topics: %d patterns, at most %d", len(topics), MaxTopics)
	}
	for _, p := range topics {
		if !protocol.ValidTopicPattern(p) {
			return "", errors.New("token: topics: not a topic pattern (a topic name, a name followed by .*, or *)")
		}
	}
	if p := protocol.IDProblem(account); p != "" {
		return "", fmt.Errorf("token: account: %s", p)
	}
	if p := protocol.IDProblem(device); p != "" {
		return "", fmt.Errorf("token: device: %s", p)
	}
	if ttl <= 0 {
		return "", errors.New("token: ttl must be positive")
	}
	now := i.now()
	t := jwt.NewWithClaims(i.method, deviceClaims{
		Account: account,
		Topics:  topics,
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
