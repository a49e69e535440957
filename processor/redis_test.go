package processor

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/heraldpush/herald/scripts/testenv"
)

// mustRedis returns a client of the test environment's Redis and a key prefix
// private to the test; the test is skipped when there is no Redis (fails under
// CI=true). The client is closed and the prefixed keys deleted at cleanup.
func mustRedis(tb testing.TB) (rueidis.Client, string) {
	tb.Helper()
	return testenv.RedisClient(tb)
}

// mustRedisCluster starts a Redis Cluster of three masters with a replica
// each and returns a client of it, seeded with one master; both are stopped
// at the end of the test.
func mustRedisCluster(tb testing.TB) rueidis.Client {
	tb.Helper()
	c := testenv.StartRedisCluster(tb, testenv.ClusterOptions{Masters: 3, Replicas: 1})
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{c.Masters[0].Addr}})
	if err != nil {
		tb.Fatalf("connect to the cluster: %v", err)
	}
	tb.Cleanup(client.Close)
	if got := client.Mode(); got != rueidis.ClientModeCluster {
		tb.Fatalf("the client is %s, want %s", got, rueidis.ClientModeCluster)
	}
	return client
}

// pttl returns the milliseconds key has left to live: -2 when it is missing,
// -1 when it never expires.
func pttl(tb testing.TB, client rueidis.Client, key string) int64 {
	tb.Helper()
	ms, err := client.Do(storeContext(tb), client.B().Pttl().Key(key).Build()).AsInt64()
	if err != nil {
		tb.Fatalf("PTTL %s: %v", key, err)
	}
	return ms
}

// TestRedisStatusKeys checks the key layout other processes and operators rely
// on: one hash per message under the prefix, expiring ttl after the last event.
func TestRedisStatusKeys(t *testing.T) {
	client, prefix := mustRedis(t)
	s := NewRedisStatus(client, prefix, time.Hour)
	mustRecord(t, s, queued("m1"), outcome("m1", "tv1", Delivered, 2000), outcome("m1", "", Offline, 2001))

	key := prefix + "msg:m1"
	fields, err := client.Do(storeContext(t), client.B().Hkeys().Key(key).Build()).AsStrSlice()
	if err != nil {
		t.Fatalf("HKEYS %s: %v", key, err)
	}
	want := map[string]bool{"m": true, "d:tv1": true, "d:": true, "h:tv1": true, "h:": true}
	if len(fields) != len(want) {
		t.Fatalf("fields of %s = %q, want m, d:tv1, d: and their histories h:tv1, h:", key, fields)
	}
	for _, f := range fields {
		if !want[f] {
			t.Fatalf("fields of %s = %q, want m, d:tv1, d: and their histories h:tv1, h:", key, fields)
		}
	}
	if ms := pttl(t, client, key); ms <= 0 || ms > time.Hour.Milliseconds() {
		t.Fatalf("PTTL %s = %d, want within an hour", key, ms)
	}
}

// TestRedisStatusShared checks that a status recorded by one process is read
// by another on the same prefix, and not by one on another prefix.
func TestRedisStatusShared(t *testing.T) {
	client, prefix := mustRedis(t)
	writer := NewRedisStatus(client, prefix, 0)
	reader := NewRedisStatus(client, prefix, 0)
	other := NewRedisStatus(client, prefix+"other:", 0)
	mustRecord(t, writer, queued("m1"), outcome("m1", "tv1", Acked, 2000))
	wantStatus(t, reader, "m1", processed(Acked, DeviceStatus{Device: "tv1", Status: Acked, At: 2000}))
	wantStatus(t, other, "m1", nil)
}

func TestRedisStatusErrors(t *testing.T) {
	client, prefix := mustRedis(t)
	s := NewRedisStatus(client, prefix, 0)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	if err := client.Do(storeContext(t), client.B().Hset().Key(prefix+"msg:bad").FieldValue().FieldValue("m", "{").Build()).Error(); err != nil {
		t.Fatalf("HSET: %v", err)
	}

	cases := []struct {
		name string
		call func() error
		is   error // when set, the error must wrap it
	}{
		{name: "record an unknown outcome", call: func() error {
			return s.Record(storeContext(t), Event{ID: "m1", Account: "a1", Device: "tv1", Status: "lost", At: 1})
		}},
		{name: "record with a canceled context", is: context.Canceled, call: func() error {
			return s.Record(canceled, queued("m1"))
		}},
		{name: "get with a canceled context", is: context.Canceled, call: func() error {
			_, err := s.Get(canceled, "m1")
			return err
		}},
		{name: "get a corrupt message", call: func() error {
			_, err := s.Get(storeContext(t), "bad")
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			switch {
			case err == nil:
				t.Fatal("no error")
			case errors.Is(err, ErrNotFound):
				t.Fatalf("error %v is ErrNotFound", err)
			case tc.is != nil && !errors.Is(err, tc.is):
				t.Fatalf("error %v does not wrap %v", err, tc.is)
			}
		})
	}
	// Nothing of the failed records was written.
	wantStatus(t, s, "m1", nil)
}

// TestRedisIdempotencyKeys checks that a claim is one string under the prefix
// expiring after the ttl, and that Release deletes it.
func TestRedisIdempotencyKeys(t *testing.T) {
	client, prefix := mustRedis(t)
	s := NewRedisIdempotency(client, prefix)
	mustClaim(t, s, "k1", "v1", time.Hour)
	key := prefix + "idem:k1"
	if ms := pttl(t, client, key); ms <= 0 || ms > time.Hour.Milliseconds() {
		t.Fatalf("PTTL %s = %d, want within an hour", key, ms)
	}
	if err := s.Release(storeContext(t), "k1", "v1"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if ms := pttl(t, client, key); ms != -2 {
		t.Fatalf("PTTL %s = %d after Release, want -2 (missing)", key, ms)
	}
}

func TestRedisIdempotencyErrors(t *testing.T) {
	client, prefix := mustRedis(t)
	s := NewRedisIdempotency(client, prefix)
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	cases := []struct {
		name string
		call func() error
	}{
		{name: "claim", call: func() error {
			_, err := s.Claim(canceled, "k1", "v1", time.Minute)
			return err
		}},
		{name: "release", call: func() error { return s.Release(canceled, "k1", "v1") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, context.Canceled) {
				t.Fatalf("with a canceled context: %v, want context.Canceled", err)
			}
		})
	}
	if got := mustClaim(t, s, "k1", "v2", time.Minute); got != "" {
		t.Fatalf("Claim after the canceled calls = %q, want \"\"", got)
	}
}
