package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
)

// mask replaces a secret in printed configuration.
const mask = "****"

// secretFlags are the settings whose values are secret, each with the function
// that masks its value for display: what is left identifies the entry (a key id,
// an API key's name, a database host) without revealing it.
var secretFlags = map[string]func(string) string{
	"token-secret":        maskEntries(maskKeyed),
	"api-keys":            maskEntries(maskKeyed),
	"cluster-key":         maskEntries(func(string) string { return mask }),
	"kafka-sasl-password": func(string) string { return mask },
	"postgres-url":        maskDSN,
	"redis-addr":          maskEntries(maskDSN),
	"redis-password":      func(string) string { return mask },
	"token":               func(string) string { return mask }, // herald listen, msg
}

// masked returns a flag's value as it may be shown.
func masked(name, value string) string {
	if m := secretFlags[name]; m != nil && value != "" {
		return m(value)
	}
	return value
}

// maskEntries masks each entry of a comma-separated list with m.
func maskEntries(m func(string) string) func(string) string {
	return func(v string) string {
		parts := strings.Split(v, ",")
		for i, p := range parts {
			parts[i] = m(p)
		}
		return strings.Join(parts, ",")
	}
}

// maskKeyed masks name:secret as name:****, as hs256Keys and apiKeys read them;
// an entry without a name is masked whole.
func maskKeyed(e string) string {
	if name, _, ok := strings.Cut(e, ":"); ok && len(name) <= 64 {
		return name + ":" + mask
	}
	return mask
}

var (
	// urlPassword is the password of scheme://user:password@host.
	urlPassword = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*://[^:/@?#]*:)([^@]*)@`)
	// paramPassword is password=... in a URL's query or a key=value DSN, quoted or not.
	paramPassword = regexp.MustCompile(`(?i)(^|[?&\s])(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^&\s]*)`)
)

// maskDSN masks the passwords of a connection string: in the user info of a URL,
// in its query, or in a key=value DSN.
func maskDSN(s string) string {
	s = urlPassword.ReplaceAllString(s, "${1}"+mask+"@")
	return paramPassword.ReplaceAllString(s, "${1}${2}"+mask)
}

// runConfig implements `herald config print`: the effective configuration of
// `herald serve` with the same flags, environment and config file, each setting
// with its value and where the value came from.
func runConfig(_ context.Context, args []string, stdout, stderr io.Writer) error {
	const use = "usage: herald config print [--config FILE] [serve flags]"
	if len(args) == 0 || (args[0] != "print" && args[0] != "-h" && args[0] != "--help") {
		return usagef("%s", use)
	}
	var c serverConfig
	fs := newFlags("serve", stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "%s\n\nPrints every setting of herald serve, its value (secrets masked) and its source:\nflag, env (HERALD_*), file (--config or HERALD_CONFIG) or default. Exits 2 if\nthe configuration is not valid.\n\n", use)
		fs.PrintDefaults()
	}
	c.flags(fs, false)
	if args[0] != "print" {
		fs.Usage()
		return flag.ErrHelp
	}
	origins, err := parseSources(fs, args[1:])
	if err != nil {
		return err
	}
	if err := requireArgs(fs, 0, 0); err != nil {
		return err
	}
	if err := printConfig(stdout, fs, origins); err != nil {
		return err
	}
	if err := c.validate(false); err != nil {
		return usagef("the configuration is not valid for herald serve: %v", err)
	}
	return nil
}

// printConfig writes every flag of fs with its value, masked, and its origin.
func printConfig(w io.Writer, fs *flag.FlagSet, origins map[string]origin) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
	fs.VisitAll(func(f *flag.Flag) {
		v := masked(f.Name, f.Value.String())
		if v == "" || strings.ContainsAny(v, " \t\"") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, v, origins[f.Name])
	})
	return tw.Flush()
}
