package processor

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// idempotencySubject is an Idempotency under test and the way to let time pass
// for it: the memory store's clock moves, Redis is waited for.
type idempotencySubject struct {
	Idempotency
	advance func(d time.Duration)
}

// idempotencyImplementations are the stores the shared contract runs against.
// setup runs once per implementation, in the test of all its cases, and
// returns new, which returns a store that no other test sees.
var idempotencyImplementations = []struct {
	name  string
	setup func(tb testing.TB) (new func(tb testing.TB) idempotencySubject)
}{
	{"memory", func(testing.TB) func(testing.TB) idempotencySubject {
		return func(testing.TB) idempotencySubject {
			clock := newFakeClock()
			m := NewMemoryIdempotency(0)
			m.now = clock.now
			return idempotencySubject{Idempotency: m, advance: clock.advance}
		}
	}},
	{"redis", func(testing.TB) func(testing.TB) idempotencySubject {
		return func(tb testing.TB) idempotencySubject {
			client, prefix := mustRedis(tb)
			return idempotencySubject{Idempotency: NewRedisIdempotency(client, prefix), advance: time.Sleep}
		}
	}},
	{"redis cluster of 3 masters", func(tb testing.TB) func(testing.TB) idempotencySubject {
		client := mustRedisCluster(tb)
		return func(tb testing.TB) idempotencySubject {
			return idempotencySubject{Idempotency: NewRedisIdempotency(client, "t:"+tb.Name()+":"), advance: time.Sleep}
		}
	}},
}

// idempotencyTTL is the ttl of every claim in the contract: short, since Redis
// is waited for, with margins of at least 0.3 ttl in the steps below.
const idempotencyTTL = 400 * time.Millisecond

// idemStep is one call: Claim(key, value) expecting want, or with release set
// Release(key, value); wait is the time to let pass first, in ttls.
type idemStep struct {
	wait       float64
	release    bool
	key, value string
	want       string
	// confirm, when set, is Confirm(key, confirm, value) expecting confirmed.
	confirm   string
	confirmed bool
}

func claim(key, value, want string) idemStep { return idemStep{key: key, value: value, want: want} }
func release(key, value string) idemStep     { return idemStep{release: true, key: key, value: value} }
func confirm(key, old, value string, confirmed bool) idemStep {
	return idemStep{key: key, confirm: old, value: value, confirmed: confirmed}
}
func after(wait float64, s idemStep) idemStep {
	s.wait = wait
	return s
}

func mustClaim(tb testing.TB, s Idempotency, key, value string, ttl time.Duration) string {
	tb.Helper()
	prev, err := s.Claim(storeContext(tb), key, value, ttl)
	if err != nil {
		tb.Fatalf("Claim(%s, %s): %v", key, value, err)
	}
	return prev
}

