package settings

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
)

// A valid configuration of `herald serve` besides testSecret, for the tests that
// vary one setting.
const testAPIKey = "backend:a-backend-secret"

// result is what a command of the settings of `herald serve` answers: what it
// printed and its error (exit code 2 when it is a UsageError).
type result struct {
	stdout string
	err    error
}

// configPrint does what `herald config print ARGS` does: it reads the settings
// of serve from args, the environment and the --config file, prints them and
// checks them.
func configPrint(tb testing.TB, args ...string) result {
	tb.Helper()
	var c Server
	fs := NewFlags("serve", io.Discard)
	c.Flags(fs, false)
	origins, err := ParseSources(fs, args)
	if err == nil {
		err = RequireArgs(fs, 0, 0)
	}
	if err != nil {
		return result{err: err}
	}
	var out strings.Builder
	if err := PrintConfig(&out, fs, origins); err != nil {
		tb.Fatal(err)
	}
	if err := c.Validate(false); err != nil {
		return result{stdout: out.String(), err: Usagef("the configuration is not valid for herald serve: %v", err)}
	}
	return result{stdout: out.String()}
}

// serve does what `herald serve ARGS` does before it starts anything: it reads
// the settings and checks them.
func serve(tb testing.TB, args ...string) result {
	tb.Helper()
	var c Server
	fs := NewFlags("serve", io.Discard)
	c.Flags(fs, false)
	err := Parse(fs, args)
	if err == nil {
		err = RequireArgs(fs, 0, 0)
	}
	if err == nil {
		err = c.Validate(false)
	}
	return result{err: err}
}

// printed parses the output of `herald config print` into setting -> value, source.
func printed(tb testing.TB, out string) map[string][2]string {
	tb.Helper()
	got := map[string][2]string{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 3 || f[0] == "SETTING" {
			continue
		}
		got[f[0]] = [2]string{f[1], strings.Join(f[2:], " ")}
	}
	return got
}

