package settings

import (
	"flag"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
)

// Mask replaces a secret in printed configuration.
const Mask = "****"

// secretFlags are the settings whose values are secret, each with the function
// that masks its value for display: what is left identifies the entry (a key id,
// an API key's name, a database host) without revealing it.
var secretFlags = map[string]func(string) string{
	"token-secret":                maskEntries(maskKeyed),
	"api-keys":                    maskEntries(maskKeyed),
	"cluster-key":                 maskEntries(func(string) string { return Mask }),
	"admin-key":                   maskEntries(func(string) string { return Mask }),
	"region-key":                  maskEntries(func(string) string { return Mask }),
	"kafka-sasl-password":         func(string) string { return Mask },
	"mirror-source-sasl-password": func(string) string { return Mask },
	"postgres-url":                maskDSN,
	"redis-addr":                  maskEntries(maskDSN),
	"redis-password":              func(string) string { return Mask },
	"token":                       func(string) string { return Mask }, // herald listen, msg
}

// Masked returns a flag's value as it may be shown.
func Masked(name, value string) string {
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

// maskKeyed masks name:secret as name:****, as HS256Keys and apiKeys read them;
// an entry without a name is Masked whole.
func maskKeyed(e string) string {
	if name, _, ok := strings.Cut(e, ":"); ok && len(name) <= 64 {
		return name + ":" + Mask
	}
	return Mask
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
	s = urlPassword.ReplaceAllString(s, "${1}"+Mask+"@")
	return paramPassword.ReplaceAllString(s, "${1}${2}"+Mask)
}

// PrintConfig writes every flag of fs with its value, Masked, and its origin.
func PrintConfig(w io.Writer, fs *flag.FlagSet, origins map[string]Origin) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SETTING\tVALUE\tSOURCE")
	fs.VisitAll(func(f *flag.Flag) {
		v := Masked(f.Name, f.Value.String())
		if v == "" || strings.ContainsAny(v, " \t\"") {
			v = strconv.Quote(v)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", f.Name, v, origins[f.Name])
	})
	return tw.Flush()
}
