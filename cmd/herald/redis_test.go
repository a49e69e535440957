package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/heraldpush/herald/settings"
)

// redisPassword is the requirepass of the private Redis servers of the tests
// here.
const redisPassword = "serve-test-redis-password"

// TestServeRedisAuthAndTLS runs an edge and an API process of `herald serve` on
// a Redis with a password and on one over TLS, given each way an operator can:
// the password in a redis:// URL, in HERALD_REDIS_PASSWORD beside a plain
// address, and a rediss:// URL with --redis-tls-ca. A push through the API
// process reaches a device on the edge, which takes the registry in Redis; no
// log line shows the password.
func TestServeRedisAuthAndTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	pg := testenv.Postgres(t)
	withPassword := testenv.StartRedisWith(t, testenv.RedisOptions{Password: redisPassword})
	overTLS := testenv.StartRedisWith(t, testenv.RedisOptions{Password: redisPassword, TLS: true})
	for _, tt := range []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"password in the URL", []string{"--redis-addr", withPassword.URL()}, nil},
		{"password in the environment", []string{"--redis-addr", withPassword.Addr}, map[string]string{"HERALD_REDIS_PASSWORD": redisPassword}},
		{"TLS with a CA file", []string{"--redis-addr", overTLS.URL(), "--redis-tls-ca", overTLS.CAFile}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v) // inherited by the processes
			}
			prefix := "auth-" + strings.ReplaceAll(tt.name, " ", "-") + ":"
			common := append([]string{"--postgres-url", pg, "--redis-prefix", prefix, "--cluster-key", clusterKey, "--internal-addr", "127.0.0.1:0"}, tt.args...)
			edge := startProc(t, "edge", append([]string{"--roles=edge", "--edge-id", "edge-1", "--token-secret", clusterSecret}, common...)...)
			api := startProc(t, "api", append([]string{"--roles=api", "--api-keys", clusterAPIKey}, common...)...)
			dialDevice(t, edge.addr, "a1", "tv1")
			eventuallyStatus(t, api.addr, "a1", "tv1", protocol.StatusDelivered, 10*time.Second)
			for _, p := range []*proc{edge, api} {
				if logs := p.Logs(); strings.Contains(logs, redisPassword) {
					t.Errorf("the log of %s shows the Redis password:\n%s", p.Name, logs)
				}
			}
		})
	}
}

