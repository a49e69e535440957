package main

import (
	"context"
	"strings"
	"testing"
)

// TestFlagErrorHint checks that a bad flag is answered with its error and a hint to
// run -h, not with the command's usage, and that -h still prints the usage.
func TestFlagErrorHint(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		code  int
		lines []string // stderr, line by line; nil when usage is wanted
		usage []string // in stderr when the usage is printed
	}{
		{
			name: "unknown flag", args: []string{"token", "--colour"}, code: 2,
			lines: []string{"herald token: flag provided but not defined: -colour", "run 'herald token -h' for the flags"},
		},
		{
			name: "bad value", args: []string{"token", "--ttl", "soon"}, code: 2,
			lines: []string{`herald token: invalid value "soon" for flag -ttl: parse error`, "run 'herald token -h' for the flags"},
		},
		{
			name: "missing value", args: []string{"send", "--account"}, code: 2,
			lines: []string{"herald send: flag needs an argument: -account", "run 'herald send -h' for the flags"},
		},
		{
			name: "a subcommand", args: []string{"schema", "ts", "--schema-dir", "x"}, code: 2,
			lines: []string{"herald schema: flag provided but not defined: -schema-dir", "run 'herald schema ts -h' for the flags"},
		},
		{
			name: "apikey new", args: []string{"apikey", "new", "--nme", "n"}, code: 2,
			lines: []string{"herald apikey: flag provided but not defined: -nme", "run 'herald apikey new -h' for the flags"},
		},
		{name: "-h prints the default usage", args: []string{"token", "-h"}, code: 0, usage: []string{"Usage of herald token:", "-account", "-device"}},
		{name: "--help prints the default usage", args: []string{"status", "--help"}, code: 0, usage: []string{"Usage of herald status:", "-url", "-json"}},
		{name: "-h prints a command's own usage", args: []string{"schema", "ts", "-h"}, code: 0, usage: []string{"usage: herald schema ts", "-schemas", "-out"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, context.Background(), tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\nstderr: %s", r.code, tt.code, r.stderr)
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q, want nothing", r.stdout)
			}
			if tt.lines != nil {
				if want := strings.Join(tt.lines, "\n") + "\n"; r.stderr != want {
					t.Errorf("stderr:\n%s\nwant:\n%s", r.stderr, want)
				}
			}
			for _, s := range tt.usage {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not mention %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}
