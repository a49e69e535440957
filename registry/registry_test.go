package registry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/redis/rueidis"
)

// devices is what the edge and the API use of a registry.
type devices interface {
	Register(ctx context.Context, account, device string, e Entry) (Entry, error)
	Unregister(ctx context.Context, account, device, session string) (bool, error)
	Lookup(ctx context.Context, account, device string) (Entry, error)
	Connected(ctx context.Context, account string) ([]string, error)
}

// edges is what an edge uses to announce that it is live.
type edges interface {
	Heartbeat(ctx context.Context, edge, addr string) (fresh bool, err error)
	EdgeAddr(ctx context.Context, edge string) (string, error)
	RemoveEdge(ctx context.Context, edge string) error
	Edges(ctx context.Context) ([]string, error)
}

// topics is what an edge uses to publish its topics and a publisher to find
// the edges of a topic.
type topics interface {
	AddTopic(ctx context.Context, topic, edge string) error
	RemoveTopic(ctx context.Context, topic, edge string) error
	AddTopics(ctx context.Context, edge string, topics []string) error
	TopicEdges(ctx context.Context, topic string) ([]string, error)
}

// subject is a whole registry under test.
type subject interface {
	devices
	edges
	topics
}

// ttls are the lifetimes a behaviour test gives its registry; zero fields
// take their defaults.
type ttls struct {
	edge, topic time.Duration
}

var (
	_ devices = (*Memory)(nil)
	_ devices = (*Redis)(nil)
	_ subject = (*Memory)(nil)
	_ subject = (*Redis)(nil)
)

// implementations are the registries the shared behaviour runs against. setup
// runs once for an implementation, with the test of all its behaviours, and
// returns new, which returns a registry with the given TTLs that no other test
// sees.
var implementations = []struct {
	name  string
	setup func(tb testing.TB) (new func(tb testing.TB, ttl ttls) subject)
}{
	{"memory", func(testing.TB) func(testing.TB, ttls) subject {
		return func(_ testing.TB, ttl ttls) subject {
			return NewMemoryWith(MemoryConfig{EdgeTTL: ttl.edge, TopicTTL: ttl.topic})
		}
	}},
	{"redis", func(testing.TB) func(testing.TB, ttls) subject {
		return func(tb testing.TB, ttl ttls) subject {
			return mustRedisServer(tb).registry(tb, RedisConfig{EdgeTTL: ttl.edge, TopicTTL: ttl.topic})
		}
	}},
	// The same Redis behind a password, TLS, Redis Cluster and Sentinel, each
	// reached through the URL an operator would give.
	{"redis with a password", func(tb testing.TB) func(testing.TB, ttls) subject {
		srv := testenv.StartRedisWith(tb, testenv.RedisOptions{Password: redisTestPassword})
		return privateRedis(rueidis.ClientModeStandalone, RedisConfig{Addrs: []string{srv.URL()}})
	}},
	{"redis over TLS", func(tb testing.TB) func(testing.TB, ttls) subject {
		srv := testenv.StartRedisWith(tb, testenv.RedisOptions{TLS: true})
		return privateRedis(rueidis.ClientModeStandalone, RedisConfig{Addrs: []string{srv.URL()}, TLS: mustCA(tb, srv.CAFile)})
	}},
	{"redis cluster over TLS with a password", func(tb testing.TB) func(testing.TB, ttls) subject {
		srv := testenv.StartRedisWith(tb, testenv.RedisOptions{Cluster: true, TLS: true, Password: redisTestPassword})
		return privateRedis(rueidis.ClientModeCluster, RedisConfig{Addrs: []string{srv.URL()}, TLS: mustCA(tb, srv.CAFile)})
	}},
	// A real cluster: three masters with a replica each, the slots split
	// across them, so that keys of different hash tags live on different
	// nodes; the client is seeded with one node only.
	{"redis cluster of 3 masters", func(tb testing.TB) func(testing.TB, ttls) subject {
		c := testenv.StartRedisCluster(tb, testenv.ClusterOptions{Masters: 3, Replicas: 1})
		return privateRedis(rueidis.ClientModeCluster, RedisConfig{Addrs: []string{c.Masters[0].Addr}})
	}},
	{"redis sentinel with a password", func(tb testing.TB) func(testing.TB, ttls) subject {
		master := testenv.StartRedisWith(tb, testenv.RedisOptions{Password: redisTestPassword})
		sentinel := testenv.StartSentinel(tb, master, "herald")
		return privateRedis(rueidis.ClientModeSentinel, RedisConfig{Addrs: []string{"redis://:" + redisTestPassword + "@" + sentinel.Addr + "?master_set=herald"}})
	}},
}

