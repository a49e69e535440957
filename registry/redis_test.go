package registry

import (
	"context"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// admin returns a client of s without client-side caching, for the test to
// look at and change keys behind the registry's back.
func (s redisServer) admin(tb testing.TB) rueidis.Client {
	tb.Helper()
	c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{s.addr}, DisableCache: true})
	if err != nil {
		tb.Fatalf("connect to redis %s: %v", s.addr, err)
	}
	tb.Cleanup(c.Close)
	return c
}

func TestRedisLookupIsCached(t *testing.T) {
	r := mustRedisServer(t).registry(t, RedisConfig{})
	e := Entry{Edge: "e1", Session: "s1"}
	mustHeartbeat(t, r, "e1")
	mustRegister(t, r, "a1", "tv1", e)

	wantLookup(t, r, "a1", "tv1", e)
	if hits := r.lookupHits.Load(); hits != 0 {
		t.Fatalf("first Lookup: %d cache hits, want 0", hits)
	}
	for i := range 3 {
		wantLookup(t, r, "a1", "tv1", e)
		if hits := r.lookupHits.Load(); hits != uint64(i+1) {
			t.Fatalf("Lookup %d: %d cache hits, want %d: both the record and the edge should come from the client-side cache", i+2, hits, i+1)
		}
	}
}

// TestRedisInvalidation checks that a change written by another process reaches
// a cached lookup through Redis' invalidation, long before CacheTTL.
func TestRedisInvalidation(t *testing.T) {
	srv := mustRedisServer(t)
	reader := srv.registry(t, RedisConfig{CacheTTL: 10 * time.Minute})
	writer := srv.registry(t, RedisConfig{CacheTTL: 10 * time.Minute})
	mustHeartbeat(t, writer, "e1")
	mustHeartbeat(t, writer, "e2")
	first := Entry{Edge: "e1", Session: "s1"}
	mustRegister(t, writer, "a1", "tv1", first)

	wantLookup(t, reader, "a1", "tv1", first)
	wantLookup(t, reader, "a1", "tv1", first)
	if reader.lookupHits.Load() == 0 {
		t.Fatal("second Lookup was not a cache hit")
	}
	mustConnected(t, reader, "a1", "tv1")

	moved := Entry{Edge: "e2", Session: "s2"}
	mustRegister(t, writer, "a1", "tv1", moved)
	eventually(t, "cached Lookup after the device moved to another edge", func() error {
		got, err := reader.Lookup(testContext(t), "a1", "tv1")
		if err != nil || !sameEntry(got, moved) {
			return errors.New("still " + got.Edge)
		}
		return nil
	})

	mustRegister(t, writer, "a1", "phone1", Entry{Edge: "e1", Session: "s3"})
	eventually(t, "cached Connected after another device registered", func() error {
		got, err := reader.Connected(testContext(t), "a1")
		if err != nil || !slices.Equal(got, []string{"phone1", "tv1"}) {
			return errors.New("still " + strings.Join(got, ","))
		}
		return nil
	})

	if ok, err := writer.Unregister(testContext(t), "a1", "tv1", "s2"); err != nil || !ok {
		t.Fatalf("Unregister = %v, %v", ok, err)
	}
	eventually(t, "cached Lookup after the device unregistered", func() error {
		if _, err := reader.Lookup(testContext(t), "a1", "tv1"); err != ErrNotFound {
			return errors.New("still found")
		}
		return nil
	})

	if err := writer.RemoveEdge(testContext(t), "e1"); err != nil {
		t.Fatalf("RemoveEdge: %v", err)
	}
	eventually(t, "cached Lookup after the device's edge was removed", func() error {
		if _, err := reader.Lookup(testContext(t), "a1", "phone1"); err != ErrNotFound {
			return errors.New("still found")
		}
		return nil
	})
}

