package api

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Scope is a set of the endpoint groups an API key may call. The zero Scope in a
// Key means every scope, so that a key configured without scopes keeps working as
// keys did before scopes existed.
type Scope uint8

// The scopes of an API key.
const (
	// ScopeSend allows POST /v1/push, /v1/push/batch, /v1/messages and
	// GET /v1/messages/{id}.
	ScopeSend Scope = 1 << iota
	// ScopeDevices allows the device-list endpoints under /v1/accounts.
	ScopeDevices
	// ScopeTypes allows GET /v1/types, GET /v1/types/{type} and
	// POST /v1/types/{type}/validate.
	ScopeTypes

	// ScopeAll is every scope.
	ScopeAll = ScopeSend | ScopeDevices | ScopeTypes
)

// scopeNames are the names of the scopes in the configured form, in order.
var scopeNames = []struct {
	name  string
	scope Scope
}{{"send", ScopeSend}, {"devices", ScopeDevices}, {"types", ScopeTypes}}

// ParseScopes reads scope names separated by "+" or "," ("send+types"); "all"
// (or "*") is every scope.
func ParseScopes(s string) (Scope, error) {
	if s == "all" || s == "*" {
		return ScopeAll, nil
	}
	var sc Scope
	for part := range strings.FieldsFuncSeq(s, func(r rune) bool { return r == '+' || r == ',' }) {
		found := false
		for _, n := range scopeNames {
			if part == n.name {
				sc |= n.scope
				found = true
			}
		}
		if !found {
			return 0, fmt.Errorf("unknown scope %q (want send, devices, types or all)", part)
		}
	}
	if sc == 0 {
		return 0, errors.New("no scope given (want send, devices, types or all)")
	}
	return sc, nil
}

// String returns the scopes joined by "+", "all" for every scope.
func (s Scope) String() string {
	if s == 0 || s&ScopeAll == ScopeAll {
		return "all"
	}
	var parts []string
	for _, n := range scopeNames {
		if s&n.scope != 0 {
			parts = append(parts, n.name)
		}
	}
	return strings.Join(parts, "+")
}

// Key is an API key: a name (the sender, shown to devices as from.service), the
// SHA-256 of its secret, what it may call and how often. Secrets themselves are
// never kept.
//
// A fast hash is enough here, where a password would need bcrypt or Argon2:
// secrets are 256 random bits (see NewSecret), so there is no dictionary to try,
// and the hash is computed on every request, where a slow hash would cost each
// request milliseconds of CPU and hand anyone with a bad key a way to burn it.
type Key struct {
	Name string
	Hash [sha256.Size]byte
	// Scopes are the endpoint groups the key may call; zero means all.
	Scopes Scope
	// Rate is the requests per second the key may make, with Burst more at
	// once. Zero takes Config.KeyRate and Config.KeyBurst; a negative Rate
	// means no limit for this key. Zero Burst is one second's worth of Rate.
	Rate  float64
	Burst int
}

// NewKey returns the Key for a secret, with every scope and the server's rate.
func NewKey(name, secret string) Key {
	return Key{Name: name, Hash: HashSecret(secret)}
}

// HashSecret is the hash a Key keeps of a secret.
func HashSecret(secret string) [sha256.Size]byte {
	return sha256.Sum256([]byte(secret))
}

// SecretPrefix starts every secret NewSecret makes, so that secret scanners
// and people can tell a Herald API key when they see one.
const SecretPrefix = "hk_"

// NewSecret returns a fresh random API key secret: SecretPrefix and 256 random
// bits in unpadded base64url.
func NewSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails
	return SecretPrefix + base64.RawURLEncoding.EncodeToString(b[:])
}

// MinSecretLen is the shortest secret a plaintext key entry may have.
const MinSecretLen = 8

// maxKeyName bounds a key's name: it travels in every message as from.service.
const maxKeyName = 64

// hashPrefix marks the hashed form of a key entry.
const hashPrefix = "sha256:"

