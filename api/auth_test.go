package api

import (
	"encoding/hex"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
)

func TestParseKey(t *testing.T) {
	const secret = "hk_a-fresh-secret"
	h := HashSecret(secret)
	hx := hex.EncodeToString(h[:])
	tests := []struct {
		name      string
		entry     string
		want      Key
		plaintext bool
		err       string // a fragment of the error; "" for none
	}{
		{name: "hashed", entry: "backend:sha256:" + hx, want: Key{Name: "backend", Hash: h}},
		{name: "hashed with options", entry: "backend:sha256:" + hx + ":scopes=send+types:rate=6000/m:burst=20",
			want: Key{Name: "backend", Hash: h, Scopes: ScopeSend | ScopeTypes, Rate: 100, Burst: 20}},
		{name: "all scopes", entry: "b:sha256:" + hx + ":scopes=all", want: Key{Name: "b", Hash: h, Scopes: ScopeAll}},
		{name: "unlimited rate", entry: "b:sha256:" + hx + ":rate=0", want: Key{Name: "b", Hash: h, Rate: -1}},
		{name: "rate per hour", entry: "b:sha256:" + hx + ":rate=7200/h", want: Key{Name: "b", Hash: h, Rate: 2}},
		{name: "plaintext", entry: "backend:" + secret, want: Key{Name: "backend", Hash: h}, plaintext: true},
		{name: "plaintext with colons", entry: "backend:a:b:c:d:e:f:g", want: Key{Name: "backend", Hash: HashSecret("a:b:c:d:e:f:g")}, plaintext: true},
		{name: "no secret", entry: "backend", err: "want name:sha256"},
		{name: "no name", entry: ":" + secret, err: "want name:sha256"},
		{name: "short plaintext", entry: "backend:short", err: "at least 8"},
		{name: "name with a space", entry: "back end:" + secret, err: "no spaces"},
		{name: "short hash", entry: "b:sha256:abcd", err: "64 hex digits"},
		{name: "hash not hex", entry: "b:sha256:" + strings.Repeat("z", 64), err: "64 hex digits"},
		{name: "unknown scope", entry: "b:sha256:" + hx + ":scopes=send+admin", err: `unknown scope "admin"`},
		{name: "empty scopes", entry: "b:sha256:" + hx + ":scopes=", err: "no scope"},
		{name: "bad rate unit", entry: "b:sha256:" + hx + ":rate=5/d", err: "unit"},
		{name: "negative rate", entry: "b:sha256:" + hx + ":rate=-5/s", err: "at least 0"},
		{name: "NaN rate", entry: "b:sha256:" + hx + ":rate=NaN", err: "at least 0"},
		{name: "zero burst", entry: "b:sha256:" + hx + ":rate=5:burst=0", err: "at least 1"},
		{name: "burst without a rate", entry: "b:sha256:" + hx + ":rate=0:burst=5", err: "needs a rate"},
		{name: "unknown option", entry: "b:sha256:" + hx + ":ttl=5", err: "unknown option"},
		{name: "option twice", entry: "b:sha256:" + hx + ":rate=5:rate=6", err: "each once"},
		{name: "option without a value", entry: "b:sha256:" + hx + ":send", err: "want scopes="},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k, plain, err := ParseKey(tt.entry)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("ParseKey(%q) = %+v, %v; want an error with %q", tt.entry, k, err, tt.err)
				}
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error %q shows the secret", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseKey(%q): %v", tt.entry, err)
			}
			if k != tt.want || plain != tt.plaintext {
				t.Errorf("ParseKey(%q) = %+v, plaintext %v; want %+v, %v", tt.entry, k, plain, tt.want, tt.plaintext)
			}
			// The hashed form reads back to the same key.
			back, plain, err := ParseKey(k.Spec())
			if err != nil || plain || back != k {
				t.Errorf("ParseKey(Spec() = %q) = %+v, %v, %v; want %+v", k.Spec(), back, plain, err, k)
			}
		})
	}
}

func TestNewSecret(t *testing.T) {
	a, b := NewSecret(), NewSecret()
	if a == b {
		t.Fatalf("two secrets are the same: %q", a)
	}
	if !strings.HasPrefix(a, SecretPrefix) || len(a) != len(SecretPrefix)+43 {
		t.Errorf("secret %q: want %s and 43 base64url characters", a, SecretPrefix)
	}
}

func TestNewRejectsDuplicateSecrets(t *testing.T) {
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatalf("LoadTypes: %v", err)
	}
	reg := registry.NewMemory()
	cfg := Config{Types: types, Deliverer: &edge.Router{Registry: reg}, Directory: reg, Devices: devicelist.NewMemory(),
		Keys: []Key{NewKey("a", "same-secret"), NewKey("b", "same-secret")}}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "same secret") {
		t.Errorf("New with two keys of one secret: %v, want an error", err)
	}
	cfg.Keys = cfg.Keys[:1]
	if _, err := New(cfg); err != nil {
		t.Errorf("New with one key: %v", err)
	}
}

