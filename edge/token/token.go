package token

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/heraldpush/herald/protocol"
)

// Claims are what a device token says about its bearer.
type Claims struct {
	Account string
	Device  string
	// Expires is the token's exp.
	Expires time.Time
	// Until is when the token stops being accepted: Expires plus the verifier's
	// clock skew. The edge closes a connection (4001) then.
	Until time.Time
	// Topics are the topic patterns the device may subscribe to (the
	// "topics" claim: protocol.ValidTopicPattern each, at most MaxTopics);
	// none grants none.
	Topics []string
}

// MaxTopics bounds the patterns of a token's "topics" claim.
const MaxTopics = 64

// ErrInvalid is wrapped by every verification failure.
var ErrInvalid = errors.New("token: invalid")

// ErrExpired is wrapped (with ErrInvalid) when the token's exp has passed.
var ErrExpired = errors.New("token: expired")

// DefaultLeeway is the clock skew allowed on exp and nbf: a token is accepted
// until exp plus the leeway, and from nbf minus it.
const DefaultLeeway = 30 * time.Second

// MaxLeeway is the largest clock skew accepted: more would keep expired tokens
// alive for too long to be called expired.
const MaxLeeway = 5 * time.Minute

// DefaultJWKSCheck is how often, at most, a JWKS file's modification time is
// checked for a change.
const DefaultJWKSCheck = 5 * time.Second

// VerifierConfig configures a Verifier. At least one key is required, from the
// lists or the JWKS file.
type VerifierConfig struct {
	HS256   []HS256Key
	Ed25519 []Ed25519Key
	RS256   []RSAKey
	// JWKSFile is a JSON Web Key Set file (RFC 7517) whose keys are added to the
	// others: kty "oct" (HS256), "OKP" with crv "Ed25519" (EdDSA), "RSA" (RS256).
	// It is re-read when its modification time changes (checked at most every
	// JWKSCheck, on a verification) or on Reload; a file that fails to load keeps
	// the keys loaded before, and the failure is logged.
	JWKSFile string
	// JWKSCheck is how often, at most, JWKSFile is checked for a change; zero
	// means DefaultJWKSCheck.
	JWKSCheck time.Duration
	// Leeway is the allowed clock skew on exp and nbf; zero means DefaultLeeway.
	// Between 0 and MaxLeeway.
	Leeway time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// Logger receives reload failures and successes; nil discards them.
	Logger *slog.Logger
}

// Verifier checks device tokens. It is safe for concurrent use.
type Verifier struct {
	cfg    VerifierConfig
	static []key                // the keys from the lists, in order
	parser *jwt.Parser          // allows every algorithm a key may be pinned to
	keys   atomic.Pointer[keys] // the live key set: static plus the JWKS file's

	checked atomic.Int64 // Unix ns of the last look at the JWKS file's mtime
	mu      sync.Mutex   // serialises reloads
	loaded  fileStamp    // guarded by mu: the JWKS file's stamp when last read
	seen    fileStamp    // guarded by mu: the stamp last tried, read or not
}

// NewVerifier validates cfg, reads its JWKS file if any and returns a Verifier.
func NewVerifier(cfg VerifierConfig) (*Verifier, error) {
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("token: clock skew %v is out of range: want between 0 and %v", cfg.Leeway, MaxLeeway)
	}
	if cfg.JWKSCheck == 0 {
		cfg.JWKSCheck = DefaultJWKSCheck
	}
	if cfg.JWKSCheck < 0 {
		return nil, fmt.Errorf("token: JWKS check interval %v must be positive", cfg.JWKSCheck)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	static, err := staticKeys(cfg)
	if err != nil {
		return nil, err
	}
	v := &Verifier{cfg: cfg, static: static}
	v.parser = jwt.NewParser(
		jwt.WithValidMethods([]string{algHS256, algEdDSA, algRS256}),
		jwt.WithLeeway(cfg.Leeway),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(cfg.Now),
	)
	if cfg.JWKSFile == "" {
		ks, err := newKeys(static)
		if err != nil {
			return nil, err
		}
		v.keys.Store(ks)
		return v, nil
	}
	if err := v.Reload(); err != nil {
		return nil, err
	}
	v.checked.Store(cfg.Now().UnixNano())
	return v, nil
}

// Leeway returns the clock skew the verifier allows.
func (v *Verifier) Leeway() time.Duration { return v.cfg.Leeway }

type deviceClaims struct {
	Account string   `json:"account"`
	Topics  []string `json:"topics,omitempty"`
	jwt.RegisteredClaims
}

// UnmarshalJSON refuses claims whose exp, nbf or iat is present but not a JSON
// number. RFC 7519 makes them NumericDates, and jwt.NumericDate alone also
// takes a string that holds a number ("1700000000"), which a token from a
// careless issuer could then rely on.
func (dc *deviceClaims) UnmarshalJSON(b []byte) error {
	var dates struct {
		Exp json.RawMessage `json:"exp"`
		Nbf json.RawMessage `json:"nbf"`
		Iat json.RawMessage `json:"iat"`
	}
	if err := json.Unmarshal(b, &dates); err != nil {
		return err
	}
	for _, d := range [...]struct {
		name string
		raw  json.RawMessage
	}{{"exp", dates.Exp}, {"nbf", dates.Nbf}, {"iat", dates.Iat}} {
		if d.raw != nil && !isNumber(d.raw) {
			return fmt.Errorf("token: %s is not a number (an RFC 7519 NumericDate)", d.name)
		}
	}
	type plain deviceClaims // without this method
	return json.Unmarshal(b, (*plain)(dc))
}

// isNumber reports whether raw, a valid JSON value, is a number.
func isNumber(raw json.RawMessage) bool {
	return len(raw) > 0 && (raw[0] == '-' || '0' <= raw[0] && raw[0] <= '9')
}

// Verify checks raw and returns its claims. Every failure wraps ErrInvalid; an
// expired token also wraps ErrExpired. The account and sub (device) must be ids
// by the wire contract's rule (protocol.ValidID), the rule of the device list: a
// device whose ids it cannot list would connect and never be reachable. Errors
// say what is wrong with an id without quoting it.
func (v *Verifier) Verify(raw string) (Claims, error) {
	v.maybeReload()
	ks := v.keys.Load()
	var dc deviceClaims
	_, err := v.parser.ParseWithClaims(raw, &dc, ks.keyFunc)
	if err != nil {
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, ErrExpired)
		}
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if p := protocol.IDProblem(dc.Account); p != "" {
		return Claims{}, fmt.Errorf("%w: account: %s", ErrInvalid, p)
	}
	if p := protocol.IDProblem(dc.Subject); p != "" {
		return Claims{}, fmt.Errorf("%w: sub (device): %s", ErrInvalid, p)
	}
	exp := dc.ExpiresAt.Time // required by the parser
	if len(dc.Topics) > MaxTopics {
		return Claims{}, fmt.Errorf("%w: topics: %d patterns, at most %d", ErrInvalid, len(dc.Topics), MaxTopics)
	}
	for i, p := range dc.Topics {
		if !protocol.ValidTopicPattern(p) {
			return Claims{}, fmt.Errorf("%w: topics.%d: not a topic pattern (a topic name, a name followed by .*, or *)", ErrInvalid, i)
		}
	}
	return Claims{Account: dc.Account, Device: dc.Subject, Expires: exp, Until: exp.Add(v.cfg.Leeway), Topics: dc.Topics}, nil
}