// TestRedisLookupFresh checks that LookupFresh sees another process's
// registration as soon as it completed, even where a cached Lookup still has
// the device offline, and that it never answers from the cache.
func TestRedisLookupFresh(t *testing.T) {
	srv := mustRedisServer(t)
	reader := srv.registry(t, RedisConfig{CacheTTL: 10 * time.Minute})
	writer := srv.registry(t, RedisConfig{CacheTTL: 10 * time.Minute})
	mustHeartbeat(t, writer, "e1")
	for i := range 50 {
		device := "tv" + strconv.Itoa(i)
		wantNotFound(t, reader, "a1", device) // cached: offline
		want := Entry{Edge: "e1", Session: "s" + strconv.Itoa(i)}
		mustRegister(t, writer, "a1", device, want)
		hits := reader.lookupHits.Load()
		got, err := reader.LookupFresh(testContext(t), "a1", device)
		if err != nil || !sameEntry(got, want) {
			t.Fatalf("LookupFresh(a1/%s) right after another process registered it = %+v, %v; want %+v", device, got, err, want)
		}
		if reader.lookupHits.Load() != hits {
			t.Fatal("LookupFresh was answered from the client-side cache")
		}
	}
	if _, err := reader.LookupFresh(testContext(t), "a1", "never"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookupFresh of a device never registered: %v, want ErrNotFound", err)
	}
}

// TestRedisEdgeNeverHeartbeated checks that Redis, unlike Memory, treats a
// device on an edge without a liveness key as offline.
func TestRedisEdgeNeverHeartbeated(t *testing.T) {
	r := mustRedisServer(t).registry(t, RedisConfig{})
	mustRegister(t, r, "a1", "tv1", Entry{Edge: "silent", Session: "s1"})
	wantNotFound(t, r, "a1", "tv1")
	mustConnected(t, r, "a1")
}

