package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

// runSend pushes a message through the REST API (POST /v1/push) and prints the
// response; a problem answer is printed to stderr and fails the command.
func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("send", stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the REST API's base URL")
	key := fs.String("key", devAPIKey, "API key")
	account := fs.String("account", "", "target account (required)")
	device := fs.String("device", "", "target device; empty: every connected device of the account")
	typ := fs.String("type", "", "message type, e.g. notification.v1 (required)")
	payload := fs.String("payload", "", "the payload as JSON, or @file (required)")
	ack := fs.Bool("ack", false, "ask the device to acknowledge (default: the type's policy)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long the push waits for final statuses")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := requireArgs(fs, 0, 0); err != nil {
		return err
	}
	if *account == "" || *typ == "" || *payload == "" {
		return usagef("--account, --type and --payload are required")
	}
	body := []byte(*payload)
	if strings.HasPrefix(*payload, "@") {
		b, err := os.ReadFile(strings.TrimPrefix(*payload, "@"))
		if err != nil {
			return err
		}
		body = b
	}
	if !json.Valid(body) {
		return usagef("--payload is not valid JSON")
	}
	req := map[string]any{
		"to":         map[string]string{"account": *account, "device": *device},
		"type":       *typ,
		"payload":    json.RawMessage(body),
		"timeout_ms": timeout.Milliseconds(),
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "ack" {
			req["ack"] = *ack
		}
	})
	out, err := json.Marshal(req)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout+10*time.Second)
	defer cancel()
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(*url, "/")+"/v1/push", bytes.NewReader(out))
	if err != nil {
		return usagef("--url: %v", err)
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Authorization", "Bearer "+*key)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("push: reading the answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(stderr, strings.TrimSpace(string(respBody)))
		return fmt.Errorf("push failed: %s", resp.Status)
	}
	fmt.Fprintln(stdout, strings.TrimSpace(string(respBody)))
	return nil
}
