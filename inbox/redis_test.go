package inbox

import (
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/redis/rueidis"
)

// privateRedis starts a Redis of the test's own and returns an inbox on it and
// a client for looking behind the inbox's back.
func privateRedis(t *testing.T, cfg RedisConfig) (*Redis, *testenv.RedisServer, rueidis.Client) {
	t.Helper()
	srv := testenv.StartRedis(t)
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		t.Fatalf("connect to %s: %v", srv.Addr, err)
	}
	t.Cleanup(client.Close)
	cfg.Client = client
	return mustRedis(t, cfg), srv, client
}

// TestRedisKeys checks the key layout: one hash slot per device, every key
// with a TTL past its newest expiry, and an emptied inbox leaving only its
// meta key, which expires soon.
func TestRedisKeys(t *testing.T) {
	r, _, client := privateRedis(t, RedisConfig{Prefix: "p:"})
	ctx := testContext(t)
	m := msg("m0", "k")
	m.Expires = time.Now().Add(time.Hour)
	mustPut(t, r, m)
	mustPut(t, r, msg("m1", ""))

	keys, err := client.Do(ctx, client.B().Keys().Pattern("*").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(keys)
	want := []string{"p:inbox:{a1/d1}:c", "p:inbox:{a1/d1}:k", "p:inbox:{a1/d1}:m", "p:inbox:{a1/d1}:meta", "p:inbox:{a1/d1}:n", "p:inbox:{a1/d1}:q", "p:inbox:{a1/d1}:x"}
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	for _, k := range keys {
		ttl, err := client.Do(ctx, client.B().Pttl().Key(k).Build()).AsInt64()
		if err != nil {
			t.Fatal(err)
		}
		if ttl < (DefaultMaxTTL - time.Minute).Milliseconds() {
			t.Errorf("%s: PTTL %d ms, want about MaxTTL plus a minute", k, ttl)
		}
	}

	if n, err := r.Remove(ctx, "a1", "d1", "m0", "m1"); err != nil || n != 2 {
		t.Fatalf("Remove = %d, %v", n, err)
	}
	keys, err = client.Do(ctx, client.B().Keys().Pattern("*").Build()).AsStrSlice()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(keys, []string{"p:inbox:{a1/d1}:meta"}) {
		t.Fatalf("keys of an emptied inbox %v, want its meta only", keys)
	}
	ttl, err := client.Do(ctx, client.B().Pttl().Key(keys[0]).Build()).AsInt64()
	if err != nil || ttl <= 0 || ttl > (seqHold+time.Second).Milliseconds() {
		t.Fatalf("meta of an emptied inbox: PTTL %d ms, %v; want at most %v", ttl, err, seqHold)
	}
}

// TestRedisScriptLost checks that the scripts are loaded again after Redis
// lost them (a restart or a failover).
func TestRedisScriptLost(t *testing.T) {
	r, _, client := privateRedis(t, RedisConfig{})
	mustPut(t, r, msg("m0", ""))
	if err := client.Do(testContext(t), client.B().ScriptFlush().Build()).Error(); err != nil {
		t.Fatal(err)
	}
	mustPut(t, r, msg("m1", ""))
	wantPending(t, r, "m0", "m1")
}

// TestRedisUnavailable checks that every operation on a stopped Redis fails
// within the timeout with an error wrapping ErrUnavailable.
func TestRedisUnavailable(t *testing.T) {
	r, srv, _ := privateRedis(t, RedisConfig{Timeout: 200 * time.Millisecond})
	mustPut(t, r, msg("m0", ""))
	srv.Stop()
	ctx := testContext(t)
	calls := []struct {
		name string
		call func() error
	}{
		{"put", func() error { _, err := r.Put(ctx, msg("m1", "")); return err }},
		{"pending", func() error { _, err := r.Pending(ctx, "a1", "d1", 0, 0); return err }},
		{"remove", func() error { _, err := r.Remove(ctx, "a1", "d1", "m0"); return err }},
		{"stats", func() error { _, err := r.Stats(ctx, "a1", "d1"); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			err := c.call()
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "a1/d1") {
				t.Fatalf("err = %v, want ErrUnavailable naming the device", err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
		})
	}
}

func TestNewRedisConfig(t *testing.T) {
	client, _ := testenv.RedisClient(t)
	tests := []struct {
		name string
		cfg  RedisConfig
		ok   bool
	}{
		{"defaults", RedisConfig{Client: client}, true},
		{"no client", RedisConfig{}, false},
		{"brace in prefix", RedisConfig{Client: client, Prefix: "a{"}, false},
		{"negative timeout", RedisConfig{Client: client, Timeout: -1}, false},
		{"negative limit", RedisConfig{Client: client, Limits: Limits{MaxMessages: -1}}, false},
		{"ttl below a millisecond", RedisConfig{Client: client, Limits: Limits{MaxTTL: time.Microsecond}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := NewRedis(tt.cfg)
			if (err == nil) != tt.ok {
				t.Fatalf("NewRedis = %v", err)
			}
			if tt.ok && (r.lim != Limits{MaxMessages: DefaultMaxMessages, MaxCollapseKeys: DefaultMaxCollapseKeys, MaxTTL: DefaultMaxTTL, MaxBytes: DefaultMaxBytes} || r.prefix != DefaultPrefix || r.timeout != DefaultTimeout) {
				t.Fatalf("defaults not filled: %+v", r)
			}
		})
	}
}

// TestRedisKeysExpire checks that every key of an inbox has a TTL after puts
// that delete a key and create it again (a drop, a replacement, a purge) and
// after puts that create a key within the TTL already set.
func TestRedisKeysExpire(t *testing.T) {
	tests := []struct {
		name string
		lim  Limits
		puts []Message
	}{
		{"plain", Limits{}, []Message{msg("m0", ""), msg("m1", "")}},
		{"the first collapse key after a plain message", Limits{}, []Message{msg("m0", ""), msg("m1", "k")}},
		{"a plain message after a collapse key", Limits{}, []Message{msg("m0", "k"), msg("m1", "")}},
		{"the only plain message dropped", Limits{MaxMessages: 1}, []Message{msg("m0", ""), msg("m1", "")}},
		{"the only collapse key dropped", Limits{MaxCollapseKeys: 1}, []Message{msg("m0", "k"), msg("m1", "j")}},
		{"the only collapsible message replaced", Limits{}, []Message{msg("m0", "k"), msg("m1", "k")}},
		{"everything dropped for bytes", Limits{MaxBytes: 12}, []Message{msg("m0", "k"), msg("m1", "")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newClock()
			r, _, client := privateRedis(t, RedisConfig{Limits: tt.lim, Now: c.Now})
			ctx := testContext(t)
			for _, m := range tt.puts {
				mustPut(t, r, m)
			}
			keys, err := client.Do(ctx, client.B().Keys().Pattern("*").Build()).AsStrSlice()
			if err != nil {
				t.Fatal(err)
			}
			for _, k := range keys {
				if ttl, err := client.Do(ctx, client.B().Pttl().Key(k).Build()).AsInt64(); err != nil || ttl <= 0 {
					t.Errorf("%s: PTTL %d, %v", k, ttl, err)
				}
			}
		})
	}
}

// TestRedisMaxmemory checks the failure model at Redis' maxmemory (with the
// default noeviction): a put that would grow memory fails whole with
// ErrUnavailable, and the drains that free memory still work.
func TestRedisMaxmemory(t *testing.T) {
	r, _, client := privateRedis(t, RedisConfig{})
	ctx := testContext(t)
	if err := client.Do(ctx, client.B().ConfigSet().ParameterValue().ParameterValue("maxmemory", "3mb").Build()).Error(); err != nil {
		t.Fatal(err)
	}
	var err error
	full := ""
	for d := 0; d < 100000 && err == nil; d++ {
		m := benchMsg(0)
		m.Device = "d" + strconv.Itoa(d)
		_, err = r.Put(ctx, m)
		full = m.Device
	}
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Put into a full Redis = %v, want ErrUnavailable", err)
	}
	if st, err := r.Stats(ctx, "a1", full); err != nil || st != (Stats{}) {
		t.Fatalf("Stats of the refused device = %+v, %v: the refused put left something", st, err)
	}
	if p, err := r.Pending(ctx, "a1", "d0", 0, 0); err != nil || len(p.Messages) != 1 {
		t.Fatalf("Pending in a full Redis = %d messages, %v", len(p.Messages), err)
	}
	if n, err := r.Remove(ctx, "a1", "d0", "m0"); err != nil || n != 1 {
		t.Fatalf("Remove in a full Redis = %d, %v", n, err)
	}
}
