package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// runMsg sends a device-to-device msg as a device, through the Go SDK, and
// prints its receipts, one JSON frame a line: the first receipt, and with --ack
// the final one too when it differs. An error frame that answers the msg is
// printed to stderr and fails the command. --timeout bounds the whole run:
// connecting, sending and waiting for the receipts.
func runMsg(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := settings.NewFlags("msg", stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the edge's base URL")
	tok := fs.String("token", "", "the sending device's token; default: minted for --account/--device with --token-secret or the dev secret")
	account := fs.String("account", "", "the sending device's account, to mint a token")
	device := fs.String("device", "", "the sending device, to mint a token")
	var secrets settings.List
	fs.Var(&secrets, "token-secret", "HS256 secret to mint the token with (default: the development secret)")
	var to settings.List
	fs.Var(&to, "to", "target device id; comma-separated for several")
	siblings := fs.Bool("siblings", false, "send to every other device of the account instead of --to")
	typ := fs.String("type", "", "message type, e.g. playback.control.v1 (required)")
	payload := fs.String("payload", "", "the payload as JSON, or @file (required)")
	ack := fs.Bool("ack", false, "ask the targets to acknowledge, and wait for the final receipt")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to connect, send and wait for the receipts")
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if err := settings.RequireArgs(fs, 0, 0); err != nil {
		return err
	}
	var target protocol.Target
	switch {
	case *siblings && len(to) > 0:
		return settings.Usagef("give --to or --siblings, not both")
	case *siblings:
		target.Siblings = true
	case len(to) == 1:
		target.Device = to[0]
	case len(to) > 1:
		target.Devices = to
	default:
		return settings.Usagef("--to or --siblings is required")
	}
	if *typ == "" || *payload == "" {
		return settings.Usagef("--type and --payload are required")
	}
	if *timeout <= 0 {
		return settings.Usagef("--timeout must be positive")
	}
	body, err := payloadArg(*payload)
	if err != nil {
		return err
	}
	if *tok == "" {
		if *account == "" || *device == "" {
			return settings.Usagef("give --token, or --account and --device to mint one")
		}
		if *tok, err = mintToken(secrets, *account, *device, time.Hour, nil); err != nil {
			return err
		}
	}

	id := protocol.NewID()
	receipts := make(chan *protocol.Receipt, 2) // the first and the final receipt of id
	var (
		mu      sync.Mutex
		lastErr error // guarded by mu: why the latest connection attempt failed
	)
	client, err := herald.New(herald.Config{
		URL:   *url,
		Token: *tok,
		OnReceipt: func(r *protocol.Receipt) {
			if r.ID != id {
				return
			}
			select {
			case receipts <- r:
			default: // more than two receipts for one msg: print the first two only
			}
		},
		OnState: func(_ herald.State, err error) {
			if err != nil {
				mu.Lock()
				lastErr = err
				mu.Unlock()
			}
		},
	})
	if err != nil {
		return settings.Usagef("%v", err)
	}

	// Run is stopped, and has closed the connection, before runMsg returns.
	runCtx, stopRun := context.WithCancel(ctx)
	runDone := make(chan error, 1)
	go func() { runDone <- client.Run(runCtx) }()
	defer func() {
		stopRun()
		<-runDone
	}()

	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	select {
	case <-client.Connected():
	case err := <-runDone: // a final error: 401, 403
		runDone <- err // for the deferred wait
		return fmt.Errorf("connect %s: %w", *url, err)
	case <-ctx.Done():
		mu.Lock()
		defer mu.Unlock()
		if lastErr != nil {
			return fmt.Errorf("not connected to %s within %v: %w", *url, *timeout, lastErr)
		}
		return fmt.Errorf("not connected to %s within %v: %w", *url, *timeout, ctx.Err())
	}

	send := client.Send
	if *ack {
		send = client.SendAndWait
	}
	r, err := send(ctx, target, *typ, json.RawMessage(body), herald.WithID(id))

	// OnReceipt ran before Send or SendAndWait returned: every receipt that
	// counted is in the channel, in order. Without --ack, print the one that
	// Send returned only.
	printed := 0
	if *ack {
	drain:
		for {
			select {
			case rc := <-receipts:
				if err := printFrame(stdout, rc); err != nil {
					return err
				}
				printed++
			default:
				break drain
			}
		}
	}
	if printed == 0 && r != nil {
		if err := printFrame(stdout, r); err != nil {
			return err
		}
	}

	var se *herald.ServerError
	switch {
	case errors.As(err, &se):
		if b, eerr := protocol.Encode(se.Frame); eerr == nil {
			fmt.Fprintf(stderr, "%s\n", b)
		}
		return fmt.Errorf("msg %s: %w", id, err)
	case err != nil && r != nil:
		return fmt.Errorf("msg %s: no final receipt: %w", id, err)
	case err != nil:
		return fmt.Errorf("msg %s: %w", id, err)
	}
	return nil
}

// printFrame writes f to w as one line of JSON, as listen and msg print
// frames.
func printFrame(w io.Writer, f protocol.Frame) error {
	b, err := protocol.Encode(f)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
