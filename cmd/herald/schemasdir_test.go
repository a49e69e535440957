package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// remoteKey is an app-defined type that only devices may send.
const remoteKey = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "required": ["key"],
  "properties": {"key": {"type": "string"}},
  "x-herald": {"directions": ["device_to_device"], "description": "A key press on a remote."}
}`

func TestSchemasDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "remote.key.v1.json"), []byte(remoteKey), 0o644); err != nil {
		t.Fatal(err)
	}
	dev := mustDev(t, "--schemas-dir", dir)
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	tests := []struct {
		name    string
		typ     string
		payload string
		code    int
		out     string // in stdout for 0, in stderr otherwise
	}{
		{name: "built-in type", typ: "notification.v1", payload: `{"title":"Hi"}`, code: 0, out: `"queued"`},
		{name: "app-defined type is loaded", typ: "remote.key.v1", payload: `{"key":"up"}`, code: 1, out: "forbidden"},
		{name: "unknown type", typ: "remote.mouse.v1", payload: `{}`, code: 1, out: "unknown_type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, ctx, "send", "--url", dev.base, "--account", "a1", "--device", "tv9", "--type", tt.typ, "--payload", tt.payload)
			out := r.stdout
			if tt.code != 0 {
				out = r.stderr
			}
			if r.code != tt.code || !strings.Contains(out, tt.out) {
				t.Errorf("exit code %d, want %d with %q\nstdout: %s\nstderr: %s", r.code, tt.code, tt.out, r.stdout, r.stderr)
			}
		})
	}
}

func TestSchemasDirErrors(t *testing.T) {
	clash := t.TempDir()
	if err := os.WriteFile(filepath.Join(clash, "notification.v1.json"), []byte(remoteKey), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		dir    string
		code   int
		stderr []string
	}{
		{name: "missing directory", dir: filepath.Join(t.TempDir(), "none"), code: 2, stderr: []string{"--schemas-dir", "not a directory"}},
		{name: "type defined twice", dir: clash, code: 1, stderr: []string{"notification.v1", "defined by"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, context.Background(), "dev", "--addr", "127.0.0.1:0", "--schemas-dir", tt.dir)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\nstderr: %s", r.code, tt.code, r.stderr)
			}
			for _, s := range tt.stderr {
				if !strings.Contains(r.stderr, s) {
					t.Errorf("stderr does not mention %q:\n%s", s, r.stderr)
				}
			}
		})
	}
}
