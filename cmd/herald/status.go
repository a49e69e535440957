package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/settings"
)

// runStatus prints the delivery status of a message sent asynchronously, or of
// a sync push stored for an offline device (GET /v1/messages/{id}): a table, or
// with --json the API's answer.
func runStatus(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := settings.NewFlags("status", stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the REST API's base URL")
	key := fs.String("key", settings.DevAPIKey, "API key")
	asJSON := fs.Bool("json", false, "print the API's JSON answer")
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if err := settings.RequireArgs(fs, 1, 1); err != nil {
		return settings.Usagef("want the message id: herald status [flags] ID")
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	u := strings.TrimRight(*base, "/") + "/v1/messages/" + url.PathEscape(fs.Arg(0))
	body, err := call(ctx, http.MethodGet, u, *key, nil, nil, http.StatusOK, stderr)
	if err != nil {
		return err
	}
	if *asJSON {
		fmt.Fprintln(stdout, strings.TrimSpace(string(body)))
		return nil
	}
	var st processor.MessageStatus
	if err := json.Unmarshal(body, &st); err != nil {
		return fmt.Errorf("status: %w", err)
	}
	return st.WriteText(stdout)
}