// ParseKey reads a configured API key. The hashed form is
//
//	name:sha256:HEX[:scopes=send+devices+types][:rate=100/s][:burst=200]
//
// with HEX the 64 hex digits of the secret's SHA-256 (what `herald apikey new`
// prints); rate is N/s, N/m or N/h (N alone is per second, 0 no limit). The
// plaintext form name:secret is also read, with every scope and the server's
// rate; plaintext reports it, so that a production server can warn.
func ParseKey(entry string) (k Key, plaintext bool, err error) {
	name, rest, ok := strings.Cut(entry, ":")
	if !ok || name == "" || rest == "" {
		return Key{}, false, errors.New("want name:sha256:HEX[:scopes=...][:rate=...][:burst=...] or name:secret")
	}
	if len(name) > maxKeyName || strings.ContainsFunc(name, func(r rune) bool { return r <= ' ' || r == ',' || r == 0x7f }) {
		return Key{}, false, fmt.Errorf("key name %q: at most %d characters, no spaces, commas or control characters", name, maxKeyName)
	}
	k.Name = name
	if !strings.HasPrefix(rest, hashPrefix) {
		if len(rest) < MinSecretLen {
			return Key{}, false, fmt.Errorf("key %q: a plaintext secret needs at least %d characters", name, MinSecretLen)
		}
		k.Hash = HashSecret(rest)
		return k, true, nil
	}
	fields := strings.Split(rest[len(hashPrefix):], ":")
	h, err := hex.DecodeString(fields[0])
	if err != nil || len(h) != sha256.Size {
		return Key{}, false, fmt.Errorf("key %q: sha256: want %d hex digits", name, 2*sha256.Size)
	}
	copy(k.Hash[:], h)
	seen := map[string]bool{}
	for _, f := range fields[1:] {
		opt, v, ok := strings.Cut(f, "=")
		if !ok || seen[opt] {
			return Key{}, false, fmt.Errorf("key %q: option %q: want scopes=, rate= or burst=, each once", name, f)
		}
		seen[opt] = true
		switch opt {
		case "scopes":
			if k.Scopes, err = ParseScopes(v); err != nil {
				return Key{}, false, fmt.Errorf("key %q: scopes: %w", name, err)
			}
		case "rate":
			if k.Rate, err = ParseRate(v); err != nil {
				return Key{}, false, fmt.Errorf("key %q: rate: %w", name, err)
			}
			if k.Rate == 0 {
				k.Rate = -1 // explicitly unlimited
			}
		case "burst":
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return Key{}, false, fmt.Errorf("key %q: burst %q: want a whole number of at least 1", name, v)
			}
			k.Burst = n
		default:
			return Key{}, false, fmt.Errorf("key %q: unknown option %q (want scopes, rate or burst)", name, opt)
		}
	}
	if k.Burst > 0 && k.Rate < 0 {
		return Key{}, false, fmt.Errorf("key %q: burst needs a rate above 0", name)
	}
	return k, false, nil
}

// ParseRate reads a rate as N/s, N/m or N/h, or N (per second), and returns it
// per second. 0 is allowed; negative, NaN and infinite rates are not.
func ParseRate(s string) (float64, error) {
	num, unit, _ := strings.Cut(s, "/")
	per := time.Second
	switch unit {
	case "", "s":
	case "m":
		per = time.Minute
	case "h":
		per = time.Hour
	default:
		return 0, fmt.Errorf("%q: unit %q: want s, m or h (100/s)", s, unit)
	}
	n, err := strconv.ParseFloat(num, 64)
	if err != nil || n < 0 || math.IsNaN(n) || math.IsInf(n, 0) {
		return 0, fmt.Errorf("%q: want a number of at least 0 and a unit (100/s, 6000/m)", s)
	}
	return n / per.Seconds(), nil
}

// Spec returns the key in the hashed configured form ParseKey reads.
func (k Key) Spec() string {
	var b strings.Builder
	b.WriteString(k.Name)
	b.WriteString(":" + hashPrefix)
	b.WriteString(hex.EncodeToString(k.Hash[:]))
	if k.Scopes != 0 {
		b.WriteString(":scopes=" + k.Scopes.String())
	}
	switch {
	case k.Rate < 0:
		b.WriteString(":rate=0")
	case k.Rate > 0:
		b.WriteString(":rate=" + strconv.FormatFloat(k.Rate, 'f', -1, 64) + "/s")
	}
	if k.Burst > 0 {
		b.WriteString(":burst=" + strconv.Itoa(k.Burst))
	}
	return b.String()
}