// redisTestPassword is the requirepass of the private servers.
const redisTestPassword = "registry-test-redis-password"

// privateRedis returns a new for a Redis server of the test's own: each
// registry gets a fresh key prefix, and nothing needs deleting. The registry's
// client must be of the given mode, so that a cluster or a Sentinel is really
// used as one.
func privateRedis(mode rueidis.ClientMode, cfg RedisConfig) func(tb testing.TB, ttl ttls) subject {
	return func(tb testing.TB, ttl ttls) subject {
		tb.Helper()
		cfg := cfg
		cfg.EdgeTTL, cfg.TopicTTL, cfg.Prefix = ttl.edge, ttl.topic, "t:"+tb.Name()+":"
		r, err := NewRedis(cfg)
		if err != nil {
			tb.Fatalf("NewRedis: %v", err)
		}
		tb.Cleanup(r.Close)
		if got := r.Client().Mode(); got != mode {
			tb.Fatalf("the client is %s, want %s", got, mode)
		}
		return r
	}
}

// mustCA returns a TLS configuration that trusts the CA in caFile only.
func mustCA(tb testing.TB, caFile string) *tls.Config {
	tb.Helper()
	b, err := os.ReadFile(caFile)
	if err != nil {
		tb.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		tb.Fatalf("no certificate in %s", caFile)
	}
	return &tls.Config{RootCAs: pool}
}

// redisServer is the test's Redis server and its private key prefix.
type redisServer struct {
	addr, prefix string
}

// mustRedisServer returns the Redis server of the test environment with a fresh
// key prefix; the test is skipped when there is none (fails under CI=true).
func mustRedisServer(tb testing.TB) redisServer {
	tb.Helper()
	addr, prefix := testenv.Redis(tb)
	return redisServer{addr: addr, prefix: prefix}
}

// registry returns a Redis registry on s, closed at the end of the test; cfg's
// Addrs and Prefix are filled in from s.
func (s redisServer) registry(tb testing.TB, cfg RedisConfig) *Redis {
	tb.Helper()
	cfg.Addrs, cfg.Prefix = []string{s.addr}, s.prefix
	r, err := NewRedis(cfg)
	if err != nil {
		tb.Fatalf("NewRedis: %v", err)
	}
	tb.Cleanup(r.Close)
	return r
}

func testContext(tb testing.TB) context.Context {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	tb.Cleanup(cancel)
	return ctx
}

// sameEntry compares entries by the instant of Since: Redis keeps neither the
// location nor the monotonic clock reading.
func sameEntry(a, b Entry) bool {
	return a.Edge == b.Edge && a.Session == b.Session && a.Since.Equal(b.Since)
}

// eventually calls check until it returns nil, failing the test with its last
// error after a generous bound. Only used where a change becomes visible
// asynchronously: an expiry, or another process's write.
func eventually(tb testing.TB, what string, check func() error) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s: still %v after 10s", what, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func mustHeartbeat(tb testing.TB, reg edges, edge string) bool {
	tb.Helper()
	fresh, err := reg.Heartbeat(testContext(tb), edge, edge+".internal:7000")
	if err != nil {
		tb.Fatalf("Heartbeat(%s): %v", edge, err)
	}
	return fresh
}

func mustRegister(tb testing.TB, reg devices, account, device string, e Entry) Entry {
	tb.Helper()
	prev, err := reg.Register(testContext(tb), account, device, e)
	if err != nil {
		tb.Fatalf("Register(%s/%s): %v", account, device, err)
	}
	return prev
}

func mustConnected(tb testing.TB, reg devices, account string, want ...string) {
	tb.Helper()
	got, err := reg.Connected(testContext(tb), account)
	if err != nil {
		tb.Fatalf("Connected(%s): %v", account, err)
	}
	if got == nil || !slices.Equal(got, want) {
		tb.Fatalf("Connected(%s) = %#v, want %#v", account, got, want)
	}
}

