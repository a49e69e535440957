package main

import (
	"fmt"
	"io"
	"os"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/schemas"
	"github.com/heraldpush/herald/schemas/tsgen"
	"github.com/heraldpush/herald/settings"
)

// schemaTSUsage is the synopsis of `herald schema ts`.
const schemaTSUsage = "herald schema ts [--schemas DIR] [--out FILE]"

// runSchemaTS serves `herald schema ts`: it writes the TypeScript types of the
// built-in message types, plus those of an app's schema directory, so that a web app
// that sends a payload of the wrong shape fails to compile instead of failing at the
// server. The translation is package tsgen's; this is its flags and files.
func runSchemaTS(args []string, stdout, stderr io.Writer) error {
	flags := settings.NewFlags("schema ts", stderr)
	dir := flags.String("schemas", "", "a directory of app message types (<type>.json) to include beside the built-in ones, as serve's --schemas-dir")
	out := flags.String("out", "", "write the TypeScript module to this file instead of stdout, making its directory if missing")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n  writes TypeScript types of the message types, generated from their JSON Schemas\n", schemaTSUsage)
		flags.PrintDefaults()
	}
	if err := settings.Parse(flags, args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return settings.Usagef("unexpected arguments %q: want %s", flags.Args(), schemaTSUsage)
	}
	types, err := loadSchemaTypes(*dir, *out, "types.gen.ts")
	if err != nil {
		return err
	}
	return writeGenerated(stdout, *out, tsgen.Generate(types.List()))
}

// loadSchemaTypes loads the built-in message types and those of dir, an
// app's schema directory ("" for none), for a generator writing to out ("":
// stdout), which must not be a directory (example names the file wanted).
func loadSchemaTypes(dir, out, example string) (*protocol.Types, error) {
	if dir != "" {
		if st, err := os.Stat(dir); err != nil || !st.IsDir() {
			return nil, settings.Usagef("--schemas %q is not a directory", dir)
		}
	}
	if out != "" {
		if st, err := os.Stat(out); err == nil && st.IsDir() {
			return nil, settings.Usagef("--out %q is a directory; want a file such as %s", out, example)
		}
	}
	return schemas.Load(dir)
}

// writeGenerated writes src to stdout, or to the file out.
func writeGenerated(stdout io.Writer, out string, src []byte) error {
	if out == "" {
		_, err := stdout.Write(src)
		return err
	}
	return schemas.WriteGenerated(out, src)
}
