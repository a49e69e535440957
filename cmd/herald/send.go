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

	"github.com/heraldpush/herald/settings"
)

// runSend pushes a message through the REST API and prints the response: a sync
// push (POST /v1/push) by default, with --async an asynchronous send through
// Kafka (POST /v1/messages), whose id it prints. A problem answer is printed to
// stderr and fails the command.
func runSend(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := settings.NewFlags("send", stderr)
	url := fs.String("url", "http://127.0.0.1:8080", "the REST API's base URL")
	key := fs.String("key", settings.DevAPIKey, "API key")
	account := fs.String("account", "", "target account (required)")
	device := fs.String("device", "", "target device; empty: every connected device of the account")
	typ := fs.String("type", "", "message type, e.g. notification.v1 (required)")
	payload := fs.String("payload", "", "the payload as JSON, or @file (required)")
	ack := fs.Bool("ack", false, "ask the device to acknowledge (default: the type's policy)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long the push waits for final statuses")
	async := fs.Bool("async", false, "send through Kafka (POST /v1/messages) and print the message id; see herald status")
	priority := fs.String("priority", "", "with --async: high, normal or low (default: the type's policy)")
	ttl := fs.Int("ttl", -1, "time to live in seconds (default: the type's policy): how long a push may wait for a device that is offline, 0 now or never; with --async, 0 never expires")
	collapseKey := fs.String("collapse-key", "", "with --async: a newer pending message with the same key replaces this one")
	idemKey := fs.String("idempotency-key", "", "with --async: a retried send with the same key sends once")
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if err := settings.RequireArgs(fs, 0, 0); err != nil {
		return err
	}
	if *account == "" || *typ == "" || *payload == "" {
		return settings.Usagef("--account, --type and --payload are required")
	}
	body, err := payloadArg(*payload)
	if err != nil {
		return err
	}
	if !*async && (*priority != "" || *collapseKey != "" || *idemKey != "") {
		return settings.Usagef("--priority, --collapse-key and --idempotency-key need --async")
	}
	// Without --device the target has no "device" at all: the API refuses
	// "device":"" rather than take it for the whole account.
	to := map[string]string{"account": *account}
	if *device != "" {
		to["device"] = *device
	}
	req := map[string]any{
		"to":      to,
		"type":    *typ,
		"payload": json.RawMessage(body),
	}
	if *ttl >= 0 {
		req["ttl"] = *ttl
	}
	path, want := "/v1/push", http.StatusOK
	if *async {
		path, want = "/v1/messages", http.StatusAccepted
		if *priority != "" {
			req["priority"] = *priority
		}
		if *collapseKey != "" {
			req["collapse_key"] = *collapseKey
		}
	} else {
		req["timeout_ms"] = timeout.Milliseconds()
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "ack" {
			req["ack"] = *ack
		}
	})
	header := http.Header{}
	if *idemKey != "" {
		header.Set("Idempotency-Key", *idemKey)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout+10*time.Second)
	defer cancel()
	return post(ctx, "send", strings.TrimRight(*url, "/")+path, *key, header, req, want, *async, stdout, stderr)
}

// post sends req as JSON in a POST to url and prints the answer of status
// want: with async, the message id it holds (cmd names the command in the
// error of an answer without one), otherwise the answer itself.
func post(ctx context.Context, cmd, url, key string, header http.Header, req map[string]any, want int, async bool, stdout, stderr io.Writer) error {
	out, err := json.Marshal(req)
	if err != nil {
		return err
	}
	header.Set("Content-Type", "application/json")
	respBody, err := call(ctx, http.MethodPost, url, key, header, out, want, stderr)
	if err != nil {
		return err
	}
	if async {
		var a struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(respBody, &a); err != nil || a.ID == "" {
			return fmt.Errorf("%s: the answer holds no id: %s", cmd, respBody)
		}
		fmt.Fprintln(stdout, a.ID)
		return nil
	}
	fmt.Fprintln(stdout, strings.TrimSpace(string(respBody)))
	return nil
}

// payloadArg reads a --payload argument: JSON, or @file holding JSON.
func payloadArg(arg string) ([]byte, error) {
	body := []byte(arg)
	if strings.HasPrefix(arg, "@") {
		b, err := os.ReadFile(strings.TrimPrefix(arg, "@"))
		if err != nil {
			return nil, err
		}
		body = b
	}
	if !json.Valid(body) {
		return nil, settings.Usagef("--payload is not valid JSON")
	}
	return body, nil
}

// call makes one REST request and returns the body of an answer with status
// want; any other answer is printed to stderr and returned as an error.
func call(ctx context.Context, method, url, key string, header http.Header, body []byte, want int, stderr io.Writer) ([]byte, error) {
	hr, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return nil, settings.Usagef("--url: %v", err)
	}
	for k, v := range header {
		hr.Header[k] = v
	}
	hr.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, hr.URL.Path, err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%s %s: reading the answer: %w", method, hr.URL.Path, err)
	}
	if resp.StatusCode != want {
		fmt.Fprintln(stderr, strings.TrimSpace(string(respBody)))
		return nil, fmt.Errorf("%s %s failed: %s", method, hr.URL.Path, resp.Status)
	}
	return respBody, nil
}
