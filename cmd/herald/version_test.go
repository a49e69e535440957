package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestVersionText(t *testing.T) {
	tests := []struct {
		name string
		info *debug.BuildInfo
		want string
	}{
		{
			name: "a release build from a checkout",
			info: &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: "github.com/heraldpush/herald", Version: "v1.2.3"},
				Settings: []debug.BuildSetting{{Key: "-race", Value: "false"}, {Key: "vcs", Value: "git"},
					{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
					{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"}, {Key: "vcs.modified", Value: "true"}}},
			want: "herald v1.2.3\n  revision 0123456789abcdef0123456789abcdef01234567\n  time     2026-01-02T03:04:05Z\n" +
				"  modified true\n  go       go1.26.1\n",
		},
		{
			name: "go run: no VCS settings",
			info: &debug.BuildInfo{GoVersion: "go1.26.1", Main: debug.Module{Path: "github.com/heraldpush/herald", Version: "(devel)"}},
			want: "herald (devel)\n  go       go1.26.1\n",
		},
		{
			name: "no build information",
			want: "herald (unknown)\n  go       " + runtime.Version() + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := versionText(tt.info); got != tt.want {
				t.Errorf("versionText:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

func TestVersionCommand(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "version", args: []string{"version"}, code: 0, stdout: []string{"herald ", "  go       go1."}},
		{name: "--version", args: []string{"--version"}, code: 0, stdout: []string{"herald ", "  go       go1."}},
		{name: "-version", args: []string{"-version"}, code: 0, stdout: []string{"herald ", "  go       go1."}},
		{name: "help", args: []string{"version", "-h"}, code: 0, stderr: []string{"usage: herald version"}},
		{name: "an argument", args: []string{"--version", "extra"}, code: 2, stderr: []string{"herald version:", "unexpected arguments"}},
		{name: "in the usage", args: []string{"help"}, code: 0, stdout: []string{"herald version", "herald --version"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, context.Background(), tt.args...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, s := range tt.stdout {
				if !strings.Contains(r.stdout, s) {
					t.Errorf("stdout does not mention %q:\n%s", s, r.stdout)
				}
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not mention %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}