// TestServeStartupHidesSecrets starts `herald serve` (and `herald dev`) with
// every secret it takes, given on the command line and in the environment,
// and a Redis or Postgres that it cannot use: a wrong password, no password, an
// unreachable server, an untrusted certificate, a malformed address, settings
// that contradict each other. Each start fails with a message that says why,
// and nothing it prints holds a secret.
func TestServeStartupHidesSecrets(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	const (
		wrongPassword   = "wrong-redis-password-value"
		pgPassword      = "postgres-password-value"
		tokenSecret     = "startup-token-secret-of-32-bytes-or-more"
		apiSecret       = "startup-api-secret-value"
		clusterKeyValue = "startup-cluster-key-value"
		regionKeyValue  = "startup-region-key-value"
		shortRegionKey  = "short-rkey"
	)
	secrets := []string{redisPassword, wrongPassword, pgPassword, tokenSecret, apiSecret, clusterKeyValue, regionKeyValue, shortRegionKey, settings.DevRegionKey}
	bin := heraldBinary(t)
	pg := testenv.Postgres(t)
	withPassword := testenv.StartRedisWith(t, testenv.RedisOptions{Password: redisPassword})
	overTLS := testenv.StartRedisWith(t, testenv.RedisOptions{Password: redisPassword, TLS: true})
	unreachable := testenv.FreeAddr(t)
	unreachablePG := "postgres://herald:" + pgPassword + "@" + testenv.FreeAddr(t) + "/herald?connect_timeout=5"
	secretArgs := []string{"--token-secret", "k1:" + tokenSecret, "--api-keys", "backend:" + apiSecret, "--cluster-key", clusterKeyValue, "--region", "eu"}
	for _, tt := range []struct {
		name     string
		command  string   // serve or dev
		args     []string // besides the secrets
		env      []string
		wantCode int
		want     string // a part of the output
	}{
		{"wrong password", "serve", []string{"--postgres-url", pg, "--redis-addr", "redis://:" + wrongPassword + "@" + withPassword.Addr}, nil, 1, "WRONGPASS"},
		{"wrong password in the environment", "serve", []string{"--postgres-url", pg, "--redis-addr", withPassword.Addr}, []string{"HERALD_REDIS_PASSWORD=" + wrongPassword}, 1, "WRONGPASS"},
		{"wrong user", "serve", []string{"--postgres-url", pg, "--redis-addr", "redis://nobody:" + redisPassword + "@" + withPassword.Addr}, nil, 1, "WRONGPASS"},
		{"no password", "serve", []string{"--postgres-url", pg, "--redis-addr", withPassword.Addr}, nil, 1, "NOAUTH"},
		{"unreachable redis", "serve", []string{"--postgres-url", pg, "--redis-addr", "redis://herald:" + redisPassword + "@" + unreachable + "/2"}, nil, 1, "connection refused"},
		{"untrusted certificate", "serve", []string{"--postgres-url", pg, "--redis-addr", "rediss://:" + redisPassword + "@" + overTLS.Addr}, nil, 1, "certificate signed by unknown authority"},
		{"plain to a TLS redis", "serve", []string{"--postgres-url", pg, "--redis-addr", "redis://:" + redisPassword + "@" + overTLS.Addr}, nil, 1, "use rediss://"},
		{"credentials without a scheme", "serve", []string{"--postgres-url", pg, "--redis-addr", ":" + redisPassword + "@" + withPassword.Addr}, nil, 2, "must be a URL"},
		{"malformed URL", "serve", []string{"--postgres-url", pg}, []string{"HERALD_REDIS_ADDR=redis://:" + redisPassword + "@h:port"}, 2, "not a valid URL"},
		{"malformed database", "serve", []string{"--postgres-url", pg, "--redis-addr", "redis://:" + redisPassword + "@h:6379/" + redisPassword}, nil, 2, "database number"},
		{"password in two places", "serve", []string{"--postgres-url", pg, "--redis-addr", "redis://:" + redisPassword + "@h:6379", "--redis-password", wrongPassword}, nil, 2, "in one place"},
		{"unreachable postgres", "serve", []string{"--postgres-url", unreachablePG, "--redis-addr", withPassword.URL()}, nil, 1, "device list"},
		{"unreachable redis, in a region", "serve", []string{"--postgres-url", pg, "--redis-addr", unreachable, "--region-key", regionKeyValue, "--gateway", "--region-peers", "us=127.0.0.1:1"}, nil, 1, "connection refused"},
		{"short region key", "serve", []string{"--postgres-url", pg, "--redis-addr", withPassword.URL(), "--region-key", shortRegionKey, "--gateway"}, nil, 2, "16 characters"},
		{"the dev region key", "serve", []string{"--postgres-url", pg, "--redis-addr", withPassword.URL(), "--region-key", regionKeyValue + "," + settings.DevRegionKey, "--gateway"}, nil, 2, "public development key"},
		{"dev with a wrong password", "dev", []string{"--redis-addr", "redis://:" + wrongPassword + "@" + withPassword.Addr}, nil, 1, "WRONGPASS"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{tt.command, "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--log-level", "debug"}
			if tt.command == "serve" {
				args = append(args, append([]string{"--internal-addr", "127.0.0.1:0"}, secretArgs...)...)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, append(args, tt.args...)...)
			cmd.Env = append(os.Environ(), tt.env...)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != tt.wantCode {
				t.Fatalf("exit: %v, want code %d\n%s", err, tt.wantCode, out)
			}
			if !strings.Contains(string(out), tt.want) {
				t.Errorf("the output does not say %q:\n%s", tt.want, out)
			}
			for _, s := range secrets {
				if strings.Contains(string(out), s) {
					t.Errorf("the output shows the secret %q:\n%s", s, out)
				}
			}
		})
	}
}
