package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/settings"
)

// runToken mints a device token. Without a secret it signs with the public
// development secret that `herald dev` accepts, and says so on stderr.
func runToken(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := settings.NewFlags("token", stderr)
	account := fs.String("account", "", "the device's account (required)")
	device := fs.String("device", "", "the device id (required)")
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	var topics settings.List
	fs.Var(&topics, "topics", "comma-separated topic patterns the device may subscribe to (a name, name.*, or *): the token's topics claim")
	var secrets settings.List
	fs.Var(&secrets, "token-secret", "HS256 secret as kid:secret or secret; the first entry signs (default: the development secret of herald dev)")
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if err := settings.RequireArgs(fs, 0, 0); err != nil {
		return err
	}
	if *account == "" || *device == "" {
		return settings.Usagef("--account and --device are required")
	}
	if len(secrets) == 0 {
		fmt.Fprintln(stderr, "herald token: signing with the development secret (accepted by herald dev only); set --token-secret or HERALD_TOKEN_SECRET otherwise")
	}
	tok, err := mintToken(secrets, *account, *device, *ttl, topics)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, tok)
	return nil
}

// mintToken signs a device token, granting topics (patterns, maybe none), with
// the first of secrets (kid:secret or secret), or with the development secret
// when there are none.
func mintToken(secrets []string, account, device string, ttl time.Duration, topics []string) (string, error) {
	key := token.HS256Key{Secret: []byte(settings.DevTokenSecret)}
	if len(secrets) > 0 {
		key = settings.HS256Keys(secrets)[0]
	}
	iss, err := token.NewHS256Issuer(key)
	if err != nil {
		return "", settings.Usagef("%v", err)
	}
	tok, err := iss.IssueTopics(account, device, ttl, topics)
	if err != nil {
		return "", settings.Usagef("%v", err)
	}
	return tok, nil
}
