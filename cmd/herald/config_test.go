package main

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/edge"
)

// A valid configuration of `herald serve` for the tests that vary one setting.
const (
	testSecret = "a-production-secret-of-at-least-32-bytes"
	testAPIKey = "backend:a-backend-secret"
)

// mustConfigFile writes a configuration file named name with content into a
// temporary directory and returns its path.
func mustConfigFile(tb testing.TB, name, content string) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
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

func TestConfigPrecedence(t *testing.T) {
	file := mustConfigFile(t, "herald.yaml", "drain-window: 45s\nmax-connections: 1000\n")
	kafkaFile := mustConfigFile(t, "kafka.yaml", "kafka-heartbeat-interval: 1s\n")
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
		{name: "policy backoff default", setting: "policy-backoff", want: "5s", wantFrom: "default"},
		{name: "policy backoff max default", setting: "policy-backoff-max", want: "5m0s", wantFrom: "default"},
		{name: "policy backoff devices default", setting: "policy-backoff-devices", want: "100000", wantFrom: "default"},
		{name: "policy backoff from the environment", env: map[string]string{"HERALD_POLICY_BACKOFF": "30s"}, setting: "policy-backoff", want: "30s", wantFrom: "env HERALD_POLICY_BACKOFF"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			args := append([]string{"config", "print", "--token-secret", testSecret, "--api-keys", testAPIKey}, tt.args...)
			r := runCmd(t, context.Background(), args...)
			if r.code != 0 {
				t.Fatalf("exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
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
			file := mustConfigFile(t, tt.name, tt.content)
			r := runCmd(t, context.Background(), "config", "print", "--config", file)
			if r.code != 0 {
				t.Fatalf("exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
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
// `herald serve` with exit code 2 and a message that names the setting and says
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
		{name: "negative policy backoff", args: []string{"--policy-backoff", "-1s"}, stderr: []string{"--policy-backoff", "at least 0"}},
		{name: "policy backoff max under the backoff", args: []string{"--policy-backoff", "10m"}, stderr: []string{"--policy-backoff-max (5m0s) must not be shorter than --policy-backoff (10m0s)"}},
		{name: "no room for a device in backoff", env: map[string]string{"HERALD_POLICY_BACKOFF_DEVICES": "0"}, stderr: []string{"--policy-backoff-devices must be at least 1", "--policy-backoff=0"}},
		{name: "short kafka rebalance timeout", args: []string{"--kafka-rebalance-timeout", "500ms"}, stderr: []string{"--kafka-rebalance-timeout must be at least 1s, got 500ms"}},
		{name: "kafka heartbeat not below the session timeout", args: []string{"--kafka-session-timeout", "6s", "--kafka-heartbeat-interval", "6s"}, stderr: []string{"--kafka-heartbeat-interval", "below --kafka-session-timeout (6s), got 6s"}},
		{name: "negative kafka heartbeat in the environment", env: map[string]string{"HERALD_KAFKA_HEARTBEAT_INTERVAL": "-1s"}, stderr: []string{"--kafka-heartbeat-interval", "got -1s"}},
		{name: "bad kafka rebalance timeout in the file", file: "kafka-rebalance-timeout: 20\n", stderr: []string{"FILE", "kafka-rebalance-timeout", "want a duration"}},
		{name: "zero ping interval", args: []string{"--ping-interval", "0s"}, stderr: []string{"--ping-interval must be positive"}},
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
			args := append([]string{"serve"}, valid...)
			path := ""
			if tt.file != "" {
				path = mustConfigFile(t, "herald.yaml", tt.file)
				args = append(args, "--config", path)
			}
			args = append(args, tt.args...)
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			for _, cmd := range []string{"serve", "config print"} {
				r := runCmd(t, ctx, append(strings.Fields(cmd), args[1:]...)...)
				if r.code != 2 {
					t.Errorf("%s: exit code %d, want 2\nstdout: %s\nstderr: %s", cmd, r.code, r.stdout, r.stderr)
				}
				for _, s := range tt.stderr {
					s = strings.ReplaceAll(s, "FILE", path)
					if !strings.Contains(r.stderr, s) {
						t.Errorf("%s: stderr does not mention %q:\n%s", cmd, s, r.stderr)
					}
				}
				if strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
					t.Errorf("%s: want a one-line message, got:\n%s", cmd, r.stderr)
				}
			}
		})
	}
}

// TestDevConfigFile checks that herald dev reads a config file too, and refuses
// the settings it does not have.
func TestDevConfigFile(t *testing.T) {
	ok := mustConfigFile(t, "dev.yaml", "drain-window: 1s\nmin-lifetime: 2m\nmax-lifetime: 3m\nrelease-memory-quiet: 0s\n")
	c, err := devConfig([]string{"--config", ok}, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.drainWindow.String() != "1s" || c.minLifetime.String() != "2m0s" {
		t.Errorf("dev config: drain window %v, min lifetime %v", c.drainWindow, c.minLifetime)
	}
	if c.releaseMemoryQuiet != 0 || c.edgeReleaseMemoryQuiet() >= 0 || c.releaseMemoryAfterConns != edge.DefaultReleaseMemoryAfterConns {
		t.Errorf("dev config: release memory after %d connections, quiet %v (edge: %v), want off", c.releaseMemoryAfterConns, c.releaseMemoryQuiet, c.edgeReleaseMemoryQuiet())
	}
	bad := mustConfigFile(t, "serve.yaml", "roles: [edge]\n")
	if _, err := devConfig([]string{"--config", bad}, &syncBuffer{}); err == nil || !strings.Contains(err.Error(), `unknown setting "roles" for herald dev`) {
		t.Errorf("dev with a serve-only setting: %v", err)
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
			args := []string{"config", "print", "--kafka-sasl-mechanism", "PLAIN", "--kafka-sasl-user", "u"}
			var file strings.Builder
			for name, v := range secrets {
				switch from {
				case "flag":
					args = append(args, "--"+name, v)
				case "env":
					t.Setenv(envName(name), v)
				case "file":
					file.WriteString(name + ": \"" + v + "\"\n")
				}
			}
			if from == "file" {
				args = append(args, "--config", mustConfigFile(t, "secrets.yaml", file.String()))
			}
			r := runCmd(t, context.Background(), args...)
			out := r.stdout + r.stderr
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
				if got := printed(t, r.stdout)[name]; got[0] != mask {
					t.Errorf("%s printed as %v", name, got)
				}
			}
		})
	}
}

