package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	herald "github.com/heraldpush/herald/clients/go"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// runListen connects as a device and prints every frame it receives, one JSON
// object a line, reconnecting as the Go SDK does. Messages that ask for an ack are
// acknowledged unless --ack=false. A reconnect frame (lifetime, drain) is printed
// like any other and followed by a new connection, not by an exit; while no edge
// takes the device it retries with backoff, quietly unless -v. Messages stored
// while the device was offline arrive right after the welcome, each with its
// seq; --after resumes after one, and each reconnect resumes after the last.
func runListen(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := settings.NewFlags("listen", stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the edge's base URL")
	tok := fs.String("token", "", "device token; default: minted for --account/--device with --token-secret or the dev secret")
	account := fs.String("account", "", "account, to mint a token")
	ttl := fs.Duration("token-ttl", 24*time.Hour, "lifetime of each minted token; the connection is refreshed with a new one ahead of its expiry (refresh frames), without a reconnect")
	device := fs.String("device", "", "device, to mint a token")
	var secrets settings.List
	fs.Var(&secrets, "token-secret", "HS256 secret to mint the token with (default: the development secret)")
	ack := fs.Bool("ack", true, "acknowledge messages that ask for it")
	presence := fs.Bool("presence", false, "ask for presence frames about sibling devices")
	after := fs.Uint64("after", 0, "resume cursor: the seq of the last stored message already received; only later stored messages are written")
	verbose := fs.Bool("v", false, "log connection events (reconnects, failed attempts) to stderr")
	var topics settings.List
	fs.Var(&topics, "topics", "comma-separated topics to subscribe to after every welcome; a minted token grants them")
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if err := settings.RequireArgs(fs, 0, 0); err != nil {
		return err
	}
	var tokenFunc func(context.Context) (string, error)
	if *tok == "" {
		if *account == "" || *device == "" {
			return settings.Usagef("give --token, or --account and --device to mint one")
		}
		if *ttl < 2*time.Second {
			return settings.Usagef("--token-ttl must be at least 2s, got %v", *ttl)
		}
		if _, err := mintToken(secrets, *account, *device, *ttl, topics); err != nil {
			return err
		}
		// A fresh token for every connection and every refresh.
		tokenFunc = func(context.Context) (string, error) { return mintToken(secrets, *account, *device, *ttl, topics) }
	}
	var mu sync.Mutex // serialises lines on stdout
	print := func(f protocol.Frame) {
		mu.Lock()
		defer mu.Unlock()
		_ = printFrame(stdout, f) // a frame that does not encode is skipped
	}
	logger := slog.New(slog.DiscardHandler)
	if *verbose {
		logger = slog.New(slog.NewTextHandler(stderr, nil))
	}
	client, err := herald.New(herald.Config{
		URL:       *url,
		Token:     *tok,
		TokenFunc: tokenFunc,
		OnFrame:   print,
		AutoAck:   *ack,
		After:     *after,
		Logger:    logger,
		OnState: func(s herald.State, err error) {
			if *verbose && err != nil {
				fmt.Fprintf(stderr, "herald listen: %s: %v\n", s, err)
			}
		},
	})
	if err != nil {
		return settings.Usagef("%v", err)
	}
	if *presence {
		// Remembered by the client and sent after every welcome.
		_ = client.Hello(ctx, protocol.DeviceInfo{}, true)
	}
	if len(topics) > 0 {
		// Remembered too, and subscribed after every welcome; a bad name is
		// refused here.
		if err := client.Subscribe(ctx, topics...); err != nil && !errors.Is(err, herald.ErrNotConnected) {
			return settings.Usagef("%v", err)
		}
	}
	if err := client.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}
