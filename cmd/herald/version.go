package main

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/heraldpush/herald/settings"
)

// runVersion serves `herald version` (and `herald --version`): which build this
// is, from the build information the Go toolchain records in every binary, so that
// a bug report can name the exact commit.
func runVersion(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := settings.NewFlags("version", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: herald version\n  the module version, VCS revision, commit time and Go version of this binary")
	}
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return settings.Usagef("unexpected arguments %q: want herald version", fs.Args())
	}
	info, _ := debug.ReadBuildInfo() // nil in a binary without build information
	_, err := io.WriteString(stdout, versionText(info))
	return err
}

// versionText describes a build: the main module's version on the first line,
// then the VCS revision, commit time and uncommitted changes when the build
// recorded them (`go build` inside a checkout does; `go run` and `go test` do not),
// and the Go version. info may be nil when the binary carries no build information.
func versionText(info *debug.BuildInfo) string {
	version, goVersion := "", runtime.Version()
	settings := map[string]string{}
	if info != nil {
		version = info.Main.Version
		if info.GoVersion != "" {
			goVersion = info.GoVersion
		}
		for _, s := range info.Settings {
			settings[s.Key] = s.Value
		}
	}
	if version == "" {
		version = "(unknown)"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "herald %s\n", version)
	for _, f := range []struct{ label, key string }{
		{"revision", "vcs.revision"},
		{"time", "vcs.time"},
		{"modified", "vcs.modified"},
	} {
		if v := settings[f.key]; v != "" {
			fmt.Fprintf(&b, "  %-9s%s\n", f.label, v)
		}
	}
	fmt.Fprintf(&b, "  %-9s%s\n", "go", goVersion)
	return b.String()
}
