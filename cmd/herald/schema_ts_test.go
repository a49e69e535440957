package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldpush/herald/schemas"
)

func TestSchemaTS(t *testing.T) {
	appDir := t.TempDir()
	mustWrite(t, filepath.Join(appDir, "shop.order.v1.json"), `{"type":"object","additionalProperties":false,"required":["id"],
		"properties":{"id":{"type":"string"}},"x-herald":{"directions":["service_to_device"],"description":"An order changed."}}`)
	mustWrite(t, filepath.Join(appDir, "README.md"), "not a schema")
	brokenDir := t.TempDir()
	mustWrite(t, filepath.Join(brokenDir, "shop.broken.v1.json"), `{"type":5,"x-herald":{"directions":["service_to_device"],"description":"d"}}`)
	dupDir := t.TempDir()
	builtin, err := schemas.FS.ReadFile("notification.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite(t, filepath.Join(dupDir, "notification.v1.json"), string(builtin))
	notJSONDir := t.TempDir()
	mustWrite(t, filepath.Join(notJSONDir, "shop.order.v1.json"), `{"type":`)
	aFile := mustFile(t, "file.txt", []byte("x"))
	outFile := filepath.Join(t.TempDir(), "types.gen.ts")
	newDirFile := filepath.Join(t.TempDir(), "src", "generated", "types.gen.ts")

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "built-in types to stdout", code: 0, stdout: []string{"DO NOT EDIT", "'playback.control.v1': PlaybackControlV1;", "export type NotificationV1 = {"}},
		{name: "with an app directory", args: []string{"--schemas", appDir}, code: 0, stdout: []string{"'shop.order.v1': ShopOrderV1;", "'notification.v1'"}},
		{name: "to a file", args: []string{"--out", outFile}, code: 0},
		{name: "help", args: []string{"-h"}, code: 0, stderr: []string{"schema ts", "-schemas", "-out"}},
		{name: "a missing directory", args: []string{"--schemas", filepath.Join(appDir, "none")}, code: 2, stderr: []string{"--schemas", "not a directory"}},
		{name: "a file as the directory", args: []string{"--schemas", aFile}, code: 2, stderr: []string{"--schemas", "not a directory"}},
		{name: "a bad schema file", args: []string{"--schemas", brokenDir}, code: 1, stderr: []string{"shop.broken.v1.json", "invalid schema"}},
		{name: "a schema that is not JSON", args: []string{"--schemas", notJSONDir}, code: 1, stderr: []string{"shop.order.v1.json", "not a JSON object"}},
		{name: "an app type that redefines a built-in one", args: []string{"--schemas", dupDir}, code: 1, stderr: []string{"notification.v1", "source 1 and source 2"}},
		{name: "a directory as --out", args: []string{"--out", appDir}, code: 2, stderr: []string{"--out", "is a directory"}},
		{name: "--out in a missing directory", args: []string{"--out", newDirFile}, code: 0},
		{name: "--out below a file", args: []string{"--out", filepath.Join(aFile, "x.ts")}, code: 1, stderr: []string{"writing", "x.ts"}},
		{name: "a positional argument", args: []string{"extra"}, code: 2, stderr: []string{"unexpected arguments", "schema ts [--schemas DIR] [--out FILE]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, context.Background(), append([]string{"schema", "ts"}, tt.args...)...)
			if r.code != tt.code {
				t.Errorf("exit code %d, want %d\nstdout: %.500s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
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
			if tt.code != 0 && r.stdout != "" {
				t.Errorf("a failed run wrote to stdout:\n%.500s", r.stdout)
			}
		})
	}

	t.Run("the file is what stdout shows", func(t *testing.T) {
		got, err := os.ReadFile(outFile)
		if err != nil {
			t.Fatal(err)
		}
		r := runCmd(t, context.Background(), "schema", "ts")
		if string(got) != r.stdout {
			t.Errorf("--out wrote something else than stdout shows")
		}
		entries, err := os.ReadDir(filepath.Dir(outFile))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			t.Errorf("the output directory holds %d files, want only types.gen.ts", len(entries))
		}
	})

	t.Run("--out makes its directory", func(t *testing.T) {
		got, err := os.ReadFile(newDirFile)
		if err != nil {
			t.Fatal(err)
		}
		if r := runCmd(t, context.Background(), "schema", "ts"); string(got) != r.stdout {
			t.Errorf("--out wrote something else than stdout shows")
		}
		st, err := os.Stat(filepath.Dir(newDirFile))
		if err != nil {
			t.Fatal(err)
		}
		if perm := st.Mode().Perm(); perm&^0o755 != 0 {
			t.Errorf("the made directory has mode %v, want at most 0755", perm)
		}
	})
}

// mustWrite writes content to the file at path.
func mustWrite(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}
