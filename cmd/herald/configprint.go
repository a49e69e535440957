package main

import (
	"context"
	"flag"
	"fmt"
	"io"

	"github.com/heraldpush/herald/settings"
)

// runConfig implements `herald config print`: the effective configuration of
// `herald serve` with the same flags, environment and config file, each setting
// with its value and where the value came from.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: herald config print [--config FILE] [serve flags]"
	if len(args) == 0 || (args[0] != "print" && args[0] != "-h" && args[0] != "--help") {
		return settings.Usagef("%s", use)
	}
	var c settings.Server
	fs := settings.NewFlags("serve", stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nPrints every setting of herald serve, its value (secrets masked) and its source:\nflag, env (HERALD_*), file (--config or HERALD_CONFIG) or default. Exits 2 if\nthe configuration is not valid.\n\n", use)
		fs.PrintDefaults()
	}
	c.Flags(fs, false)
	if args[0] != "print" {
		fs.Usage()
		return flag.ErrHelp
	}
	origins, err := settings.ParseSources(fs, args[1:])
	if err != nil {
		return err
	}
	if err := settings.RequireArgs(fs, 0, 0); err != nil {
		return err
	}
	if err := settings.PrintConfig(stdout, fs, origins); err != nil {
		return err
	}
	if err := c.Validate(false); err != nil {
		return settings.Usagef("the configuration is not valid for herald serve: %v", err)
	}
	return nil
}
