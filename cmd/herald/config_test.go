package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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

// TestDevConfigFile checks that herald dev reads a config file too, and refuses
// the settings it does not have.
func TestDevConfigFile(t *testing.T) {
	ok := mustConfigFile(t, "dev.yaml", "drain-window: 1s\nmin-lifetime: 2m\nmax-lifetime: 3m\nrelease-memory-quiet: 0s\n")
	c, err := devConfig([]string{"--config", ok}, &syncBuffer{})
	if err != nil {
		t.Fatal(err)
	}
	if c.DrainWindow.String() != "1s" || c.MinLifetime.String() != "2m0s" {
		t.Errorf("dev config: drain window %v, min lifetime %v", c.DrainWindow, c.MinLifetime)
	}
	if c.ReleaseMemoryQuiet != 0 || c.EdgeReleaseMemoryQuiet() >= 0 || c.ReleaseMemoryAfterConns != edge.DefaultReleaseMemoryAfterConns {
		t.Errorf("dev config: release memory after %d connections, quiet %v (edge: %v), want off", c.ReleaseMemoryAfterConns, c.ReleaseMemoryQuiet, c.EdgeReleaseMemoryQuiet())
	}
	bad := mustConfigFile(t, "serve.yaml", "roles: [edge]\n")
	if _, err := devConfig([]string{"--config", bad}, &syncBuffer{}); err == nil || !strings.Contains(err.Error(), `unknown setting "roles" for herald dev`) {
		t.Errorf("dev with a serve-only setting: %v", err)
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

// TestConfigCommands checks the commands around the settings (their checks are
// settings' tests): config print prints every setting with its source and exits
// 0, and a bad setting, wherever it comes from, stops serve and config print
// with exit code 2 and a one-line message that names it.
func TestConfigCommands(t *testing.T) {
	file := mustConfigFile(t, "herald.yaml", "drain-window: 45s\n")
	valid := []string{"--token-secret", testSecret, "--api-keys", testAPIKey}
	t.Run("print", func(t *testing.T) {
		r := runCmd(t, context.Background(), append([]string{"config", "print", "--config", file}, valid...)...)
		if r.code != 0 {
			t.Fatalf("exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
		for _, line := range []string{`drain-window\s+45s\s+file ` + regexp.QuoteMeta(file), `token-secret\s+\*\*\*\*\s+flag`, `max-lifetime\s+35m0s\s+default`} {
			if !regexp.MustCompile(`(?m)^` + line + `$`).MatchString(r.stdout) {
				t.Errorf("stdout has no line %s:\n%s", line, r.stdout)
			}
		}
	})
	for _, tt := range []struct {
		name   string
		args   []string
		env    map[string]string
		stderr string
	}{
		{name: "file", args: []string{"--config", mustConfigFile(t, "bad.yaml", "drain-windw: 10s\n")}, stderr: `unknown setting "drain-windw"`},
		{name: "environment", env: map[string]string{"HERALD_RECONNECT_GRACE": "soon"}, stderr: "HERALD_RECONNECT_GRACE"},
		{name: "check", args: []string{"--min-lifetime", "30m", "--max-lifetime", "20m"}, stderr: "--max-lifetime (20m0s) must not be shorter than --min-lifetime (30m0s)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			for _, cmd := range [][]string{{"serve"}, {"config", "print"}} {
				r := runCmd(t, ctx, append(append(cmd, valid...), tt.args...)...)
				if r.code != 2 {
					t.Errorf("%s: exit code %d, want 2\nstdout: %s\nstderr: %s", cmd[0], r.code, r.stdout, r.stderr)
				}
				if !strings.HasPrefix(r.stderr, "herald "+cmd[0]+": ") || !strings.Contains(r.stderr, tt.stderr) || strings.Count(strings.TrimSpace(r.stderr), "\n") > 0 {
					t.Errorf("%s: stderr %q, want one line herald %s: ... %s", cmd[0], r.stderr, cmd[0], tt.stderr)
				}
			}
		})
	}
}