// TestRedisHeartbeatAfterDataLoss checks that an edge learns, from its next
// heartbeat, that Redis has lost its liveness key.
func TestRedisHeartbeatAfterDataLoss(t *testing.T) {
	srv := mustRedisServer(t)
	r := srv.registry(t, RedisConfig{})
	admin := srv.admin(t)
	ctx := testContext(t)

	if !mustHeartbeat(t, r, "e1") {
		t.Fatal("first Heartbeat: fresh = false, want true")
	}
	if mustHeartbeat(t, r, "e1") {
		t.Fatal("second Heartbeat: fresh = true, want false")
	}
	if err := admin.Do(ctx, admin.B().Del().Key(srv.prefix+"edge:e1").Build()).Error(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	if !mustHeartbeat(t, r, "e1") {
		t.Fatal("Heartbeat after the key was lost: fresh = false, want true")
	}
	if mustHeartbeat(t, r, "e1") {
		t.Fatal("Heartbeat after that: fresh = true, want false")
	}
}

// TestRedisKeys checks the key layout: every key carries the prefix and a TTL,
// and the keys of one account share a hash tag.
func TestRedisKeys(t *testing.T) {
	srv := mustRedisServer(t)
	r := srv.registry(t, RedisConfig{DeviceTTL: time.Hour, EdgeTTL: time.Minute})
	admin := srv.admin(t)
	ctx := testContext(t)
	mustHeartbeat(t, r, "e1")
	mustRegister(t, r, "a1", "tv1", Entry{Edge: "e1", Session: "s1", Since: time.Unix(1700000000, 5)})

	var keys []string
	var cursor uint64
	for {
		entry, err := admin.Do(ctx, admin.B().Scan().Cursor(cursor).Match(srv.prefix+"*").Build()).AsScanEntry()
		if err != nil {
			t.Fatalf("SCAN: %v", err)
		}
		keys = append(keys, entry.Elements...)
		if cursor = entry.Cursor; cursor == 0 {
			break
		}
	}
	slices.Sort(keys)
	want := []string{srv.prefix + "acct:{a1}", srv.prefix + "dev:{a1}:tv1", srv.prefix + "edge:e1", srv.prefix + "edges"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys = %q, want %q", keys, want)
	}

	for _, tc := range []struct {
		key string
		ttl time.Duration
	}{
		{want[0], time.Hour}, {want[1], time.Hour}, {want[2], time.Minute}, {want[3], edgesForgetAfter * time.Minute},
	} {
		t.Run(strings.TrimPrefix(tc.key, srv.prefix), func(t *testing.T) {
			ms, err := admin.Do(ctx, admin.B().Pttl().Key(tc.key).Build()).AsInt64()
			if err != nil {
				t.Fatalf("PTTL: %v", err)
			}
			if got := time.Duration(ms) * time.Millisecond; got <= 0 || got > tc.ttl {
				t.Fatalf("PTTL = %v, want in (0, %v]", got, tc.ttl)
			}
		})
	}

	if got, err := admin.Do(ctx, admin.B().Hget().Key(want[0]).Field("tv1").Build()).ToString(); err != nil || got != "s1" {
		t.Errorf("account index field tv1 = %q, %v; want the session", got, err)
	}
	if got, err := admin.Do(ctx, admin.B().Get().Key(want[2]).Build()).ToString(); err != nil || got != "e1.internal:7000" {
		t.Errorf("edge key = %q, %v; want the edge's address", got, err)
	}
}

// TestRedisConnectedPrunes checks that Connected drops the index field of a
// device whose record expired without an unregister.
func TestRedisConnectedPrunes(t *testing.T) {
	srv := mustRedisServer(t)
	r := srv.registry(t, RedisConfig{})
	admin := srv.admin(t)
	ctx := testContext(t)
	mustHeartbeat(t, r, "e1")
	mustRegister(t, r, "a1", "tv1", Entry{Edge: "e1", Session: "s1"})
	mustRegister(t, r, "a1", "phone1", Entry{Edge: "e1", Session: "s2"})
	mustConnected(t, r, "a1", "phone1", "tv1")

	// The record expiring, as it does when an edge dies without unregistering.
	if err := admin.Do(ctx, admin.B().Del().Key(srv.prefix+"dev:{a1}:tv1").Build()).Error(); err != nil {
		t.Fatalf("DEL: %v", err)
	}
	eventually(t, "Connected after a record expired", func() error {
		got, err := r.Connected(ctx, "a1")
		if err != nil || !slices.Equal(got, []string{"phone1"}) {
			return errors.New("got " + strings.Join(got, ","))
		}
		return nil
	})
	fields, err := admin.Do(ctx, admin.B().Hkeys().Key(srv.prefix+"acct:{a1}").Build()).AsStrSlice()
	if err != nil {
		t.Fatalf("HKEYS: %v", err)
	}
	if !slices.Equal(fields, []string{"phone1"}) {
		t.Errorf("account index fields = %q, want [phone1]", fields)
	}
}

// TestRedisScriptsReloaded checks that the scripts still run after Redis lost
// them, as after a restart or a failover.
func TestRedisScriptsReloaded(t *testing.T) {
	srv := mustRedisServer(t)
	r := srv.registry(t, RedisConfig{})
	admin := srv.admin(t)
	ctx := testContext(t)
	mustHeartbeat(t, r, "e1")
	mustRegister(t, r, "a1", "tv1", Entry{Edge: "e1", Session: "s1"})
	if err := admin.Do(ctx, admin.B().ScriptFlush().Build()).Error(); err != nil {
		t.Fatalf("SCRIPT FLUSH: %v", err)
	}
	e := Entry{Edge: "e1", Session: "s2"}
	if prev := mustRegister(t, r, "a1", "tv1", e); prev.Session != "s1" {
		t.Fatalf("Register after SCRIPT FLUSH returned prev %+v", prev)
	}
	wantLookup(t, r, "a1", "tv1", e)
}

func TestRedisRegisterRejects(t *testing.T) {
	r := mustRedisServer(t).registry(t, RedisConfig{})
	for _, tc := range []struct {
		name, account, device, edge string
	}{
		{"empty account", "", "tv1", "e1"},
		{"empty device", "a1", "", "e1"},
		{"brace in account", "a{1}", "tv1", "e1"},
		{"closing brace in account", "a1}x", "tv1", "e1"},
		{"newline in edge", "a1", "tv1", "e\n1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := r.Register(testContext(t), tc.account, tc.device, Entry{Edge: tc.edge, Session: "s1"})
			if err == nil || errors.Is(err, ErrUnavailable) {
				t.Fatalf("Register = %v, want an error other than ErrUnavailable", err)
			}
		})
	}

	// Account "a1}:x" device "d" would name the key of account "a1" device
	// "x}:d"; such an account is never registered, so it finds nothing.
	mustHeartbeat(t, r, "e1")
	mustRegister(t, r, "a1", "x}:d", Entry{Edge: "e1", Session: "s1"})
	wantLookup(t, r, "a1", "x}:d", Entry{Edge: "e1", Session: "s1"})
	wantNotFound(t, r, "a1}:x", "d")
	mustConnected(t, r, "a1}:x")
	if ok, err := r.Unregister(testContext(t), "a1}:x", "d", "s1"); err != nil || ok {
		t.Fatalf("Unregister through a colliding account = %v, %v; want false", ok, err)
	}
}

