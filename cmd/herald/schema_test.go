package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldpush/herald/schemas"
)

// mustFile writes content to a file called name in a fresh temporary directory and
// returns its path.
func mustFile(tb testing.TB, name string, content []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

func TestSchemaCheck(t *testing.T) {
	good, err := schemas.FS.ReadFile("notification.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	goodFile := mustFile(t, "notification.v1.json", good)
	payloadFile := mustFile(t, "sample.json", []byte(`{"title":"From a file"}`))
	noPolicy := mustFile(t, "broken.v1.json", []byte(`{"type":"object"}`))
	badKeyword := mustFile(t, "broken.v1.json", []byte(`{"type":5,"x-herald":{"directions":["service_to_device"],"description":"d"}}`))
	notJSON := mustFile(t, "broken.v1.json", []byte(`{"type":`))
	badPolicy := mustFile(t, "broken.v1.json", []byte(`{"type":"object","x-herald":{"directions":["sideways"],"description":"d"}}`))
	badName := mustFile(t, "Notification.json", good)

	tests := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "good schema", args: []string{goodFile}, code: 0, stdout: []string{"type notification.v1 is valid", "service_to_device"}},
		{name: "good payload inline", args: []string{goodFile, `{"title":"Hi"}`}, code: 0, stdout: []string{"payload is valid"}},
		{name: "good payload from a file", args: []string{goodFile, payloadFile}, code: 0, stdout: []string{"payload is valid"}},
		{name: "payload with a wrong-typed field", args: []string{goodFile, `{"title":5}`}, code: 1, stdout: []string{"/title:"}, stderr: []string{"payload is invalid", "/title"}},
		{name: "payload with an unknown field", args: []string{goodFile, `{"title":"Hi","colour":"red"}`}, code: 1, stdout: []string{"colour"}, stderr: []string{"payload is invalid"}},
		{name: "payload that is not JSON", args: []string{goodFile, `{"title":`}, code: 1, stderr: []string{"payload is invalid", "not valid JSON"}},
		{name: "missing payload file", args: []string{goodFile, filepath.Join(t.TempDir(), "none.json")}, code: 1, stderr: []string{"none.json"}},
		{name: "schema without x-herald", args: []string{noPolicy}, code: 1, stderr: []string{"broken.v1", `"x-herald"`}},
		{name: "schema with a bad keyword", args: []string{badKeyword}, code: 1, stderr: []string{"broken.v1", "invalid schema"}},
		{name: "schema that is not JSON", args: []string{notJSON}, code: 1, stderr: []string{"broken.v1", "not a JSON object"}},
		{name: "schema with a bad policy", args: []string{badPolicy}, code: 1, stderr: []string{"x-herald", "sideways"}},
		{name: "file not named after a type", args: []string{badName}, code: 1, stderr: []string{"Notification", "invalid name"}},
		{name: "missing schema file", args: []string{filepath.Join(t.TempDir(), "none.v1.json")}, code: 1, stderr: []string{"none.v1.json"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, context.Background(), append([]string{"schema", "check"}, tt.args...)...)
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
