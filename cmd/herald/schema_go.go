package main

import (
	"fmt"
	"io"

	"github.com/heraldpush/herald/schemas/gogen"
	"github.com/heraldpush/herald/settings"
)

// schemaGoUsage is the synopsis of `herald schema go`.
const schemaGoUsage = "herald schema go [--schemas DIR] [--package NAME] [--out FILE]"

// runSchemaGo serves `herald schema go`: it writes the Go types of the
// built-in message types, plus those of an app's schema directory, for a
// backend that sends them with clients/go/sender. The translation is package
// gogen's; this is its flags and files.
func runSchemaGo(args []string, stdout, stderr io.Writer) error {
	flags := settings.NewFlags("schema go", stderr)
	dir := flags.String("schemas", "", "a directory of app message types (<type>.json) to include beside the built-in ones, as serve's --schemas-dir")
	pkg := flags.String("package", "msgtypes", "the Go package name of the generated file")
	out := flags.String("out", "", "write the Go file to this path instead of stdout, making its directory if missing")
	flags.Usage = func() {
		fmt.Fprintf(stderr, "usage: %s\n  writes Go types of the message types, generated from their JSON Schemas\n", schemaGoUsage)
		flags.PrintDefaults()
	}
	if err := settings.Parse(flags, args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return settings.Usagef("unexpected arguments %q: want %s", flags.Args(), schemaGoUsage)
	}
	types, err := loadSchemaTypes(*dir, *out, "types.gen.go")
	if err != nil {
		return err
	}
	src, err := gogen.Generate(*pkg, types.List())
	if err != nil {
		return settings.Usagef("%v", err)
	}
	return writeGenerated(stdout, *out, src)
}