// deadAddr returns an address on which nothing listens: a port that was just
// bound and released.
func deadAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// silentAddr returns the address of a server that accepts connections and
// never answers, as a hung Redis would.
func silentAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestRedisUnavailable checks that every call fails promptly with ErrUnavailable
// when Redis cannot be reached, also when the caller's context has no deadline.
func TestRedisUnavailable(t *testing.T) {
	for _, server := range []struct {
		name string
		addr func(testing.TB) string
	}{
		{"refused", deadAddr},
		{"silent", silentAddr},
	} {
		t.Run(server.name, func(t *testing.T) {
			// ForceSingleClient builds the client although the first dial fails,
			// as it would be when Redis went away after the process started.
			client, _ := rueidis.NewClient(rueidis.ClientOption{
				InitAddress:       []string{server.addr(t)},
				ForceSingleClient: true,
				PipelineMultiplex: -1,
				Dialer:            net.Dialer{Timeout: 200 * time.Millisecond},
				ConnWriteTimeout:  200 * time.Millisecond,
			})
			if client == nil {
				t.Fatal("rueidis.NewClient returned no client")
			}
			t.Cleanup(client.Close)
			r, err := NewRedis(RedisConfig{Client: client, Timeout: 200 * time.Millisecond})
			if err != nil {
				t.Fatalf("NewRedis: %v", err)
			}
			deadline := func() context.Context { return testContext(t) }
			for _, op := range []struct {
				name string
				call func() error
			}{
				{"register", func() error {
					_, err := r.Register(deadline(), "a1", "tv1", Entry{Edge: "e1", Session: "s1"})
					return err
				}},
				{"unregister", func() error { _, err := r.Unregister(deadline(), "a1", "tv1", "s1"); return err }},
				{"lookup", func() error { _, err := r.Lookup(deadline(), "a1", "tv1"); return err }},
				{"lookup without deadline", func() error { _, err := r.Lookup(context.Background(), "a1", "tv1"); return err }},
				{"connected", func() error { _, err := r.Connected(deadline(), "a1"); return err }},
				{"heartbeat", func() error { _, err := r.Heartbeat(deadline(), "e1", "addr"); return err }},
				{"heartbeat without deadline", func() error { _, err := r.Heartbeat(context.Background(), "e1", "addr"); return err }},
				{"edge address", func() error { _, err := r.EdgeAddr(deadline(), "e1"); return err }},
				{"remove edge", func() error { return r.RemoveEdge(deadline(), "e1") }},
				{"add topic", func() error { return r.AddTopic(deadline(), "t1", "e1") }},
				{"add topics", func() error { return r.AddTopics(deadline(), "e1", []string{"t1", "t2"}) }},
				{"add topics without deadline", func() error { return r.AddTopics(context.Background(), "e1", []string{"t1"}) }},
				{"remove topic", func() error { return r.RemoveTopic(deadline(), "t1", "e1") }},
				{"topic edges", func() error { _, err := r.TopicEdges(deadline(), "t1"); return err }},
				{"topic edges without deadline", func() error { _, err := r.TopicEdges(context.Background(), "t1"); return err }},
			} {
				t.Run(op.name, func(t *testing.T) {
					done := make(chan error, 1)
					go func() { done <- op.call() }()
					select {
					case err := <-done:
						if !errors.Is(err, ErrUnavailable) {
							t.Fatalf("err = %v, want ErrUnavailable", err)
						}
						t.Log(err)
					case <-time.After(10 * time.Second):
						t.Fatal("still waiting after 10s with Timeout 200ms")
					}
				})
			}
		})
	}
}