func TestIdempotencyContract(t *testing.T) {
	cases := []struct {
		name  string
		steps []idemStep
	}{
		{
			name:  "first claim wins",
			steps: []idemStep{claim("k1", "v1", ""), claim("k1", "v2", "v1"), claim("k1", "v1", "v1")},
		},
		{
			name:  "keys are apart",
			steps: []idemStep{claim("k1", "v1", ""), claim("k2", "v2", ""), claim("k1", "v3", "v1"), claim("k2", "v3", "v2")},
		},
		{
			name:  "release with the wrong value keeps the claim",
			steps: []idemStep{claim("k1", "v1", ""), release("k1", "v2"), claim("k1", "v3", "v1")},
		},
		{
			name:  "release with the right value frees it",
			steps: []idemStep{claim("k1", "v1", ""), release("k1", "v1"), claim("k1", "v2", ""), claim("k1", "v3", "v2")},
		},
		{
			name:  "release of another key keeps the claim",
			steps: []idemStep{claim("k1", "v1", ""), release("k2", "v1"), claim("k1", "v2", "v1")},
		},
		{
			name:  "release of an unknown key",
			steps: []idemStep{release("k1", "v1"), claim("k1", "v1", "")},
		},
		{
			name: "expires after ttl",
			steps: []idemStep{
				claim("k1", "v1", ""),
				after(0.5, claim("k1", "v2", "v1")),
				after(1, claim("k1", "v3", "")),
				claim("k1", "v4", "v3"),
			},
		},
		{
			name: "a conflicting claim does not renew",
			steps: []idemStep{
				claim("k1", "v1", ""),
				after(0.7, claim("k1", "v2", "v1")),
				after(0.6, claim("k1", "v3", "")),
			},
		},
		{
			name:  "confirm replaces a matching claim",
			steps: []idemStep{claim("k1", "pending", ""), confirm("k1", "pending", "done", true), claim("k1", "v2", "done")},
		},
		{
			name:  "confirm of another value or key changes nothing",
			steps: []idemStep{claim("k1", "pending", ""), confirm("k1", "other", "done", false), confirm("k2", "pending", "done", false), claim("k1", "v2", "pending")},
		},
		{
			name: "confirm renews the ttl",
			steps: []idemStep{
				claim("k1", "pending", ""),
				after(0.7, confirm("k1", "pending", "done", true)),
				after(0.6, claim("k1", "v2", "done")),
			},
		},
		{
			name:  "confirm after expiry fails",
			steps: []idemStep{claim("k1", "pending", ""), after(1.3, confirm("k1", "pending", "done", false)), claim("k1", "v2", "")},
		},
		{
			name: "a stale release does not free the next claim",
			steps: []idemStep{
				claim("k1", "v1", ""),
				after(1.3, claim("k1", "v2", "")),
				release("k1", "v1"),
				claim("k1", "v3", "v2"),
			},
		},
	}
	for _, impl := range idempotencyImplementations {
		t.Run(impl.name, func(t *testing.T) {
			newStore := impl.setup(t)
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					s := newStore(t)
					for i, st := range tc.steps {
						s.advance(time.Duration(st.wait * float64(idempotencyTTL)))
						if st.confirm != "" {
							ok, err := s.Confirm(storeContext(t), st.key, st.confirm, st.value, idempotencyTTL)
							if err != nil || ok != st.confirmed {
								t.Fatalf("step %d: Confirm(%s, %s, %s) = %v, %v; want %v", i, st.key, st.confirm, st.value, ok, err, st.confirmed)
							}
							continue
						}
						if st.release {
							if err := s.Release(storeContext(t), st.key, st.value); err != nil {
								t.Fatalf("step %d: Release(%s, %s): %v", i, st.key, st.value, err)
							}
							continue
						}
						if got := mustClaim(t, s, st.key, st.value, idempotencyTTL); got != st.want {
							t.Fatalf("step %d: Claim(%s, %s) = %q, want %q", i, st.key, st.value, got, st.want)
						}
					}
				})
			}
		})
	}
}

// TestIdempotencyConcurrentClaims checks that of many requests with one
// Idempotency-Key exactly one sends, and the others all see its value.
func TestIdempotencyConcurrentClaims(t *testing.T) {
	const n = 20
	for _, impl := range idempotencyImplementations {
		t.Run(impl.name, func(t *testing.T) {
			s := impl.setup(t)(t)
			ctx := storeContext(t)
			var (
				wg    sync.WaitGroup
				prevs [n]string
				errs  [n]error
				start = make(chan struct{})
			)
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					prevs[i], errs[i] = s.Claim(ctx, "k1", fmt.Sprintf("v%d", i), time.Minute)
				}()
			}
			close(start)
			wg.Wait()
			winner := -1
			for i := range n {
				switch {
				case errs[i] != nil:
					t.Fatalf("Claim %d: %v", i, errs[i])
				case prevs[i] != "":
				case winner >= 0:
					t.Fatalf("Claims %d and %d both claimed the key", winner, i)
				default:
					winner = i
				}
			}
			if winner < 0 {
				t.Fatal("no Claim claimed the key")
			}
			want := fmt.Sprintf("v%d", winner)
			for i, prev := range prevs {
				if i != winner && prev != want {
					t.Errorf("Claim %d = %q, want the winner's %q", i, prev, want)
				}
			}
			if got := mustClaim(t, s, "k1", "late", time.Minute); got != want {
				t.Errorf("a later Claim = %q, want %q", got, want)
			}
		})
	}
}

