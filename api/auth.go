package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/heraldpush/herald/protocol"
)

// apiKey is a configured key as the server uses it: its hash, scopes and bucket.
type apiKey struct {
	name   string
	hash   [sha256.Size]byte
	scopes Scope
	limit  *bucket
}

// newAPIKeys checks cfg.Keys and gives each its scopes and its rate limit.
func newAPIKeys(cfg Config) ([]apiKey, error) {
	keys := make([]apiKey, 0, len(cfg.Keys))
	for i, k := range cfg.Keys {
		if k.Name == "" {
			return nil, errors.New("api: config: every API key needs a name")
		}
		if k.Burst < 0 || math.IsNaN(k.Rate) || math.IsInf(k.Rate, 0) {
			return nil, fmt.Errorf("api: config: key %q: Rate must be a number and Burst not negative", k.Name)
		}
		for _, o := range cfg.Keys[:i] {
			if o.Hash == k.Hash {
				return nil, fmt.Errorf("api: config: keys %q and %q have the same secret", o.Name, k.Name)
			}
		}
		scopes := k.Scopes
		if scopes == 0 {
			scopes = ScopeAll
		}
		rate, burst := k.Rate, k.Burst
		if rate == 0 {
			rate, burst = cfg.KeyRate, cfg.KeyBurst
		}
		keys = append(keys, apiKey{name: k.Name, hash: k.Hash, scopes: scopes, limit: newBucket(rate, burst)})
	}
	return keys, nil
}

type ctxKey struct{}

// caller returns the API key of the request, nil if it has none.
func caller(ctx context.Context) *apiKey {
	k, _ := ctx.Value(ctxKey{}).(*apiKey)
	return k
}

// sender returns the name of the request's API key.
func sender(ctx context.Context) string {
	if k := caller(ctx); k != nil {
		return k.name
	}
	return ""
}

// match returns the key whose hash is the SHA-256 of secret, nil if none is.
// Every key is compared, in constant time, whatever matches: how long it takes
// says nothing about how close a guess came.
func (s *Server) match(secret string) *apiKey {
	h := HashSecret(secret)
	found := -1
	for i := range s.keys {
		if subtle.ConstantTimeCompare(s.keys[i].hash[:], h[:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return nil
	}
	return &s.keys[found]
}

// authenticate admits requests that carry a known API key as a bearer token and
// are within the key's rate limit. The secret is never logged.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, secret, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || secret == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald-api"`)
			protocol.NewProblem(protocol.CodeUnauthorized, "an API key is required: Authorization: Bearer <key>").Write(w)
			return
		}
		k := s.match(strings.TrimSpace(secret))
		if k == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald-api", error="invalid_token"`)
			protocol.NewProblem(protocol.CodeUnauthorized, "unknown API key").Write(w)
			return
		}
		if ok, wait := k.limit.take(s.cfg.Now()); !ok {
			secs := max(int64(math.Ceil(wait.Seconds())), 1)
			w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
			protocol.NewProblem(protocol.CodeRateLimited, fmt.Sprintf("API key %q is over its rate limit; retry in %d s", k.name, secs)).Write(w)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, k)))
	})
}

// requireScope admits requests whose API key has scope; others get 403.
func requireScope(scope Scope) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if k := caller(r.Context()); k == nil || k.scopes&scope == 0 {
				protocol.NewProblem(protocol.CodeForbidden, fmt.Sprintf("this API key may not call %s %s: it lacks the %s scope", r.Method, r.URL.Path, scope)).Write(w)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}