func wantLookup(tb testing.TB, reg devices, account, device string, want Entry) {
	tb.Helper()
	got, err := reg.Lookup(testContext(tb), account, device)
	if err != nil {
		tb.Fatalf("Lookup(%s/%s): %v, want %+v", account, device, err, want)
	}
	if !sameEntry(got, want) {
		tb.Fatalf("Lookup(%s/%s) = %+v, want %+v", account, device, got, want)
	}
}

func wantNotFound(tb testing.TB, reg devices, account, device string) {
	tb.Helper()
	if got, err := reg.Lookup(testContext(tb), account, device); err != ErrNotFound {
		tb.Fatalf("Lookup(%s/%s) = %+v, %v; want ErrNotFound", account, device, got, err)
	}
}

// TestBehaviour runs the behaviour every registry shares against each
// implementation.
func TestBehaviour(t *testing.T) {
	for _, impl := range implementations {
		t.Run(impl.name, func(t *testing.T) {
			newSubject := impl.setup(t)
			for _, tc := range []struct {
				name string
				ttl  ttls
				run  func(t *testing.T, reg subject)
			}{
				{"register lookup unregister", ttls{}, testRegisterLookupUnregister},
				{"compare and delete", ttls{}, testCompareAndDelete},
				{"connected", ttls{}, testConnected},
				{"phantom of an expired edge", ttls{edge: 500 * time.Millisecond}, testPhantom},
				{"heartbeat", ttls{}, testHeartbeat},
				{"removed edge", ttls{}, testRemoveEdge},
				{"live edges", ttls{edge: 500 * time.Millisecond}, testEdges},
				{"read your writes", ttls{}, testReadYourWrites},
				{"cancelled context", ttls{}, testCancelledContext},
				{"topics", ttls{}, testTopics},
				{"topics of an expired edge", ttls{edge: 500 * time.Millisecond}, testTopicsExpiredEdge},
				{"topics of a removed edge", ttls{}, testTopicsRemovedEdge},
				{"topics resync", ttls{}, testTopicsResync},
				{"topic expiry", ttls{topic: 500 * time.Millisecond}, testTopicExpiry},
				{"topics read your writes", ttls{}, testTopicsReadYourWrites},
				{"invalid topic or edge", ttls{}, testTopicsInvalid},
				{"topics cancelled context", ttls{}, testTopicsCancelledContext},
				{"topics concurrently", ttls{}, testTopicsConcurrent},
			} {
				t.Run(tc.name, func(t *testing.T) {
					tc.run(t, newSubject(t, tc.ttl))
				})
			}
		})
	}
}

func testRegisterLookupUnregister(t *testing.T, reg subject) {
	ctx := testContext(t)
	mustHeartbeat(t, reg, "e1")
	e := Entry{Edge: "e1", Session: "s1", Since: time.Unix(1700000000, 123456789)}

	wantNotFound(t, reg, "a1", "tv1")
	if prev := mustRegister(t, reg, "a1", "tv1", e); prev != (Entry{}) {
		t.Fatalf("first Register returned prev %+v, want zero", prev)
	}
	wantLookup(t, reg, "a1", "tv1", e)
	wantNotFound(t, reg, "a1", "phone1")
	wantNotFound(t, reg, "a2", "tv1")

	if ok, err := reg.Unregister(ctx, "a1", "tv1", "s1"); err != nil || !ok {
		t.Fatalf("Unregister = %v, %v; want true", ok, err)
	}
	wantNotFound(t, reg, "a1", "tv1")
	if ok, err := reg.Unregister(ctx, "a1", "tv1", "s1"); err != nil || ok {
		t.Fatalf("second Unregister = %v, %v; want false", ok, err)
	}
}

func testCompareAndDelete(t *testing.T, reg subject) {
	ctx := testContext(t)
	mustHeartbeat(t, reg, "e1")
	mustHeartbeat(t, reg, "e2")
	old := Entry{Edge: "e1", Session: "s1", Since: time.Unix(1, 0)}
	newer := Entry{Edge: "e2", Session: "s2", Since: time.Unix(2, 0)}

	mustRegister(t, reg, "a1", "tv1", old)
	if prev := mustRegister(t, reg, "a1", "tv1", newer); !sameEntry(prev, old) {
		t.Fatalf("second Register returned prev %+v, want %+v", prev, old)
	}
	// The old connection closing must not remove the newer registration.
	if ok, err := reg.Unregister(ctx, "a1", "tv1", "s1"); err != nil || ok {
		t.Fatalf("Unregister of the stale session = %v, %v; want false", ok, err)
	}
	wantLookup(t, reg, "a1", "tv1", newer)
	mustConnected(t, reg, "a1", "tv1")

	if ok, err := reg.Unregister(ctx, "a1", "tv1", "s2"); err != nil || !ok {
		t.Fatalf("Unregister = %v, %v; want true", ok, err)
	}
	wantNotFound(t, reg, "a1", "tv1")
	mustConnected(t, reg, "a1")
}

