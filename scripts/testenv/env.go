package testenv

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"
)

// PostgresEnv names the environment variable holding the connection string of a
// Postgres server whose role may create and drop databases.
const PostgresEnv = "HERALD_TEST_POSTGRES_URL"

// RedisEnv names the environment variable holding the host:port of a Redis server
// (6.0 or newer, for the client-side caching rueidis uses).
const RedisEnv = "HERALD_TEST_REDIS_ADDR"

// callTimeout bounds every call to Postgres or Redis, so that a server that has
// gone away fails the test instead of hanging it until the go test timeout.
const callTimeout = 10 * time.Second

// unavailable ends the calling test because the service named by env cannot be
// used: a failure under CI=true, where a skip would hide that nothing was tested,
// and a skip elsewhere, so `go test` works without services.
func unavailable(tb testing.TB, env, reason string) {
	tb.Helper()
	const hint = "run `make test`, which starts private servers, or set %s to a server of your own (see docs/testing.md)"
	if os.Getenv("CI") == "true" {
		tb.Fatalf("testenv: %s: %s; "+hint, env, reason, env)
	}
	tb.Skipf("testenv: %s: %s; "+hint, env, reason, env)
}

// randomSuffix returns 8 random hex digits that keep the names of concurrent
// tests, and of repeated runs of one test, apart.
func randomSuffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error.
	return hex.EncodeToString(b[:])
}