// scopeRoute is a request each scope test sends.
type scopeRoute struct {
	scope        Scope
	method, path string
	body         string
}

// scopeRoutes are one request to every authenticated route, with its scope.
var scopeRoutes = []scopeRoute{
	{ScopeSend, http.MethodPost, "/v1/push", `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t","body":"b"},"timeout_ms":1}`},
	{ScopeSend, http.MethodPost, "/v1/push/batch", `{"messages":[{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t","body":"b"}}],"timeout_ms":1}`},
	{ScopeSend, http.MethodPost, "/v1/messages", `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t","body":"b"}}`},
	{ScopeSend, http.MethodPost, "/v1/messages/batch", `{"messages":[{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t","body":"b"}}]}`},
	{ScopeSend, http.MethodGet, "/v1/messages/01J00000000000000000000000", ""},
	{ScopeSend, http.MethodPost, "/v1/topics/news.sports/messages", `{"type":"notification.v1","payload":{"title":"t"}}`},
	{ScopeSend, http.MethodGet, "/v1/topics/news.sports", ""},
	{ScopeTypes, http.MethodGet, "/v1/types", ""},
	{ScopeTypes, http.MethodGet, "/v1/types/notification.v1", ""},
	{ScopeTypes, http.MethodPost, "/v1/types/notification.v1/validate", `{"title":"t","body":"b"}`},
	{ScopeDevices, http.MethodGet, "/v1/accounts/a1/devices", ""},
	{ScopeDevices, http.MethodPut, "/v1/accounts/a1/devices/tv1", `{"platform":"tv"}`},
	{ScopeDevices, http.MethodDelete, "/v1/accounts/a1/devices/tv1", ""},
	{ScopeDevices, http.MethodGet, "/v1/accounts/a1/devices/tv1/topics", ""},
	{ScopeDevices, http.MethodPut, "/v1/accounts/a1/devices/tv1/topics/news.sports", ""},
	{ScopeDevices, http.MethodDelete, "/v1/accounts/a1/devices/tv1/topics/news.sports", ""},
	{ScopeDevices, http.MethodPost, "/v1/topics/news.sports/subscribers", `{"add":[{"account":"a1","device":"tv1"}]}`},
}

func TestScopeRoutesCoverRouter(t *testing.T) {
	// Every authenticated route has a scope test; a new route must get one.
	var tested []string
	for _, r := range scopeRoutes {
		tested = append(tested, r.method+" "+r.path)
	}
	for _, route := range mustRoutes(t) {
		if route == "GET /v1/openapi.json" {
			continue
		}
		found := false
		method, pattern, _ := strings.Cut(route, " ")
		for _, r := range scopeRoutes {
			if r.method == method && routeMatches(pattern, r.path) {
				found = true
			}
		}
		if !found {
			t.Errorf("route %s has no request in scopeRoutes (tested: %v)", route, tested)
		}
	}
}

// routeMatches reports whether path fits a chi pattern of {params}.
func routeMatches(pattern, path string) bool {
	ps, qs := strings.Split(pattern, "/"), strings.Split(path, "/")
	if len(ps) != len(qs) {
		return false
	}
	for i := range ps {
		if !strings.HasPrefix(ps[i], "{") && ps[i] != qs[i] {
			return false
		}
	}
	return true
}

func TestKeyScopes(t *testing.T) {
	keys := map[Scope]string{ScopeSend: "scope-send-secret", ScopeTypes: "scope-types-secret", ScopeDevices: "scope-devices-secret"}
	const allKey = "scope-all-secret"
	st := mustAPI(t, func(c *Config) {
		c.Keys = []Key{NewKey("all", allKey)} // no scopes: every scope
		for sc, secret := range keys {
			k := NewKey("only-"+sc.String(), secret)
			k.Scopes = sc
			c.Keys = append(c.Keys, k)
		}
		c.Queue = &recordingQueue{}
		c.Statuses = processor.NewMemoryStatus(0, 0)
		c.Publisher = fixedPublisher{}
		c.Counter = fixedPublisher{}
	})
	for _, r := range scopeRoutes {
		for sc, secret := range keys {
			name := r.method + " " + r.path + " with " + sc.String()
			t.Run(name, func(t *testing.T) {
				resp, body := st.do(t, r.method, r.path, secret, []byte(r.body))
				if sc == r.scope {
					if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode >= 500 {
						t.Errorf("HTTP %d %s; the key has the route's scope", resp.StatusCode, body)
					}
					return
				}
				p := checkProblem(t, resp, body, http.StatusForbidden, protocol.CodeForbidden)
				if !strings.Contains(p.Detail, r.scope.String()) {
					t.Errorf("detail %q does not name the missing scope %s", p.Detail, r.scope)
				}
			})
		}
		t.Run(r.method+" "+r.path+" with all", func(t *testing.T) {
			resp, body := st.do(t, r.method, r.path, allKey, []byte(r.body))
			if resp.StatusCode == http.StatusForbidden || resp.StatusCode == http.StatusUnauthorized || resp.StatusCode >= 500 {
				t.Errorf("HTTP %d %s; a key without scopes has every scope", resp.StatusCode, body)
			}
		})
	}
}

