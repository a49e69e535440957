package main

import (
	"context"
	"strings"
	"testing"

	"github.com/heraldpush/herald/settings"
)

func TestRunUsage(t *testing.T) {
	const secret = "a-production-secret-of-at-least-32-bytes"
	tests := []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		stderr     []string // substrings of stderr
		notStderr  []string // never in stderr
		stdoutHave string
	}{
		{name: "no command", args: nil, code: 2, stderr: []string{"usage:"}},
		{name: "unknown command", args: []string{"bogus"}, code: 2, stderr: []string{`unknown command "bogus"`, "usage:"}},
		{name: "help", args: []string{"help"}, code: 0, stdoutHave: "usage:"},
		{name: "command help", args: []string{"serve", "-h"}, code: 0, stderr: []string{"-token-secret", "-release-memory-after-conns", "-release-memory-quiet", "-kafka-session-timeout", "-kafka-rebalance-timeout", "-kafka-heartbeat-interval"}},
		{name: "dev help", args: []string{"dev", "-h"}, code: 0, stderr: []string{"-drain-window", "-release-memory-after-conns", "-release-memory-quiet"}},
		{name: "unknown flag", args: []string{"token", "--colour"}, code: 2, stderr: []string{"colour"}},
		{name: "serve without a token secret", args: []string{"serve", "--api-keys", "b:secret-key"}, code: 2, stderr: []string{"--token-secret", "HERALD_TOKEN_SECRET"}},
		{name: "serve with the dev secret", args: []string{"serve", "--token-secret", settings.DevTokenSecret, "--api-keys", "b:secret-key"}, code: 2, stderr: []string{"development secret"}},
		{name: "serve without API keys", args: []string{"serve", "--token-secret", secret}, code: 2, stderr: []string{"--api-keys"}},
		{name: "serve with an unknown role", args: []string{"serve", "--roles=edge,bogus", "--token-secret", secret}, code: 2, stderr: []string{`unknown role "bogus"`}},
		{name: "serve with the mirror role without a source", args: []string{"serve", "--roles=mirror", "--kafka-brokers", "127.0.0.1:1"}, code: 2, stderr: []string{"--mirror-source-brokers", "HERALD_MIRROR_SOURCE_BROKERS", "mirror role"}},
		{
			name: "serve with the mirror role and a source alias that is no region", code: 2, stderr: []string{"--mirror-source-alias", `"US-East"`, "region name"},
			args: []string{"serve", "--roles=mirror", "--kafka-brokers", "127.0.0.1:1", "--mirror-source-brokers", "127.0.0.1:2", "--mirror-source-alias", "US-East"},
		},
		{name: "serve help names the mirror flags", args: []string{"serve", "-h"}, code: 0, stderr: []string{"-mirror-source-brokers", "-mirror-source-alias", "-mirror-topics", "-mirror-group", "-status-mirrors", "-consume-mirrored"}},
		{name: "serve with an unknown log format", args: []string{"serve", "--log-format=xml", "--token-secret", secret, "--api-keys", "b:secret-key"}, code: 2, stderr: []string{"--log-format", "xml"}},
		{name: "serve with a bad address", args: []string{"serve", "--addr", "nowhere", "--token-secret", secret, "--api-keys", "b:secret-key"}, code: 2, stderr: []string{"--addr", "nowhere"}},
		{
			name: "serve with a short API key", args: []string{"serve", "--token-secret", secret, "--api-keys", "backend:tiny"}, code: 2,
			stderr: []string{"--api-keys", "backend:"}, notStderr: []string{"tiny"},
		},
		{name: "serve with a positional argument", args: []string{"serve", "--token-secret", secret, "--api-keys", "b:secret-key", "extra"}, code: 2, stderr: []string{"arguments"}},
		{
			name: "bad duration in the environment", args: []string{"serve", "--token-secret", secret, "--api-keys", "b:secret-key"},
			env: map[string]string{"HERALD_SHUTDOWN_GRACE": "soon"}, code: 2, stderr: []string{"HERALD_SHUTDOWN_GRACE", "soon"},
		},
		{
			name: "bad send timeout in the environment", args: []string{"send", "--account", "a1", "--type", "notification.v1", "--payload", "{}"},
			env: map[string]string{"HERALD_TIMEOUT": "2 fortnights"}, code: 2, stderr: []string{"HERALD_TIMEOUT", "2 fortnights"},
		},
		{
			name: "unknown role from the environment", args: []string{"serve", "--token-secret", secret},
			env: map[string]string{"HERALD_ROLES": "edge,bogus"}, code: 2, stderr: []string{`unknown role "bogus"`},
		},
		{name: "token without --account", args: []string{"token", "--device", "tv1"}, code: 2, stderr: []string{"--account"}},
		{name: "token without --device", args: []string{"token", "--account", "a1"}, code: 2, stderr: []string{"--device"}},
		{name: "token with a short secret", args: []string{"token", "--account", "a1", "--device", "tv1", "--token-secret", "short"}, code: 2, stderr: []string{"32"}},
		{name: "send without --type", args: []string{"send", "--account", "a1", "--payload", "{}"}, code: 2, stderr: []string{"--type"}},
		{name: "send with a payload that is not JSON", args: []string{"send", "--account", "a1", "--type", "notification.v1", "--payload", "{title"}, code: 2, stderr: []string{"--payload"}},
		{name: "listen without a token or device", args: []string{"listen", "--account", "a1"}, code: 2, stderr: []string{"--device"}},
		{name: "schema without check", args: []string{"schema", "lint", "x.v1.json"}, code: 2, stderr: []string{"check FILE"}},
		{name: "schema without a file", args: []string{"schema", "check"}, code: 2, stderr: []string{"check FILE"}},
		{name: "schema usage names ts", args: []string{"schema"}, code: 2, stderr: []string{"check FILE", "schema ts [--schemas DIR] [--out FILE]"}},
		{name: "schema ts with an argument", args: []string{"schema", "ts", "extra"}, code: 2, stderr: []string{"unexpected arguments"}},
		{name: "schema ts with an unknown flag", args: []string{"schema", "ts", "--schema-dir", "x"}, code: 2, stderr: []string{"schema-dir"}},
		{name: "schema ts with a missing directory", args: []string{"schema", "ts", "--schemas", "/nonexistent/herald-schemas"}, code: 2, stderr: []string{"--schemas", "not a directory"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitBound)
			defer cancel()
			r := runCmd(t, ctx, tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not mention %q:\n%s", s, r.stderr)
				}
			}
			for _, s := range tt.notStderr {
				if strings.Contains(r.stderr, s) {
					t.Errorf("stderr shows %q:\n%s", s, r.stderr)
				}
			}
			if tt.stdoutHave != "" && !strings.Contains(r.stdout, tt.stdoutHave) {
				t.Errorf("stdout does not mention %q:\n%s", tt.stdoutHave, r.stdout)
			}
		})
	}
}
