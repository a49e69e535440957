package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// runSchema serves `herald schema check FILE [PAYLOAD]`, which compiles a type's
// schema file (named <type>.json) and, given a payload (a file, or inline JSON),
// validates it, `herald schema ts`, which generates TypeScript types (see
// runSchemaTS), and `herald schema go`, Go types (runSchemaGo).
func runSchema(_ context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "ts" {
		return runSchemaTS(args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "go" {
		return runSchemaGo(args[1:], stdout, stderr)
	}
	fs := settings.NewFlags("schema", stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: herald schema check FILE [PAYLOAD]\n  FILE is <type>.json; PAYLOAD is a file or inline JSON")
		fmt.Fprintf(stderr, "   or: %s\n  TypeScript types of the built-in and app message types (see herald schema ts -h)\n", schemaTSUsage)
		fmt.Fprintf(stderr, "   or: %s\n  Go types of the built-in and app message types (see herald schema go -h)\n", schemaGoUsage)
	}
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if fs.NArg() < 2 || fs.Arg(0) != "check" || fs.NArg() > 3 {
		fs.Usage()
		return settings.Usagef("want: check FILE [PAYLOAD], ts [--schemas DIR] [--out FILE], or go [--schemas DIR] [--package NAME] [--out FILE]")
	}
	file := fs.Arg(1)
	doc, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	name := strings.TrimSuffix(filepath.Base(file), ".json")
	t, err := protocol.ParseType(name, doc)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	fmt.Fprintf(stdout, "%s: type %s is valid (%s; directions %v, priority %s, ttl %ds, max %d bytes, ack %v)\n",
		file, t.Name, t.Policy.Description, t.Policy.Directions, t.Policy.Priority, t.Policy.TTL, t.Policy.MaxBytes, t.Policy.Ack)
	if fs.NArg() < 3 {
		return nil
	}
	payload := []byte(fs.Arg(2))
	if trimmed := strings.TrimSpace(fs.Arg(2)); !strings.HasPrefix(trimmed, "{") && !strings.HasPrefix(trimmed, "[") {
		if payload, err = os.ReadFile(fs.Arg(2)); err != nil {
			return err
		}
	}
	if err := t.Validate(payload); err != nil {
		var ve *protocol.ValidationError
		if errors.As(err, &ve) {
			for _, d := range ve.Details {
				ptr := d.Pointer
				if ptr == "" {
					ptr = "(root)"
				}
				fmt.Fprintf(stdout, "  %s: %s\n", ptr, d.Message)
			}
		}
		return fmt.Errorf("payload is invalid: %w", err)
	}
	fmt.Fprintln(stdout, "payload is valid")
	return nil
}
