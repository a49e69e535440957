package registry

import (
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
)

// TestRedisConnectErrors connects to real servers with wrong or missing
// credentials and TLS settings: each fails with ErrUnavailable and a message
// that says why, and no message shows a password, the right one or the wrong.
func TestRedisConnectErrors(t *testing.T) {
	const wrong = "wrong-redis-password-value"
	withPassword := testenv.StartRedisWith(t, testenv.RedisOptions{Password: redisTestPassword})
	overTLS := testenv.StartRedisWith(t, testenv.RedisOptions{TLS: true, Password: redisTestPassword})
	host := func(s *testenv.RedisServer) string { return s.Addr }
	// rueidis leaves a cluster refresh behind a client that failed to
	// connect, which ends within a second or so: wait for it, so that
	// TestMain's leak check reports only real leaks.
	baseline := runtime.NumGoroutine()
	defer func() {
		for deadline := time.Now().Add(10 * time.Second); runtime.NumGoroutine() > baseline; {
			if time.Now().After(deadline) {
				t.Errorf("%d goroutines, %d before the failed connections", runtime.NumGoroutine(), baseline)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	for _, tt := range []struct {
		name string
		cfg  RedisConfig
		want string // a part of the error
	}{
		{"wrong password", RedisConfig{Addrs: []string{"redis://:" + wrong + "@" + host(withPassword)}}, "WRONGPASS"},
		{"wrong password apart from the address", RedisConfig{Addrs: []string{host(withPassword)}, Password: wrong}, "WRONGPASS"},
		{"wrong user", RedisConfig{Addrs: []string{"redis://nobody:" + redisTestPassword + "@" + host(withPassword)}}, "WRONGPASS"},
		{"no password", RedisConfig{Addrs: []string{host(withPassword)}}, "NOAUTH"},
		{"wrong password over TLS", RedisConfig{Addrs: []string{"rediss://:" + wrong + "@" + host(overTLS)}, TLS: mustCA(t, overTLS.CAFile)}, "WRONGPASS"},
		{"untrusted certificate", RedisConfig{Addrs: []string{"rediss://:" + redisTestPassword + "@" + host(overTLS)}}, "certificate"},
		{"TLS to a plain server", RedisConfig{Addrs: []string{"rediss://:" + redisTestPassword + "@" + host(withPassword)}}, "a server without TLS never answers"},
		{"plain to a TLS server", RedisConfig{Addrs: []string{"redis://:" + redisTestPassword + "@" + host(overTLS)}}, "use rediss://"},
		{"unreachable", RedisConfig{Addrs: []string{"redis://:" + redisTestPassword + "@" + testenv.FreeAddr(t)}}, "connection refused"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			r, err := NewRedis(tt.cfg)
			if err == nil {
				r.Close()
				t.Fatal("NewRedis succeeded")
			}
			t.Logf("%v (after %v)", err, time.Since(start).Round(time.Millisecond))
			if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("NewRedis: %v, want ErrUnavailable and %q", err, tt.want)
			}
			for _, secret := range []string{redisTestPassword, wrong} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("the error shows a password: %v", err)
				}
			}
			if took := time.Since(start); took > 10*time.Second {
				t.Errorf("NewRedis took %v to fail", took)
			}
		})
	}
}
