package token

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"

	"github.com/golang-jwt/jwt/v5"
)

// The algorithms a key may be pinned to.
const (
	algHS256 = "HS256"
	algEdDSA = "EdDSA"
	algRS256 = "RS256"
)

// MinSecretBytes is the shortest HS256 secret accepted.
const MinSecretBytes = 32

// MinRSABits is the smallest RSA modulus accepted.
const MinRSABits = 2048

// MaxKeyIDBytes is the longest key id accepted.
const MaxKeyIDBytes = 128

// HS256Key is a shared secret for HS256 tokens.
type HS256Key struct {
	ID     string // optional kid
	Secret []byte // at least MinSecretBytes
}

// Ed25519Key is a public key for EdDSA tokens.
type Ed25519Key struct {
	ID  string // optional kid
	Key ed25519.PublicKey
}

// RSAKey is a public key for RS256 tokens. It is never used as an HMAC secret.
type RSAKey struct {
	ID  string // optional kid
	Key *rsa.PublicKey
}

// ReadRSAPublicKey reads an RSA public key from a PEM file (PKIX "PUBLIC KEY",
// PKCS #1 "RSA PUBLIC KEY" or a certificate).
func ReadRSAPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("token: %w", err)
	}
	k, err := jwt.ParseRSAPublicKeyFromPEM(b)
	if err != nil {
		return nil, fmt.Errorf("token: %s: %w", path, err)
	}
	return k, nil
}

// key is a verification key pinned to its algorithm.
type key struct {
	id  string
	alg string
	k   crypto.PublicKey // []byte for HS256
}

// staticKeys checks the configured key lists and returns them as keys.
func staticKeys(cfg VerifierConfig) ([]key, error) {
	var out []key
	for _, k := range cfg.HS256 {
		if len(k.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("token: HS256 secret %q is %d bytes, want at least %d", k.ID, len(k.Secret), MinSecretBytes)
		}
		out = append(out, key{id: k.ID, alg: algHS256, k: k.Secret})
	}
	for _, k := range cfg.Ed25519 {
		if len(k.Key) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("token: Ed25519 key %q has %d bytes, want %d", k.ID, len(k.Key), ed25519.PublicKeySize)
		}
		out = append(out, key{id: k.ID, alg: algEdDSA, k: k.Key})
	}
	for _, k := range cfg.RS256 {
		if k.Key == nil || k.Key.N == nil {
			return nil, fmt.Errorf("token: RSA key %q is empty", k.ID)
		}
		if n := k.Key.N.BitLen(); n < MinRSABits {
			return nil, fmt.Errorf("token: RSA key %q has %d bits, want at least %d", k.ID, n, MinRSABits)
		}
		out = append(out, key{id: k.ID, alg: algRS256, k: k.Key})
	}
	return out, nil
}

// keys is an immutable key set, replaced whole on reload.
type keys struct {
	byID  map[string]key                   // keys that have a kid
	byAlg map[string][]jwt.VerificationKey // every key, by algorithm
}

// newKeys indexes list. Key ids must be unique.
func newKeys(list []key) (*keys, error) {
	if len(list) == 0 {
		return nil, errors.New("token: verifier needs at least one key")
	}
	ks := &keys{byID: make(map[string]key), byAlg: make(map[string][]jwt.VerificationKey)}
	for _, k := range list {
		if len(k.id) > MaxKeyIDBytes {
			return nil, fmt.Errorf("token: key id %.32q... is longer than %d bytes", k.id, MaxKeyIDBytes)
		}
		if k.id != "" {
			if _, dup := ks.byID[k.id]; dup {
				return nil, fmt.Errorf("token: key id %q is used twice", k.id)
			}
			ks.byID[k.id] = k
		}
		ks.byAlg[k.alg] = append(ks.byAlg[k.alg], k.k)
	}
	return ks, nil
}

// keyFunc picks the key of a parsed, not yet verified token: the one its kid
// names, which must be pinned to the token's alg; without kid, the keys of its
// alg. The parser has refused algorithms no key may have (among them "none").
func (ks *keys) keyFunc(t *jwt.Token) (any, error) {
	alg := t.Method.Alg()
	if v, ok := t.Header["kid"]; ok {
		kid, ok := v.(string)
		if !ok || kid == "" {
			return nil, errors.New("kid must be a non-empty string")
		}
		k, ok := ks.byID[kid]
		if !ok {
			return nil, fmt.Errorf("unknown kid %.64q", kid)
		}
		if k.alg != alg {
			return nil, fmt.Errorf("kid %.64q is a key for %s, not %s", kid, k.alg, alg)
		}
		return k.k, nil
	}
	list := ks.byAlg[alg]
	switch len(list) {
	case 0:
		return nil, fmt.Errorf("no key for %s", alg)
	case 1:
		return list[0], nil
	}
	return jwt.VerificationKeySet{Keys: list}, nil
}