func TestNewRedis(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  RedisConfig
		want error // nil: any error
	}{
		{"no address", RedisConfig{}, nil},
		{"brace in prefix", RedisConfig{Addrs: []string{"127.0.0.1:1"}, Prefix: "h{x}:"}, nil},
		{"negative timeout", RedisConfig{Addrs: []string{"127.0.0.1:1"}, Timeout: -time.Second}, nil},
		{"negative device TTL", RedisConfig{Addrs: []string{"127.0.0.1:1"}, DeviceTTL: -time.Second}, nil},
		{"negative topic TTL", RedisConfig{Addrs: []string{"127.0.0.1:1"}, TopicTTL: -time.Second}, nil},
		{"topic TTL below a millisecond", RedisConfig{Addrs: []string{"127.0.0.1:1"}, TopicTTL: time.Microsecond}, nil},
		{"edge TTL below a millisecond", RedisConfig{Addrs: []string{"127.0.0.1:1"}, EdgeTTL: time.Microsecond}, nil},
		{"unreachable", RedisConfig{Addrs: []string{deadAddr(t)}}, ErrUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRedis(tc.cfg)
			if err == nil {
				r.Close()
				t.Fatal("NewRedis succeeded, want an error")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("NewRedis: %v, want %v", err, tc.want)
			}
			if tc.want == nil && errors.Is(err, ErrUnavailable) {
				t.Fatalf("NewRedis: %v; a bad config is not ErrUnavailable", err)
			}
		})
	}
}

func TestNewRedisDefaults(t *testing.T) {
	r := mustRedisServer(t).registry(t, RedisConfig{})
	for name, tc := range map[string]struct{ got, want time.Duration }{
		"DeviceTTL": {r.deviceTTL, DefaultDeviceTTL},
		"EdgeTTL":   {r.edgeTTL, DefaultEdgeTTL},
		"Timeout":   {r.timeout, DefaultTimeout},
		"CacheTTL":  {r.cacheTTL, DefaultCacheTTL},
		"TopicTTL":  {r.topicTTL, DefaultTopicTTL},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", name, tc.got, tc.want)
		}
	}
	r2, err := NewRedis(RedisConfig{Client: r.client})
	if err != nil {
		t.Fatal(err)
	}
	if r2.prefix != DefaultPrefix {
		t.Errorf("Prefix = %q, want %q", r2.prefix, DefaultPrefix)
	}
	r2.Close() // must leave the client it was given open
	if err := r.client.Do(testContext(t), r.client.B().Ping().Build()).Error(); err != nil {
		t.Errorf("client given in the config closed by Close: %v", err)
	}
}

func TestEntryEncoding(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Entry
	}{
		{"zero", Entry{}},
		{"full", Entry{Edge: "edge-7", Session: "01HZX", Since: time.Unix(1700000000, 999999999)}},
		{"epoch", Entry{Edge: "e", Session: "s", Since: time.Unix(0, 0)}},
		{"before epoch", Entry{Edge: "e", Session: "s", Since: time.Unix(-5, 1)}},
		{"session with newlines", Entry{Edge: "e", Session: "a\nb\n"}},
		{"empty edge", Entry{Session: "s"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decodeEntry(encodeEntry(tc.e))
			if err != nil || !sameEntry(got, tc.e) || got.Since.IsZero() != tc.e.Since.IsZero() {
				t.Fatalf("decode(encode(%+v)) = %+v, %v", tc.e, got, err)
			}
		})
	}
	for _, bad := range []string{"", "123", "123\nedge", "x\ne\ns", "1.5\ne\ns"} {
		if e, err := decodeEntry(bad); err == nil {
			t.Errorf("decodeEntry(%q) = %+v, want an error", bad, e)
		}
	}
}

func FuzzDecodeEntry(f *testing.F) {
	f.Add(encodeEntry(Entry{Edge: "e1", Session: "s1", Since: time.Unix(1700000000, 1)}))
	f.Add("\n\n")
	f.Add("-1\n\n\n")
	f.Fuzz(func(t *testing.T, s string) {
		e, err := decodeEntry(s)
		if err != nil {
			return
		}
		if strings.Contains(e.Edge, "\n") {
			t.Fatalf("decoded edge %q contains a newline", e.Edge)
		}
		again, err := decodeEntry(encodeEntry(e))
		if err != nil || !sameEntry(again, e) {
			t.Fatalf("re-encoding %+v gave %+v, %v", e, again, err)
		}
	})
}