// TestConfigPrecedence checks where each setting comes from: a flag over the
// environment over the file over the default.
func TestConfigPrecedence(t *testing.T) {
	file := mustFile(t, "herald.yaml", "drain-window: 45s\nmax-connections: 1000\n")
	kafkaFile := mustFile(t, "kafka.yaml", "kafka-heartbeat-interval: 1s\n")
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		setting  string
		want     string
		wantFrom string
	}{
		{name: "default", setting: "drain-window", want: "30s", wantFrom: "default"},
		{name: "file over default", args: []string{"--config", file}, setting: "drain-window", want: "45s", wantFrom: "file " + file},
		{name: "file named by the environment", env: map[string]string{"HERALD_CONFIG": file}, setting: "drain-window", want: "45s", wantFrom: "file " + file},
		{name: "env over file", args: []string{"--config", file}, env: map[string]string{"HERALD_DRAIN_WINDOW": "20s"}, setting: "drain-window", want: "20s", wantFrom: "env HERALD_DRAIN_WINDOW"},
		{name: "flag over env and file", args: []string{"--config", file, "--drain-window", "5s"}, env: map[string]string{"HERALD_DRAIN_WINDOW": "20s"}, setting: "drain-window", want: "5s", wantFrom: "flag"},
		{name: "another key of the same file", args: []string{"--config", file, "--drain-window", "5s"}, setting: "max-connections", want: "1000", wantFrom: "file " + file},
		{name: "the config setting itself", args: []string{"--config", file}, setting: "config", want: file, wantFrom: "flag"},
		{name: "lifetime default", setting: "max-lifetime", want: "35m0s", wantFrom: "default"},
		{name: "grace default", setting: "reconnect-grace", want: "10s", wantFrom: "default"},
		{name: "memory release default", setting: "release-memory-after-conns", want: "1000", wantFrom: "default"},
		{name: "memory release quiet default", setting: "release-memory-quiet", want: "10s", wantFrom: "default"},
		{name: "kafka session timeout default", setting: "kafka-session-timeout", want: "10s", wantFrom: "default"},
		{name: "kafka rebalance timeout default", setting: "kafka-rebalance-timeout", want: "20s", wantFrom: "default"},
		{name: "kafka heartbeat interval default", setting: "kafka-heartbeat-interval", want: "0s", wantFrom: "default"},
		{name: "kafka rebalance timeout from the environment", env: map[string]string{"HERALD_KAFKA_REBALANCE_TIMEOUT": "30s"}, setting: "kafka-rebalance-timeout", want: "30s", wantFrom: "env HERALD_KAFKA_REBALANCE_TIMEOUT"},
		{name: "kafka heartbeat interval from the file", args: []string{"--config", kafkaFile}, setting: "kafka-heartbeat-interval", want: "1s", wantFrom: "file " + kafkaFile},
		{name: "kafka rebalance timeout from a flag", args: []string{"--kafka-rebalance-timeout", "5s"}, env: map[string]string{"HERALD_KAFKA_REBALANCE_TIMEOUT": "30s"}, setting: "kafka-rebalance-timeout", want: "5s", wantFrom: "flag"},
		{name: "memory release off from the environment", env: map[string]string{"HERALD_RELEASE_MEMORY_QUIET": "0s"}, setting: "release-memory-quiet", want: "0s", wantFrom: "env HERALD_RELEASE_MEMORY_QUIET"},
		{name: "processor fetch wait default", setting: "processor-fetch-wait", want: "0s", wantFrom: "default"},
		{name: "status fetch wait default", setting: "status-fetch-wait", want: "20ms", wantFrom: "default"},
		{name: "kafka produce linger default", setting: "kafka-produce-linger", want: "0s", wantFrom: "default"},
		{name: "processor fetch wait from the environment", env: map[string]string{"HERALD_PROCESSOR_FETCH_WAIT": "10ms"}, setting: "processor-fetch-wait", want: "10ms", wantFrom: "env HERALD_PROCESSOR_FETCH_WAIT"},
		{name: "status fetch wait off from a flag", args: []string{"--status-fetch-wait", "0"}, setting: "status-fetch-wait", want: "0s", wantFrom: "flag"},
		{name: "policy backoff default", setting: "policy-backoff", want: "5s", wantFrom: "default"},
		{name: "policy backoff max default", setting: "policy-backoff-max", want: "5m0s", wantFrom: "default"},
		{name: "policy backoff devices default", setting: "policy-backoff-devices", want: "100000", wantFrom: "default"},
		{name: "close linger default", setting: "close-linger", want: "250ms", wantFrom: "default"},
		{name: "close write timeout from a flag", args: []string{"--close-write-timeout", "2s"}, setting: "close-write-timeout", want: "2s", wantFrom: "flag"},
		{name: "policy backoff from the environment", env: map[string]string{"HERALD_POLICY_BACKOFF": "30s"}, setting: "policy-backoff", want: "30s", wantFrom: "env HERALD_POLICY_BACKOFF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"--token-secret", testSecret, "--api-keys", testAPIKey}, tt.args...)
			r := configPrint(t, args...)
			if r.err != nil {
				t.Fatalf("%v\nstdout: %s", r.err, r.stdout)
			}
			got, ok := printed(t, r.stdout)[tt.setting]
			if !ok {
				t.Fatalf("%s not printed:\n%s", tt.setting, r.stdout)
			}
			if got[0] != tt.want || got[1] != tt.wantFrom {
				t.Errorf("%s = %s from %s, want %s from %s", tt.setting, got[0], got[1], tt.want, tt.wantFrom)
			}
		})
	}
}

