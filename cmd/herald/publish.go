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

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/settings"
)

// runPublish publishes a message to a topic (POST /v1/topics/{topic}/messages)
// and prints the answer: the message id and how many edges and devices it
// reached.
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := settings.NewFlags("publish", stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the REST API's base URL")
	key := fs.String("key", settings.DevAPIKey, "API key")
	topic := fs.String("topic", "", "the topic, e.g. news.sports (required)")
	typ := fs.String("type", "", "message type, e.g. notification.v1 (required; its directions must list service_to_topic)")
	payload := fs.String("payload", "", "the payload as JSON, or @file (required)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long the publish waits for the edges' counts")
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if err := settings.RequireArgs(fs, 0, 0); err != nil {
		return err
	}
	if *topic == "" || *typ == "" || *payload == "" {
		return settings.Usagef("--topic, --type and --payload are required")
	}
	if p := protocol.TopicProblem(*topic); p != "" {
		return settings.Usagef("--topic: %s", p)
	}
	body, err := payloadArg(*payload)
	if err != nil {
		return err
	}
	out, err := json.Marshal(map[string]any{"type": *typ, "payload": json.RawMessage(body), "timeout_ms": timeout.Milliseconds()})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout+10*time.Second)
	defer cancel()
	u := strings.TrimRight(*base, "/") + "/v1/topics/" + url.PathEscape(*topic) + "/messages"
	respBody, err := call(ctx, http.MethodPost, u, *key, http.Header{"Content-Type": {"application/json"}}, out, http.StatusOK, stderr)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, strings.TrimSpace(string(respBody)))
	return nil
}