func testConnected(t *testing.T, reg subject) {
	ctx := testContext(t)
	mustHeartbeat(t, reg, "e1")
	mustHeartbeat(t, reg, "e2")
	for _, d := range []struct{ account, device, edge string }{
		{"a1", "tv1", "e1"}, {"a1", "phone1", "e2"}, {"a1", "tab1", "e1"}, {"a2", "tv9", "e2"},
	} {
		mustRegister(t, reg, d.account, d.device, Entry{Edge: d.edge, Session: "s-" + d.device})
	}
	mustConnected(t, reg, "a1", "phone1", "tab1", "tv1")
	mustConnected(t, reg, "a2", "tv9")
	mustConnected(t, reg, "a3")

	if ok, err := reg.Unregister(ctx, "a1", "tab1", "s-tab1"); err != nil || !ok {
		t.Fatalf("Unregister(tab1) = %v, %v", ok, err)
	}
	mustConnected(t, reg, "a1", "phone1", "tv1")
	// A device that reconnects is listed once.
	mustRegister(t, reg, "a1", "tv1", Entry{Edge: "e2", Session: "s-tv1-again"})
	mustConnected(t, reg, "a1", "phone1", "tv1")
}

// testPhantom checks that the devices of an edge that stops heartbeating (as a
// crashed one does) are offline once its liveness expires, while the devices of
// an edge that keeps heartbeating stay found.
func testPhantom(t *testing.T, reg subject) {
	ctx := testContext(t)
	mustHeartbeat(t, reg, "crashed")
	mustHeartbeat(t, reg, "alive")
	tv := Entry{Edge: "crashed", Session: "s1"}
	phone := Entry{Edge: "alive", Session: "s2"}
	mustRegister(t, reg, "a1", "tv1", tv)
	mustRegister(t, reg, "a1", "phone1", phone)
	wantLookup(t, reg, "a1", "tv1", tv)
	mustConnected(t, reg, "a1", "phone1", "tv1")

	eventually(t, "Lookup of a device on an edge that stopped heartbeating", func() error {
		mustHeartbeat(t, reg, "alive")
		wantLookup(t, reg, "a1", "phone1", phone)
		if _, err := reg.Lookup(ctx, "a1", "tv1"); err != ErrNotFound {
			return errors.New("found")
		}
		return nil
	})
	mustHeartbeat(t, reg, "alive")
	mustConnected(t, reg, "a1", "phone1")
	if addr, err := reg.EdgeAddr(ctx, "crashed"); err != ErrNotFound {
		t.Fatalf("EdgeAddr of the expired edge = %q, %v; want ErrNotFound", addr, err)
	}

	// The edge coming back is told it is fresh; its devices count again.
	if !mustHeartbeat(t, reg, "crashed") {
		t.Fatal("Heartbeat after expiry: fresh = false, want true")
	}
	wantLookup(t, reg, "a1", "tv1", tv)
}

func testHeartbeat(t *testing.T, reg subject) {
	ctx := testContext(t)
	if addr, err := reg.EdgeAddr(ctx, "e1"); err != ErrNotFound {
		t.Fatalf("EdgeAddr before any heartbeat = %q, %v; want ErrNotFound", addr, err)
	}
	for i, want := range []bool{true, false, false} {
		if fresh, err := reg.Heartbeat(ctx, "e1", "10.0.0.1:7000"); err != nil || fresh != want {
			t.Fatalf("Heartbeat %d = %v, %v; want fresh %v", i, fresh, err, want)
		}
	}
	if addr, err := reg.EdgeAddr(ctx, "e1"); err != nil || addr != "10.0.0.1:7000" {
		t.Fatalf("EdgeAddr = %q, %v", addr, err)
	}
	// An edge restarted at another address.
	if fresh, err := reg.Heartbeat(ctx, "e1", "10.0.0.2:7000"); err != nil || fresh {
		t.Fatalf("Heartbeat at a new address = %v, %v; want not fresh", fresh, err)
	}
	if addr, err := reg.EdgeAddr(ctx, "e1"); err != nil || addr != "10.0.0.2:7000" {
		t.Fatalf("EdgeAddr after the address changed = %q, %v", addr, err)
	}
	if addr, err := reg.EdgeAddr(ctx, "e2"); err != ErrNotFound {
		t.Fatalf("EdgeAddr of another edge = %q, %v; want ErrNotFound", addr, err)
	}
}