// TestConfigFileFormats reads the same settings from YAML and JSON, with lists.
func TestConfigFileFormats(t *testing.T) {
	for _, tt := range []struct{ name, content string }{
		{"herald.yaml", "token-secret:\n  - k1:" + testSecret + "\n  - k0:" + testSecret + "-old\napi-keys: " + testAPIKey + "\nroles: [edge, api]\nmin-lifetime: 1m\nmax-lifetime: 2m\nconnect-rate: 12.5\nkafka-create-topics: false\nrelease-memory-after-conns: 5000\nrelease-memory-quiet: 30s\n"},
		{"herald.json", `{"token-secret": ["k1:` + testSecret + `", "k0:` + testSecret + `-old"], "api-keys": "` + testAPIKey + `", "roles": ["edge", "api"],
			"min-lifetime": "1m", "max-lifetime": "2m", "connect-rate": 12.5, "kafka-create-topics": false,
			"release-memory-after-conns": 5000, "release-memory-quiet": "30s"}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			file := mustFile(t, tt.name, tt.content)
			r := configPrint(t, "--config", file)
			if r.err != nil {
				t.Fatalf("%v\nstdout: %s", r.err, r.stdout)
			}
			got := printed(t, r.stdout)
			for setting, want := range map[string]string{
				"token-secret": "k1:****,k0:****", "roles": "edge,api", "min-lifetime": "1m0s", "max-lifetime": "2m0s",
				"connect-rate": "12.5", "kafka-create-topics": "false", "api-keys": "backend:****",
				"release-memory-after-conns": "5000", "release-memory-quiet": "30s",
			} {
				if got[setting][0] != want || got[setting][1] != "file "+file {
					t.Errorf("%s = %v, want %s from the file", setting, got[setting], want)
				}
			}
		})
	}
}

// TestConfigErrors checks that a bad setting, wherever it comes from, stops
// `herald serve` (and `herald config print`) with a usage error (exit code 2) and a message that names the setting and says
// what is wrong.
func TestConfigErrors(t *testing.T) {
	valid := []string{"--token-secret", testSecret, "--api-keys", testAPIKey}
	tests := []struct {
		name   string
		file   string // content of herald.yaml, passed with --config
		args   []string
		env    map[string]string
		stderr []string // substrings of stderr; FILE stands for the file's path
	}{
		{name: "unknown key", file: "drain-windw: 10s\n", stderr: []string{`unknown setting "drain-windw"`, "FILE", "line 1", `did you mean "drain-window"`}},
		{name: "environment spelling as a key", file: "max-lifetime: 40m\nHERALD_DRAIN_WINDOW: 10s\n", stderr: []string{`"HERALD_DRAIN_WINDOW"`, "FILE", "line 2", `did you mean "drain-window"`}},
		{name: "unknown key overridden by nothing", file: "colour: blue\n", args: []string{"--drain-window", "1s"}, stderr: []string{`unknown setting "colour"`, "FILE"}},
		{name: "config inside the config", file: "config: other.yaml\n", stderr: []string{`"config" cannot be set in a config file`}},
		{name: "bad duration in the file", file: "min-lifetime: 10\n", stderr: []string{"FILE", "min-lifetime", `"10"`, "want a duration"}},
		{name: "bad number in the file", file: "max-connections: many\n", stderr: []string{"FILE", "max-connections", "whole number"}},
		{name: "list for a single value", file: "drain-window: [1s, 2s]\n", stderr: []string{"FILE", "drain-window takes one value, not a list"}},
		{name: "mapping value", file: "drain-window: {a: 1}\n", stderr: []string{"FILE", "drain-window must be a value or a list"}},
		{name: "empty value", file: "drain-window:\n", stderr: []string{"FILE", "drain-window has no value"}},
		{name: "set twice", file: "drain-window: 1s\ndrain-window: 2s\n", stderr: []string{"FILE"}},
		{name: "not a mapping", file: "- drain-window\n", stderr: []string{"FILE", "want a mapping"}},
		{name: "not YAML", file: "drain-window: [1s\n", stderr: []string{"FILE", "not valid YAML or JSON"}},
		{name: "missing file", args: []string{"--config", "/nonexistent/herald.yaml"}, stderr: []string{"--config", "/nonexistent/herald.yaml"}},
		{name: "bad duration in the environment", env: map[string]string{"HERALD_RECONNECT_GRACE": "soon"}, stderr: []string{"HERALD_RECONNECT_GRACE", "soon", "want a duration"}},
		{name: "lifetimes the wrong way round", args: []string{"--min-lifetime", "30m", "--max-lifetime", "20m"}, stderr: []string{"--max-lifetime (20m0s) must not be shorter than --min-lifetime (30m0s)"}},
		{name: "lifetimes from the file the wrong way round", file: "min-lifetime: 30m\nmax-lifetime: 20m\n", stderr: []string{"--max-lifetime", "--min-lifetime"}},
		{name: "zero lifetime", args: []string{"--min-lifetime", "0s"}, stderr: []string{"--min-lifetime must be positive"}},
		{name: "zero grace", args: []string{"--reconnect-grace", "0s"}, stderr: []string{"--reconnect-grace must be positive"}},
		{name: "negative drain window", args: []string{"--drain-window", "-1s"}, stderr: []string{"--drain-window must not be negative"}},
		{name: "zero shutdown grace", env: map[string]string{"HERALD_SHUTDOWN_GRACE": "0s"}, stderr: []string{"--shutdown-grace must be positive"}},
		{name: "negative max connections", args: []string{"--max-connections", "-1"}, stderr: []string{"--max-connections must be a number of at least 0, got -1"}},
		{name: "negative connect rate", args: []string{"--connect-rate", "-5"}, stderr: []string{"--connect-rate", "at least 0"}},
		{name: "connect rate not a number", args: []string{"--connect-rate", "NaN"}, stderr: []string{"--connect-rate", "at least 0"}},
		{name: "negative connect burst", file: "connect-burst: -3\n", stderr: []string{"--connect-burst", "at least 0"}},
		{name: "negative out rate", args: []string{"--max-out-rate", "-1"}, stderr: []string{"--max-out-rate", "at least 0"}},
		{name: "negative out burst", args: []string{"--max-out-burst", "-1"}, stderr: []string{"--max-out-burst", "at least 0"}},
		{name: "negative memory release quiet", args: []string{"--release-memory-quiet", "-1s"}, stderr: []string{"--release-memory-quiet must not be negative"}},
		{name: "no connections make a burst", file: "release-memory-after-conns: 0\n", stderr: []string{"--release-memory-after-conns must be at least 1", "--release-memory-quiet=0"}},
		{name: "bad memory release quiet in the file", file: "release-memory-quiet: 10\n", stderr: []string{"FILE", "release-memory-quiet", "want a duration"}},
		{name: "no close linger", args: []string{"--close-linger", "0s"}, stderr: []string{"--close-linger must be positive"}},
		{name: "negative close write timeout", env: map[string]string{"HERALD_CLOSE_WRITE_TIMEOUT": "-1s"}, stderr: []string{"--close-write-timeout must be positive"}},
		{name: "negative policy backoff", args: []string{"--policy-backoff", "-1s"}, stderr: []string{"--policy-backoff", "at least 0"}},
		{name: "policy backoff max under the backoff", args: []string{"--policy-backoff", "10m"}, stderr: []string{"--policy-backoff-max (5m0s) must not be shorter than --policy-backoff (10m0s)"}},
		{name: "inbox page as large as the send queue", args: []string{"--send-queue", "8", "--inbox-page", "8"}, stderr: []string{"--inbox-page (8) must be below --send-queue (8)"}},
		{name: "send queue of one", args: []string{"--send-queue", "1"}, stderr: []string{"--inbox-page (0) must be below --send-queue (1), of at least 2"}},
		{name: "negative inbox max messages", args: []string{"--inbox-max-messages", "-1"}, stderr: []string{"--inbox-max-messages", "at least 0"}},
		{name: "no room for a device in backoff", env: map[string]string{"HERALD_POLICY_BACKOFF_DEVICES": "0"}, stderr: []string{"--policy-backoff-devices must be at least 1", "--policy-backoff=0"}},
		{name: "short kafka rebalance timeout", args: []string{"--kafka-rebalance-timeout", "500ms"}, stderr: []string{"--kafka-rebalance-timeout must be at least 1s, got 500ms"}},
		{name: "kafka heartbeat not below the session timeout", args: []string{"--kafka-session-timeout", "6s", "--kafka-heartbeat-interval", "6s"}, stderr: []string{"--kafka-heartbeat-interval", "below --kafka-session-timeout (6s), got 6s"}},
		{name: "negative kafka heartbeat in the environment", env: map[string]string{"HERALD_KAFKA_HEARTBEAT_INTERVAL": "-1s"}, stderr: []string{"--kafka-heartbeat-interval", "got -1s"}},
		{name: "bad kafka rebalance timeout in the file", file: "kafka-rebalance-timeout: 20\n", stderr: []string{"FILE", "kafka-rebalance-timeout", "want a duration"}},
		{name: "zero publish timeout", args: []string{"--publish-timeout", "0s"}, stderr: []string{"--publish-timeout", "must be positive"}},
		{name: "processor fetch wait below franz-go's least", args: []string{"--processor-fetch-wait", "5ms"}, stderr: []string{"--processor-fetch-wait must be 0 (off) or between 10ms and 1s, got 5ms"}},
		{name: "status fetch wait too long in the file", file: "status-fetch-wait: 2s\n", stderr: []string{"--status-fetch-wait must be 0 (off) or between 10ms and 1s, got 2s"}},
		{name: "negative produce linger in the environment", env: map[string]string{"HERALD_KAFKA_PRODUCE_LINGER": "-1ms"}, stderr: []string{"--kafka-produce-linger must be between 0 and 100ms, got -1ms"}},
		{name: "no records a poll", args: []string{"--processor-max-poll-records", "0"}, stderr: []string{"--processor-max-poll-records and --processor-max-attempts must be at least 1, got 0 and 3"}},
		{name: "no attempts in the file", file: "processor-max-attempts: 0\n", stderr: []string{"must be at least 1, got 2000 and 0"}},
		{name: "zero delivery timeout", args: []string{"--processor-delivery-timeout", "0s"}, stderr: []string{"--processor-delivery-timeout and --processor-retry-backoff must be positive, got 0s and 200ms"}},
		{name: "negative retry backoff", env: map[string]string{"HERALD_PROCESSOR_RETRY_BACKOFF": "-1ms"}, stderr: []string{"must be positive, got 10s and -1ms"}},
		{name: "zero ping interval", args: []string{"--ping-interval", "0s"}, stderr: []string{"--ping-interval must be positive"}},
		{name: "max push timeout under the push timeout", args: []string{"--push-timeout", "5s", "--max-push-timeout", "4s"}, stderr: []string{"--max-push-timeout (4s) must not be shorter than --push-timeout (5s)"}},
		{name: "zero lookup timeout", args: []string{"--lookup-timeout", "0s"}, stderr: []string{"--lookup-timeout must be positive"}},
		{name: "idempotency ttl under a millisecond", args: []string{"--idempotency-ttl", "999us"}, stderr: []string{"--idempotency-ttl must be at least 1ms, got 999µs"}},
		{name: "no messages in a batch", args: []string{"--max-batch", "0"}, stderr: []string{"--max-batch must be at least 1, got 0"}},
		{name: "no targets in the file", file: "max-targets: 0\n", stderr: []string{"--max-targets must be at least 1, got 0"}},
		{name: "topic ttl under four heartbeats", args: []string{"--heartbeat-interval", "5s", "--topic-ttl", "19s"}, stderr: []string{"--topic-ttl (19s) must be at least four times --heartbeat-interval (5s)"}},
		{name: "no link send queue", args: []string{"--link-send-queue", "0"}, stderr: []string{"--link-send-queue must be at least 1, got 0"}},
		{name: "zero link dial timeout", args: []string{"--link-dial-timeout", "0s"}, stderr: []string{"--link-dial-timeout must be positive"}},
		{name: "negative link pong timeout in the environment", env: map[string]string{"HERALD_LINK_PONG_TIMEOUT": "-1s"}, stderr: []string{"--link-pong-timeout must be positive"}},
		{name: "link backoffs the wrong way round", args: []string{"--link-min-backoff", "2s", "--link-max-backoff", "1s"}, stderr: []string{"--link-max-backoff (1s) must not be shorter than --link-min-backoff (2s)"}},
		{name: "no rate hits", args: []string{"--max-rate-hits", "0"}, stderr: []string{"--max-rate-hits must be at least 1, got 0"}},
		{name: "no messages in flight", args: []string{"--max-inflight", "0"}, stderr: []string{"--max-inflight must be at least 1, got 0"}},
		{name: "no message targets in the file", file: "max-msg-targets: 0\n", stderr: []string{"--max-msg-targets must be at least 1, got 0"}},
		{name: "zero device message ack timeout", args: []string{"--msg-ack-timeout", "0s"}, stderr: []string{"--msg-ack-timeout must be positive"}},
		{name: "negative link queue", args: []string{"--link-queue", "-1"}, stderr: []string{"--link-queue must be at least 1, got -1"}},
		{name: "no link deliveries", env: map[string]string{"HERALD_LINK_INFLIGHT": "0"}, stderr: []string{"--link-inflight must be at least 1, got 0"}},
		{name: "no device cache", args: []string{"--device-cache", "0"}, stderr: []string{"--device-cache must be at least 1, got 0"}},
		{name: "negative registry timeout", args: []string{"--registry-timeout", "-1s"}, stderr: []string{"--registry-timeout must be positive"}},
		{name: "negative key concurrency in the environment", env: map[string]string{"HERALD_KEY_CONCURRENCY": "-1"}, stderr: []string{"--key-concurrency must be at least 1, got -1"}},
		{name: "short token secret", args: []string{"--token-secret", "short"}, stderr: []string{"--token-secret", "32"}},
		{name: "schemas dir missing", args: []string{"--schemas-dir", "/nonexistent/schemas"}, stderr: []string{"--schemas-dir", "not a directory"}},
		{name: "redis credentials without a scheme", args: []string{"--redis-addr", ":pw@127.0.0.1:6379"}, stderr: []string{"--redis-addr", "redis address 1", "must be a URL"}},
		{name: "redis URL that does not parse", env: map[string]string{"HERALD_REDIS_ADDR": "127.0.0.1:6379,redis://:pw@h:port"}, stderr: []string{"--redis-addr", "redis address 2", "not a valid URL"}},
		{name: "redis URLs that differ", file: "redis-addr: [\"redis://h1:6379/1\", \"redis://h2:6379/2\"]\n", stderr: []string{"--redis-addr", "redis address 2", "database differs from address 1's"}},
		{name: "redis password twice", args: []string{"--redis-addr", "redis://:pw@h:6379", "--redis-password", "pw2"}, stderr: []string{"--redis-password", "in one place"}},
		{name: "redis CA without rediss", args: []string{"--redis-addr", "redis://h:6379", "--redis-tls-ca", "/nonexistent/ca.pem"}, stderr: []string{"--redis-tls-ca needs rediss:// addresses"}},
		{name: "redis CA missing", args: []string{"--redis-addr", "rediss://h:6379", "--redis-tls-ca", "/nonexistent/ca.pem"}, stderr: []string{"--redis-tls-ca", "/nonexistent/ca.pem"}},
		{name: "redis password without redis", env: map[string]string{"HERALD_REDIS_PASSWORD": "pw"}, stderr: []string{"--redis-password and --redis-tls-ca need --redis-addr"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{}, valid...)
			path := ""
			if tt.file != "" {
				path = mustFile(t, "herald.yaml", tt.file)
				args = append(args, "--config", path)
			}
			args = append(args, tt.args...)
			for cmd, r := range map[string]result{"serve": serve(t, args...), "config print": configPrint(t, args...)} {
				var ue UsageError
				if !errors.As(r.err, &ue) {
					t.Fatalf("%s: %v, want a usage error (exit code 2)\nstdout: %s", cmd, r.err, r.stdout)
				}
				stderr := r.err.Error()
				for _, s := range tt.stderr {
					s = strings.ReplaceAll(s, "FILE", path)
					if !strings.Contains(stderr, s) {
						t.Errorf("%s: the error does not mention %q:\n%s", cmd, s, stderr)
					}
				}
				if strings.Count(strings.TrimSpace(stderr), "\n") > 0 {
					t.Errorf("%s: want a one-line message, got:\n%s", cmd, stderr)
				}
			}
		})
	}
}

// TestConfigPrintMasksSecrets gives every secret through a flag, the environment
// and the file in turn, and checks that none appears in the output of `herald
// config print`, while what identifies each entry does.
func TestConfigPrintMasksSecrets(t *testing.T) {
	const (
		tokenSecret = "token-secret-value-0123456789abcdef"
		apiSecret   = "api-secret-value-42"
		clusterKey  = "cluster-key-value-0123"
		saslPass    = "sasl-password-value"
		pgPass      = "pg-password-value"
		redisPass   = "redis-password-value"
		redisApart  = "redis-password-apart-value"
	)
	secrets := map[string]string{
		"token-secret":        "k1:" + tokenSecret + "," + tokenSecret + "-2",
		"api-keys":            "backend:" + apiSecret,
		"cluster-key":         clusterKey,
		"kafka-sasl-password": saslPass,
		"postgres-url":        "postgres://herald:" + pgPass + "@db.internal:5432/herald?sslmode=require",
		"redis-addr":          "redis://:" + redisPass + "@127.0.0.1:6379",
		"redis-password":      redisApart,
	}
	wantShown := []string{"k1:****", "backend:****", "postgres://herald:****@db.internal:5432/herald", "redis://:****@127.0.0.1:6379", "db.internal"}
	for _, from := range []string{"flag", "env", "file"} {
		t.Run(from, func(t *testing.T) {
			args := []string{"--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "u"}
			var file strings.Builder
			for name, v := range secrets {
				switch from {
				case "flag":
					args = append(args, "--"+name, v)
				case "env":
					t.Setenv(EnvName(name), v)
				case "file":
					file.WriteString(name + ": \"" + v + "\"\n")
				}
			}
			if from == "file" {
				args = append(args, "--config", mustFile(t, "secrets.yaml", file.String()))
			}
			r := configPrint(t, args...)
			out := r.stdout + fmt.Sprint(r.err)
			for _, s := range []string{tokenSecret, apiSecret, clusterKey, saslPass, pgPass, redisPass, redisApart} {
				if strings.Contains(out, s) {
					t.Errorf("the output shows the secret %q:\n%s", s, out)
				}
			}
			for _, s := range wantShown {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("the output does not show %q:\n%s", s, r.stdout)
				}
			}
			for _, name := range []string{"kafka-sasl-password", "redis-password"} {
				if got := printed(t, r.stdout)[name]; got[0] != Mask {
					t.Errorf("%s printed as %v", name, got)
				}
			}
		})
	}
}

// TestTokenKeySettings checks the device-token settings: each key source alone
// or together, and what is refused.
func TestTokenKeySettings(t *testing.T) {
	_, pemFile := mustRSAPEM(t)
	jwks := mustFile(t, "jwks.json", `{"keys":[{"kty":"oct","kid":"j1","k":"`+base64.RawURLEncoding.EncodeToString([]byte(testSecret))+`"}]}`)
	badJWKS := mustFile(t, "bad.json", `{"keys":[{"kty":"EC","kid":"x"}]}`)
	tests := []struct {
		name   string
		args   []string
		stderr []string // empty: the configuration is valid
	}{
		{"rsa key only", []string{"--token-rsa-key", "r1:" + pemFile}, nil},
		{"jwks only", []string{"--token-jwks", jwks, "--token-skew", "5s"}, nil},
		{"every source", []string{"--token-secret", "h1:" + testSecret, "--token-rsa-key", "r1:" + pemFile, "--token-jwks", jwks}, nil},
		{"no key", nil, []string{"--token-secret", "--token-rsa-key", "--token-jwks", "required"}},
		{"zero skew", []string{"--token-secret", testSecret, "--token-skew", "0s"}, []string{"--token-skew", "out of range"}},
		{"skew too large", []string{"--token-secret", testSecret, "--token-skew", "1h"}, []string{"--token-skew", "5m0s"}},
		{"missing rsa file", []string{"--token-rsa-key", "r1:/nonexistent/rs.pem"}, []string{"--token-rsa-key", "/nonexistent/rs.pem"}},
		{"rsa file not pem", []string{"--token-rsa-key", jwks}, []string{"--token-rsa-key", jwks}},
		{"bad jwks", []string{"--token-jwks", badJWKS}, []string{"--token-jwks", "kty", badJWKS}},
		{"missing jwks", []string{"--token-jwks", "/nonexistent/jwks.json"}, []string{"--token-jwks", "/nonexistent/jwks.json"}},
		{"duplicate kid", []string{"--token-secret", "j1:" + testSecret, "--token-jwks", jwks}, []string{`"j1"`, "twice"}},
		{"zero jwks check", []string{"--token-jwks", jwks, "--token-jwks-check", "0s"}, []string{"--token-jwks-check"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--roles", "edge"}, tt.args...)
			r := configPrint(t, args...)
			if tt.stderr == nil {
				if r.err != nil {
					t.Fatalf("%v", r.err)
				}
				return
			}
			var ue UsageError
			if !errors.As(r.err, &ue) {
				t.Fatalf("%v, want a usage error (exit code 2)\nstdout: %s", r.err, r.stdout)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.err.Error(), s) {
					t.Errorf("the error does not mention %q:\n%s", s, r.err)
				}
			}
		})
	}
}

// TestTokenKeysFromFile reads the device-token settings from a config file.
func TestTokenKeysFromFile(t *testing.T) {
	_, pemFile := mustRSAPEM(t)
	file := mustFile(t, "herald.yaml", "roles: [edge]\ntoken-rsa-key:\n  - r1:"+pemFile+"\ntoken-skew: 10s\n")
	r := configPrint(t, "--config", file)
	if r.err != nil {
		t.Fatalf("%v", r.err)
	}
	got := printed(t, r.stdout)
	for setting, want := range map[string]string{"token-rsa-key": "r1:" + pemFile, "token-skew": "10s"} {
		if got[setting][0] != want || got[setting][1] != "file "+file {
			t.Errorf("%s = %v, want %s from the file", setting, got[setting], want)
		}
	}
}