// TestEdgeReleaseMemoryQuiet checks that --release-memory-quiet=0 reaches the
// edge as off, not as the edge's default.
func TestEdgeReleaseMemoryQuiet(t *testing.T) {
	for _, tt := range []struct {
		flag, want time.Duration
	}{{0, -1}, {time.Second, time.Second}, {edge.DefaultReleaseMemoryQuiet, edge.DefaultReleaseMemoryQuiet}} {
		c := serverConfig{releaseMemoryQuiet: tt.flag}
		if got := c.edgeReleaseMemoryQuiet(); got != tt.want {
			t.Errorf("--release-memory-quiet=%v: edge.Config.ReleaseMemoryQuiet = %v, want %v", tt.flag, got, tt.want)
		}
	}
}

// TestEdgePolicyBackoff checks that --policy-backoff=0 reaches the edge as off,
// not as the edge's default.
func TestEdgePolicyBackoff(t *testing.T) {
	for _, tt := range []struct {
		flag, want time.Duration
	}{{0, -1}, {time.Second, time.Second}, {edge.DefaultPolicyBackoff, edge.DefaultPolicyBackoff}} {
		c := serverConfig{policyBackoff: tt.flag}
		if got := c.edgePolicyBackoff(); got != tt.want {
			t.Errorf("--policy-backoff=%v: edge.Config.PolicyBackoff = %v, want %v", tt.flag, got, tt.want)
		}
	}
}

func TestMaskDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u:p%40ss@h:5432/db", "postgres://u:****@h:5432/db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?sslmode=disable&password=s3cret", "postgres://h/db?sslmode=disable&password=****"},
		{"host=h user=u password=s3cret dbname=db", "host=h user=u password=**** dbname=db"},
		{"host=h password='s 3 cret' dbname=db", "host=h password=**** dbname=db"},
		{"127.0.0.1:6379", "127.0.0.1:6379"},
		{"redis://:pw@h:6379/0", "redis://:****@h:6379/0"},
	}
	for _, tt := range tests {
		if got := maskDSN(tt.in); got != tt.want {
			t.Errorf("maskDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestServeBinaryInvalidConfig runs the real binary: an invalid configuration
// exits 2 before anything listens, with a message that names the setting.
func TestServeBinaryInvalidConfig(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	cmd := exec.Command(heraldBinary(t), "serve", "--token-secret", testSecret, "--api-keys", testAPIKey,
		"--min-lifetime", "10m", "--max-lifetime", "5m")
	cmd.Env = append(os.Environ(), "HERALD_CONFIG=")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("exit: %v, want code 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "--max-lifetime (5m0s) must not be shorter than --min-lifetime (10m0s)") {
		t.Errorf("output does not name the setting:\n%s", out)
	}
}