func TestMemoryIdempotencyBound(t *testing.T) {
	cases := []struct {
		name       string
		maxEntries int
		claims     []string // keys claimed, in this order, each with the value "v-"+key
		gone, kept []string
	}{
		{name: "under the bound", maxEntries: 3, claims: []string{"a", "b", "c"}, kept: []string{"a", "b", "c"}},
		{name: "one over", maxEntries: 3, claims: []string{"a", "b", "c", "d"}, gone: []string{"a"}, kept: []string{"b", "c", "d"}},
		{name: "many over", maxEntries: 2, claims: []string{"a", "b", "c", "d", "e"}, gone: []string{"a", "b", "c"}, kept: []string{"d", "e"}},
		{name: "bound of one", maxEntries: 1, claims: []string{"a", "b"}, gone: []string{"a"}, kept: []string{"b"}},
		{name: "a repeated claim adds none", maxEntries: 2, claims: []string{"a", "b", "a", "b", "a"}, kept: []string{"a", "b"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMemoryIdempotency(tc.maxEntries)
			for _, k := range tc.claims {
				mustClaim(t, m, k, "v-"+k, time.Hour)
			}
			m.mu.Lock()
			held := len(m.keys)
			m.mu.Unlock()
			if held > tc.maxEntries {
				t.Fatalf("holds %d keys, want at most %d", held, tc.maxEntries)
			}
			// Look the kept keys up first: claiming a gone key again pushes out
			// the oldest kept one.
			for _, k := range tc.kept {
				if got := mustClaim(t, m, k, "again", time.Hour); got != "v-"+k {
					t.Errorf("Claim(%s) = %q, want %q: the key was dropped", k, got, "v-"+k)
				}
			}
			for _, k := range tc.gone {
				if got := mustClaim(t, m, k, "again", time.Hour); got != "" {
					t.Errorf("Claim(%s) = %q, want \"\": the key should have been dropped", k, got)
				}
			}
		})
	}
}

// TestMemoryIdempotencyDropsExpired checks that expired claims leave memory at
// the next claim instead of waiting for the bound.
func TestMemoryIdempotencyDropsExpired(t *testing.T) {
	clock := newFakeClock()
	m := NewMemoryIdempotency(100)
	m.now = clock.now
	for _, k := range []string{"a", "b", "c"} {
		mustClaim(t, m, k, "v", time.Minute)
	}
	clock.advance(time.Minute)
	mustClaim(t, m, "d", "v", time.Minute)
	m.mu.Lock()
	held, order := len(m.keys), len(m.order)
	m.mu.Unlock()
	if held != 1 || order != 1 {
		t.Fatalf("after expiry holds %d keys in a %d-long order; want 1", held, order)
	}
}

// TestMemoryIdempotencyReclaimAfterExpiry checks that the order entry of an
// expired claim does not delete the key once it was claimed again.
func TestMemoryIdempotencyReclaimAfterExpiry(t *testing.T) {
	clock := newFakeClock()
	m := NewMemoryIdempotency(100)
	m.now = clock.now
	mustClaim(t, m, "older", "v0", 3*time.Minute) // keeps k's first entry off the front
	mustClaim(t, m, "k", "v1", time.Minute)
	clock.advance(2 * time.Minute)
	if got := mustClaim(t, m, "k", "v2", time.Hour); got != "" {
		t.Fatalf("Claim(k) after expiry = %q, want \"\"", got)
	}
	clock.advance(2 * time.Minute)
	// "older" has expired: this claim walks the order past k's stale entry.
	mustClaim(t, m, "other", "v3", time.Hour)
	if got := mustClaim(t, m, "k", "v4", time.Hour); got != "v2" {
		t.Fatalf("Claim(k) = %q, want v2: the stale order entry dropped the new claim", got)
	}
	m.mu.Lock()
	held, order := len(m.keys), len(m.order)
	m.mu.Unlock()
	if held != 2 || order != 2 {
		t.Fatalf("holds %d keys in a %d-long order; want k and other in both", held, order)
	}
}

// TestMemoryIdempotencyReleaseThenBound checks that a released key's order
// entry neither counts against the bound nor drops the key claimed again.
func TestMemoryIdempotencyReleaseThenBound(t *testing.T) {
	m := NewMemoryIdempotency(2)
	mustClaim(t, m, "k", "v1", time.Hour)
	if err := m.Release(storeContext(t), "k", "v1"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	mustClaim(t, m, "a", "va", time.Hour)
	mustClaim(t, m, "k", "v2", time.Hour)
	for k, want := range map[string]string{"a": "va", "k": "v2"} {
		if got := mustClaim(t, m, k, "again", time.Hour); got != want {
			t.Errorf("Claim(%s) = %q, want %q", k, got, want)
		}
	}
}