func testRemoveEdge(t *testing.T, reg subject) {
	ctx := testContext(t)
	mustHeartbeat(t, reg, "e1")
	e := Entry{Edge: "e1", Session: "s1"}
	mustRegister(t, reg, "a1", "tv1", e)
	wantLookup(t, reg, "a1", "tv1", e)
	if err := reg.RemoveEdge(ctx, "e1"); err != nil {
		t.Fatalf("RemoveEdge: %v", err)
	}
	wantNotFound(t, reg, "a1", "tv1")
	mustConnected(t, reg, "a1")
	if addr, err := reg.EdgeAddr(ctx, "e1"); err != ErrNotFound {
		t.Fatalf("EdgeAddr after RemoveEdge = %q, %v; want ErrNotFound", addr, err)
	}
	if !mustHeartbeat(t, reg, "e1") {
		t.Fatal("Heartbeat after RemoveEdge: fresh = false, want true")
	}
	wantLookup(t, reg, "a1", "tv1", e)
}

// testEdges lists the live edges: heartbeated, neither expired nor removed.
func testEdges(t *testing.T, reg subject) {
	ctx := testContext(t)
	want := func(ids ...string) {
		t.Helper()
		got, err := reg.Edges(ctx)
		if err != nil || !slices.Equal(got, ids) {
			t.Fatalf("Edges = %q, %v; want %q", got, err, ids)
		}
	}
	want()
	mustHeartbeat(t, reg, "e2")
	mustHeartbeat(t, reg, "e1")
	mustHeartbeat(t, reg, "e3")
	want("e1", "e2", "e3")
	if err := reg.RemoveEdge(ctx, "e2"); err != nil {
		t.Fatalf("RemoveEdge: %v", err)
	}
	want("e1", "e3")
	// e3 stops beating: it leaves the list when its liveness key expires.
	deadline := time.Now().Add(2 * time.Second)
	for time.Now().Before(deadline) {
		mustHeartbeat(t, reg, "e1")
		if got, err := reg.Edges(ctx); err == nil && slices.Equal(got, []string{"e1"}) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	want("e1")
}

// testReadYourWrites alternates writes and cached reads in one process: each
// read must see the write before it, never a value cached before the write.
func testReadYourWrites(t *testing.T, reg subject) {
	ctx := testContext(t)
	mustHeartbeat(t, reg, "e1")
	mustHeartbeat(t, reg, "e2")
	for i := range 100 {
		e := Entry{Edge: []string{"e1", "e2"}[i%2], Session: fmt.Sprintf("s%d", i)}
		mustRegister(t, reg, "a1", "tv1", e)
		wantLookup(t, reg, "a1", "tv1", e)
		mustConnected(t, reg, "a1", "tv1")
		if i%3 == 0 {
			if ok, err := reg.Unregister(ctx, "a1", "tv1", e.Session); err != nil || !ok {
				t.Fatalf("Unregister %d = %v, %v", i, ok, err)
			}
			wantNotFound(t, reg, "a1", "tv1")
			mustConnected(t, reg, "a1")
		}
	}
}

func testCancelledContext(t *testing.T, reg subject) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := reg.Register(ctx, "a1", "tv1", Entry{Edge: "e1", Session: "s1"}); !errors.Is(err, context.Canceled) {
		t.Errorf("Register: %v, want context.Canceled", err)
	}
	if _, err := reg.Lookup(ctx, "a1", "tv1"); !errors.Is(err, context.Canceled) {
		t.Errorf("Lookup: %v, want context.Canceled", err)
	}
	if _, err := reg.Heartbeat(ctx, "e1", "addr"); !errors.Is(err, context.Canceled) {
		t.Errorf("Heartbeat: %v, want context.Canceled", err)
	}
}
