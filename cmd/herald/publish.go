package main

import (
	"context"
	"encoding/json"
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
// reached; with --async, through Kafka, only the id, whose status (herald
// status ID) counts what the publish reached.
func runPublish(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := settings.NewFlags("publish", stderr)
	base := fs.String("url", "http://127.0.0.1:8080", "the REST API's base URL")
	key := fs.String("key", settings.DevAPIKey, "API key")
	topic := fs.String("topic", "", "the topic, e.g. news.sports (required)")
	typ := fs.String("type", "", "message type, e.g. notification.v1 (required; its directions must list service_to_topic)")
	payload := fs.String("payload", "", "the payload as JSON, or @file (required)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long the publish waits for the edges' counts (not with --async: the processor's --publish-timeout applies)")
	async := fs.Bool("async", false, "publish through Kafka and print the message id; see herald status")
	priority := fs.String("priority", "", "with --async: high, normal or low (default: the type's policy)")
	ttl := fs.Int("ttl", -1, "with --async: seconds the message is worth publishing (default: the type's policy; 0 never expires)")
	idemKey := fs.String("idempotency-key", "", "with --async: a retried publish with the same key publishes once")
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
	if !*async && (*priority != "" || *ttl >= 0 || *idemKey != "") {
		return settings.Usagef("--priority, --ttl and --idempotency-key need --async")
	}
	req := map[string]any{"type": *typ, "payload": json.RawMessage(body)}
	want := http.StatusOK
	header := http.Header{}
	if *async {
		req["async"], want = true, http.StatusAccepted
		if *priority != "" {
			req["priority"] = *priority
		}
		if *ttl >= 0 {
			req["ttl"] = *ttl
		}
		if *idemKey != "" {
			header.Set("Idempotency-Key", *idemKey)
		}
	} else {
		req["timeout_ms"] = timeout.Milliseconds()
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout+10*time.Second)
	defer cancel()
	u := strings.TrimRight(*base, "/") + "/v1/topics/" + url.PathEscape(*topic) + "/messages"
	return post(ctx, "publish", u, *key, header, req, want, *async, stdout, stderr)
}
