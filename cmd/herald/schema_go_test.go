package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSchemaGo(t *testing.T) {
	appDir := t.TempDir()
	mustWrite(t, filepath.Join(appDir, "shop.order.v1.json"), `{"type":"object","additionalProperties":false,"required":["id"],
		"properties":{"id":{"type":"string"},"state":{"enum":["open","paid"]}},"x-herald":{"directions":["service_to_device"],"description":"An order changed."}}`)
	outFile := filepath.Join(t.TempDir(), "gen", "types.gen.go")
	for _, tt := range []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{name: "built-in types to stdout", code: 0, stdout: []string{"DO NOT EDIT", "package msgtypes", "type NotificationV1 struct {", `func (PlaybackControlV1) HeraldType() string { return "playback.control.v1" }`}},
		{name: "with an app directory and a package", args: []string{"--schemas", appDir, "--package", "shop"}, code: 0, stdout: []string{"package shop", "type ShopOrderV1 struct {", "ShopOrderV1StatePaid ShopOrderV1State = \"paid\""}},
		{name: "to a file", args: []string{"--out", outFile}, code: 0},
		{name: "a bad package name", args: []string{"--package", "my-types"}, code: 2, stderr: []string{"not a Go package name"}},
		{name: "a missing directory", args: []string{"--schemas", filepath.Join(appDir, "none")}, code: 2, stderr: []string{"not a directory"}},
		{name: "arguments", args: []string{"extra"}, code: 2, stderr: []string{"unexpected arguments"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, context.Background(), append([]string{"schema", "go"}, tt.args...)...)
			if r.code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout: %s\nstderr: %s", r.code, tt.code, r.stdout, r.stderr)
			}
			for _, w := range tt.stdout {
				if !strings.Contains(r.stdout, w) {
					t.Errorf("stdout lacks %q:\n%s", w, r.stdout)
				}
			}
			for _, w := range tt.stderr {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
				}
			}
		})
	}
	if b, err := os.ReadFile(outFile); err != nil || !strings.Contains(string(b), "package msgtypes") {
		t.Fatalf("--out wrote %q, %v", b, err)
	}
}
