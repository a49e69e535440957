package testenv

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// Redis returns the address of the Redis server named by [RedisEnv] and a key
// prefix private to the calling test. Tests share one server, so they must put
// the prefix in front of every key they use; keys with the prefix are deleted in
// tb.Cleanup. When the variable is unset or the server unreachable, the test is
// skipped, or fails when CI is "true".
func Redis(tb testing.TB) (addr, prefix string) {
	tb.Helper()
	addr = os.Getenv(RedisEnv)
	if addr == "" {
		unavailable(tb, RedisEnv, "not set")
	}
	admin, err := newClient(addr, true)
	if err != nil {
		unavailable(tb, RedisEnv, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	if err := admin.Do(ctx, admin.B().Ping().Build()).Error(); err != nil {
		admin.Close()
		unavailable(tb, RedisEnv, err.Error())
	}

	prefix = "t:" + randomSuffix() + ":"
	tb.Cleanup(func() {
		defer admin.Close()
		if err := deletePrefix(admin, prefix); err != nil {
			tb.Errorf("testenv: delete keys %s*: %v", prefix, err)
		}
	})
	return addr, prefix
}

// RedisClient returns a rueidis client, with client-side caching enabled, to the
// server [Redis] returns, and the test's key prefix. The client is closed in
// tb.Cleanup before the prefixed keys are deleted.
func RedisClient(tb testing.TB) (rueidis.Client, string) {
	tb.Helper()
	addr, prefix := Redis(tb)
	client, err := newClient(addr, false)
	if err != nil {
		tb.Fatalf("testenv: connect to redis %s: %v", addr, err)
	}
	tb.Cleanup(client.Close)
	return client, prefix
}

// newClient connects to addr with a bounded dial, so an unreachable server is
// reported within callTimeout.
func newClient(addr string, disableCache bool) (rueidis.Client, error) {
	return rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{addr},
		DisableCache: disableCache,
		Dialer:       net.Dialer{Timeout: 5 * time.Second},
	})
}

// deletePrefix deletes every key that starts with prefix. SCAN may return a key
// twice; DEL of a missing key is harmless.
func deletePrefix(client rueidis.Client, prefix string) error {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	var cursor uint64
	for {
		entry, err := client.Do(ctx, client.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		if err != nil {
			return err
		}
		if len(entry.Elements) > 0 {
			if err := client.Do(ctx, client.B().Del().Key(entry.Elements...).Build()).Error(); err != nil {
				return err
			}
		}
		if entry.Cursor == 0 {
			return nil
		}
		cursor = entry.Cursor
	}
}