// testClock is a clock a test moves by hand.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestKeyRateLimit(t *testing.T) {
	const (
		burst       = 5
		limitedKey  = "limited-secret"
		defaultKey  = "default-rate-secret"
		unlimitedKy = "unlimited-secret"
	)
	clock := &testClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	st := mustAPI(t, func(c *Config) {
		c.Now = clock.Now
		c.KeyRate, c.KeyBurst = 1, 2 // the server default: 1/s, burst 2
		limited := NewKey("limited", limitedKey)
		limited.Rate, limited.Burst = 0.5, burst
		unlimited := NewKey("unlimited", unlimitedKy)
		unlimited.Rate = -1
		c.Keys = []Key{limited, NewKey("default", defaultKey), unlimited}
	})
	get := func(t *testing.T, key string) (*http.Response, []byte) {
		t.Helper()
		return st.do(t, http.MethodGet, "/v1/types", key, nil)
	}
	refused := func(t *testing.T, key, retryAfter string) {
		t.Helper()
		resp, body := get(t, key)
		p := checkProblem(t, resp, body, http.StatusTooManyRequests, protocol.CodeRateLimited)
		if got := resp.Header.Get("Retry-After"); got != retryAfter {
			t.Errorf("Retry-After %q, want %q", got, retryAfter)
		}
		if strings.Contains(p.Detail, key) {
			t.Errorf("detail %q shows the secret", p.Detail)
		}
	}
	passes := func(t *testing.T, key string, n int) {
		t.Helper()
		for i := range n {
			if resp, body := get(t, key); resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d of %d: HTTP %d %s", i+1, n, resp.StatusCode, body)
			}
		}
	}

	t.Run("the burst passes and one more is refused", func(t *testing.T) {
		passes(t, limitedKey, burst)
		refused(t, limitedKey, "2") // 0.5/s: a token in 2 s
	})
	t.Run("other keys have their own buckets", func(t *testing.T) {
		passes(t, defaultKey, 2)
		refused(t, defaultKey, "1")
		passes(t, unlimitedKy, 50)
	})
	t.Run("tokens come back with time", func(t *testing.T) {
		clock.advance(1999 * time.Millisecond)
		refused(t, limitedKey, "1") // not quite a token yet
		clock.advance(time.Millisecond)
		passes(t, limitedKey, 1)
		refused(t, limitedKey, "2")
	})
	t.Run("the bucket holds no more than the burst", func(t *testing.T) {
		clock.advance(time.Hour)
		passes(t, limitedKey, burst)
		refused(t, limitedKey, "2")
	})
	t.Run("unknown keys are refused before the limit", func(t *testing.T) {
		resp, body := get(t, "not-a-key")
		checkProblem(t, resp, body, http.StatusUnauthorized, protocol.CodeUnauthorized)
	})
}

func TestBucket(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	t.Run("zero rate admits everything", func(t *testing.T) {
		b := newBucket(0, 0)
		for range 1000 {
			if ok, _ := b.take(t0); !ok {
				t.Fatal("refused")
			}
		}
	})
	t.Run("zero burst is one second of the rate", func(t *testing.T) {
		b := newBucket(10, 0)
		for i := range 10 {
			if ok, _ := b.take(t0); !ok {
				t.Fatalf("take %d refused", i+1)
			}
		}
		ok, wait := b.take(t0)
		if ok || wait != 100*time.Millisecond {
			t.Errorf("take 11 = %v, %v; want refused, 100ms", ok, wait)
		}
	})
	t.Run("a clock that steps back takes nothing extra", func(t *testing.T) {
		b := newBucket(1, 1)
		if ok, _ := b.take(t0); !ok {
			t.Fatal("first take refused")
		}
		if ok, _ := b.take(t0.Add(-time.Hour)); ok {
			t.Error("a take from the past was admitted")
		}
		if ok, _ := b.take(t0.Add(time.Second)); !ok {
			t.Error("a take a second later was refused")
		}
	})
}
