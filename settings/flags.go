package settings

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// NewFlags returns a flag set for a command whose usage goes to stderr.
func NewFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("herald "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// ConfigFlag is the name of the flag that names a configuration file. A command
// whose flag set has it reads the file (HERALD_CONFIG when the flag is not given).
const ConfigFlag = "config"

// Parse parses args, then fills every flag not given on the command line from its
// environment variable HERALD_<NAME> (dashes as underscores), then, for a command
// with --config, from the configuration file. A bad value in any place is a usage
// error naming its source.
func Parse(fs *flag.FlagSet, args []string) error {
	_, err := ParseSources(fs, args)
	return err
}

// Where a setting's value came from, in order of precedence.
const (
	srcFlag    = "flag"
	srcEnv     = "env"
	srcFile    = "file"
	srcDefault = "default"
)

// Origin is where one setting's value came from: its source and, for env and
// file, the variable or the file's name.
type Origin struct {
	src  string // srcFlag, srcEnv, srcFile or srcDefault
	from string // the environment variable or the file
}

// String is the SOURCE column of `herald config print`: flag, default, or env
// and file with the variable or the file.
func (o Origin) String() string {
	if o.from == "" {
		return o.src
	}
	return o.src + " " + o.from
}

// ParseSources is Parse, and returns the origin of every flag of fs.
func ParseSources(fs *flag.FlagSet, args []string) (map[string]Origin, error) {
	if err := parseArgs(fs, args); err != nil {
		return nil, err
	}
	origins := map[string]Origin{}
	fs.VisitAll(func(f *flag.Flag) { origins[f.Name] = Origin{src: srcDefault} })
	fs.Visit(func(f *flag.Flag) { origins[f.Name] = Origin{src: srcFlag} })
	var err error
	fs.VisitAll(func(f *flag.Flag) {
		if origins[f.Name].src == srcFlag || err != nil {
			return
		}
		env := EnvName(f.Name)
		if v, ok := os.LookupEnv(env); ok {
			if e := fs.Set(f.Name, v); e != nil {
				err = Usagef("environment %s=%q: %v%s", env, shown(f.Name, v), e, valueHint(f))
				return
			}
			origins[f.Name] = Origin{src: srcEnv, from: env}
		}
	})
	if err != nil {
		return nil, err
	}
	if f := fs.Lookup(ConfigFlag); f != nil && f.Value.String() != "" {
		if err := applyFile(fs, f.Value.String(), origins); err != nil {
			return nil, err
		}
	}
	return origins, nil
}

// parseArgs parses the command line alone. -h prints the command's usage; a bad
// flag does not: its error (which cmd/herald prints) and a hint to run -h are the whole
// message, so that the error does not scroll away above a page of flags.
func parseArgs(fs *flag.FlagSet, args []string) error {
	usage, out := fs.Usage, fs.Output()
	fs.Usage = func() {}
	fs.SetOutput(io.Discard) // the flag package prints the error too; cmd/herald does that
	err := fs.Parse(args)
	fs.Usage = usage
	fs.SetOutput(out)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, flag.ErrHelp):
		if usage != nil {
			usage()
		} else { // what the flag package prints without a Usage
			fmt.Fprintf(out, "Usage of %s:\n", fs.Name())
			fs.PrintDefaults()
		}
		return err
	}
	return UsageError{fmt.Errorf("%w\nrun '%s -h' for the flags", err, fs.Name())}
}

// shown is how a value given for a flag may appear in a message: secrets never do.
func shown(flagName, v string) string {
	if secretFlags[flagName] != nil {
		return "…"
	}
	return v
}

// valueHint says what kind of value a flag takes, for the message of a bad one.
func valueHint(f *flag.Flag) string {
	g, ok := f.Value.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case time.Duration:
		return " (want a duration such as 500ms, 30s, 5m or 1h30m)"
	case bool:
		return " (want true or false)"
	case int, int64, uint, uint64:
		return " (want a whole number)"
	case float64:
		return " (want a number)"
	}
	return ""
}

// EnvName is the environment variable of a flag.
func EnvName(flagName string) string {
	return "HERALD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// List is a comma-separated list flag.
type List []string

// String returns the entries joined with commas.
func (l *List) String() string { return strings.Join(*l, ",") }

// Set replaces the list with the comma-separated entries of v, trimmed; empty
// entries are dropped.
func (l *List) Set(v string) error {
	*l = nil
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// RequireArgs checks the number of positional arguments.
func RequireArgs(fs *flag.FlagSet, min, max int) error {
	if n := fs.NArg(); n < min || n > max {
		return Usagef("want %d to %d arguments, got %d (see -h)", min, max, n)
	}
	return nil
}

// flagNames lists the names of fs's flags, for messages.
func flagNames(fs *flag.FlagSet) []string {
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	return names
}

// closest returns the flag of fs that a mistyped key most likely meant, "" if
// none is close.
func closest(fs *flag.FlagSet, key string) string {
	norm := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(strings.TrimPrefix(key, "HERALD_"), "--"), "_", "-"))
	best, bestD := "", 3 // at most two edits away
	for _, name := range flagNames(fs) {
		if name == norm {
			return name
		}
		if d := editDistance(norm, name); d < bestD {
			best, bestD = name, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// didYouMean is the suggestion part of a message about an unknown key.
func didYouMean(fs *flag.FlagSet, key string) string {
	if s := closest(fs, key); s != "" {
		return fmt.Sprintf(" (did you mean %q?)", s)
	}
	return ""
}
