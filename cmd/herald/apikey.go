package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/settings"
)

const apikeyUsage = `usage:
  herald apikey new --name NAME [--scopes send,devices,types] [--rate 1000/s] [--burst N]
      a fresh random API key, printed once, and its --api-keys entry
  herald apikey hash --name NAME [--scopes ...] [--rate ...] [--burst N] < KEY
      the --api-keys entry of an existing key, read on stdin (to replace a
      plaintext name:secret entry)`

// runAPIKey implements `herald apikey new` and `herald apikey hash`. Neither
// writes the key anywhere but stdout (new) and nothing keeps it: the server is
// configured with the entry, which holds only the key's SHA-256.
func runAPIKey(_ context.Context, args []string, stdout, stderr io.Writer) error {
	return apikey(args, os.Stdin, stdout, stderr)
}

// apikey is runAPIKey reading stdin from in.
func apikey(args []string, in io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "new" && args[0] != "hash") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(stderr, apikeyUsage)
			return nil
		}
		return settings.Usagef("%s", apikeyUsage)
	}
	sub := args[0]
	fs := settings.NewFlags("apikey "+sub, stderr)
	name := fs.String("name", "", "the key's name: the sender devices see as from.service (required)")
	scopes := fs.String("scopes", "", "what the key may call, comma-separated: send, devices, types (default: all)")
	rate := fs.String("rate", "", "requests the key may make, as N/s, N/m or N/h; 0 for no limit (default: the server's --api-key-rate)")
	burst := fs.Int("burst", 0, "requests above --rate at once (default: one second's worth)")
	if err := settings.Parse(fs, args[1:]); err != nil {
		return err
	}
	if err := settings.RequireArgs(fs, 0, 0); err != nil {
		return err
	}
	if *name == "" {
		return settings.Usagef("--name is required")
	}
	var secret string
	if sub == "new" {
		secret = api.NewSecret()
	} else {
		var err error
		if secret, err = readSecret(in); err != nil {
			return err
		}
	}
	k := api.NewKey(*name, secret)
	var err error
	if *scopes != "" {
		if k.Scopes, err = api.ParseScopes(*scopes); err != nil {
			return settings.Usagef("--scopes: %v", err)
		}
	}
	if *rate != "" {
		if k.Rate, err = api.ParseRate(*rate); err != nil {
			return settings.Usagef("--rate: %v", err)
		}
		if k.Rate == 0 {
			k.Rate = -1 // explicitly no limit
		}
	}
	if *burst < 0 || (*burst > 0 && k.Rate <= 0) {
		return settings.Usagef("--burst must be at least 1, with a --rate above 0")
	}
	k.Burst = *burst
	entry := k.Spec()
	if _, _, err := api.ParseKey(entry); err != nil {
		return settings.Usagef("%v", err)
	}
	if sub == "new" {
		fmt.Fprintf(stdout, "key: %s\n", secret)
		fmt.Fprintln(stderr, "herald apikey: the key is shown once and not kept anywhere: give it to the sender now (Authorization: Bearer <key>)")
	}
	fmt.Fprintf(stdout, "api-keys entry: %s\n", entry)
	fmt.Fprintln(stderr, "herald apikey: add the entry to --api-keys (HERALD_API_KEYS), comma-separated from the others; it holds only the key's SHA-256")
	return nil
}

// readSecret reads a key from the first line of r.
func readSecret(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return "", settings.Usagef("give the key on stdin: %v", err)
	}
	secret := strings.TrimSpace(line)
	if len(secret) < api.MinSecretLen {
		return "", settings.Usagef("the key on stdin has fewer than %d characters", api.MinSecretLen)
	}
	return secret, nil
}
