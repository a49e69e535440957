package api

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

func (fixedPublisher) TopicCount(_ context.Context, topic string) (protocol.TopicSubscribers, error) {
	return protocol.TopicSubscribers{Topic: topic, Edges: []protocol.EdgeSubscribers{}}, nil
}

// postPublish posts body to /v1/topics/{topic}/messages with the test API key
// and, when idem is not "", an Idempotency-Key header.
func (st *stack) postPublish(tb testing.TB, topic, idem, body string) (*http.Response, []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.url+"/v1/topics/"+topic+"/messages", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := st.client.Do(req)
	if err != nil {
		tb.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return resp, b
}

// TestPublishAsync publishes with "async": one record with the topic and no
// account, answered 202 with its id and Location, its status readable at
// once; the Idempotency-Key of POST /v1/messages; the refusals.
func TestPublishAsync(t *testing.T) {
	a := mustAsyncAPI(t)
	before := time.Now().UnixMilli()
	resp, body := a.postPublish(t, "news.sports", "", `{"type":"notification.v1","payload":{"title":"Goal"},"async":true}`)
	id := checkAccepted(t, resp, body)
	_, msgs := a.queue.calls()
	if len(msgs) != 1 {
		t.Fatalf("enqueued %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if err := m.Validate(); err != nil {
		t.Fatalf("enqueued %+v: %v", m, err)
	}
	if m.ID != id || m.Topic != "news.sports" || m.Account != "" || m.Device != "" || m.From != testKeyName || m.Type != "notification.v1" ||
		m.Priority != protocol.PriorityHigh || m.Accepted < before || m.Ack { // notification.v1's priority
		t.Fatalf("enqueued %+v", m)
	}
	st, err := a.statuses.Get(t.Context(), id)
	if err != nil || st.Status != processor.Queued || st.Topic != "news.sports" || st.Account != "" {
		t.Fatalf("status right after 202: %+v, %v", st, err)
	}

	t.Run("priority and ttl", func(t *testing.T) {
		resp, body := a.postPublish(t, "news", "", fmt.Sprintf(`{"type":"notification.v1","payload":{"title":"x"},"async":true,"priority":"low","ttl":%d}`, MaxTTL))
		checkAccepted(t, resp, body)
		_, msgs := a.queue.calls()
		m := msgs[len(msgs)-1]
		if m.Priority != protocol.PriorityLow || m.Expires != m.Accepted+int64(MaxTTL)*1000 {
			t.Fatalf("enqueued priority %s expires %d (accepted %d), want low and %d s later", m.Priority, m.Expires, m.Accepted, MaxTTL)
		}
		resp, body = a.postPublish(t, "news", "", `{"type":"notification.v1","payload":{"title":"x"},"async":true,"ttl":0}`)
		checkAccepted(t, resp, body)
		_, msgs = a.queue.calls()
		if m := msgs[len(msgs)-1]; m.Expires != 0 {
			t.Fatalf("ttl 0 expires %d, want never", m.Expires)
		}
	})

	t.Run("idempotency key", func(t *testing.T) {
		const b = `{"type":"notification.v1","payload":{"title":"once"},"async":true}`
		n0, _ := a.queue.calls()
		resp, body := a.postPublish(t, "news", "k1", b)
		first := checkAccepted(t, resp, body)
		resp, body = a.postPublish(t, "news", "k1", b)
		if again := checkAccepted(t, resp, body); again != first || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("retry answered %s (replayed %q), want %s", again, resp.Header.Get("Idempotent-Replayed"), first)
		}
		if n, _ := a.queue.calls(); n != n0+1 {
			t.Fatalf("%d enqueues, want one", n-n0)
		}
		resp, body = a.postPublish(t, "news", "k1", `{"type":"notification.v1","payload":{"title":"other"},"async":true}`)
		checkProblem(t, resp, body, http.StatusConflict, protocol.CodeConflict)
	})

	t.Run("Kafka down is 503 and nothing is accepted", func(t *testing.T) {
		a.queue.mu.Lock()
		a.queue.failures = 1
		a.queue.mu.Unlock()
		_, before := a.queue.calls()
		resp, body := a.postPublish(t, "news", "k2", `{"type":"notification.v1","payload":{"title":"x"},"async":true}`)
		checkProblem(t, resp, body, http.StatusServiceUnavailable, protocol.CodeUnavailable)
		if _, after := a.queue.calls(); len(after) != len(before) {
			t.Fatal("a refused publish was accepted")
		}
		// The key was released: a retry sends.
		resp, body = a.postPublish(t, "news", "k2", `{"type":"notification.v1","payload":{"title":"x"},"async":true}`)
		checkAccepted(t, resp, body)
	})

	for _, tc := range []struct {
		name, topic, idem, body string
		status                  int
		code                    protocol.Code
	}{
		{"timeout_ms with async", "news", "", `{"type":"notification.v1","payload":{"title":"x"},"async":true,"timeout_ms":100}`, 400, protocol.CodeBadRequest},
		{"priority without async", "news", "", `{"type":"notification.v1","payload":{"title":"x"},"priority":"high"}`, 400, protocol.CodeBadRequest},
		{"ttl without async", "news", "", `{"type":"notification.v1","payload":{"title":"x"},"ttl":5}`, 400, protocol.CodeBadRequest},
		{"idempotency key without async", "news", "k3", `{"type":"notification.v1","payload":{"title":"x"}}`, 400, protocol.CodeBadRequest},
		{"unknown priority", "news", "", `{"type":"notification.v1","payload":{"title":"x"},"async":true,"priority":"urgent"}`, 400, protocol.CodeBadRequest},
		{"ttl over the most", "news", "", fmt.Sprintf(`{"type":"notification.v1","payload":{"title":"x"},"async":true,"ttl":%d}`, MaxTTL+1), 400, protocol.CodeBadRequest},
		{"negative ttl", "news", "", `{"type":"notification.v1","payload":{"title":"x"},"async":true,"ttl":-1}`, 400, protocol.CodeBadRequest},
		{"idempotency key over the most", "news", strings.Repeat("k", MaxIdempotencyKey+1), `{"type":"notification.v1","payload":{"title":"x"},"async":true}`, 400, protocol.CodeBadRequest},
		{"async not a boolean", "news", "", `{"type":"notification.v1","payload":{"title":"x"},"async":"yes"}`, 400, protocol.CodeBadRequest},
		{"invalid topic", "news..x", "", `{"type":"notification.v1","payload":{"title":"x"},"async":true}`, 400, protocol.CodeBadRequest},
		{"type that may not go to topics", "news", "", `{"type":"playback.control.v1","payload":{"action":"pause"},"async":true}`, 403, protocol.CodeForbidden},
		{"invalid payload", "news", "", `{"type":"notification.v1","payload":{"title":7},"async":true}`, 422, protocol.CodeSchemaInvalid},
		{"collapse key", "news", "", `{"type":"notification.v1","payload":{"title":"x"},"async":true,"collapse_key":"k"}`, 400, protocol.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n0, _ := a.queue.calls()
			resp, body := a.postPublish(t, tc.topic, tc.idem, tc.body)
			checkProblem(t, resp, body, tc.status, tc.code)
			if n, _ := a.queue.calls(); n != n0 {
				t.Fatal("a refused publish was enqueued")
			}
		})
	}
	t.Run("idempotency key of the most", func(t *testing.T) {
		resp, body := a.postPublish(t, "news", strings.Repeat("k", MaxIdempotencyKey), `{"type":"notification.v1","payload":{"title":"x"},"async":true}`)
		checkAccepted(t, resp, body)
	})
}

// TestPublishAsyncNotConfigured: without Kafka an asynchronous publish is 503
// and a synchronous one still works.
func TestPublishAsyncNotConfigured(t *testing.T) {
	st := mustStack(t)
	resp, body := st.postPublish(t, "news", "", `{"type":"notification.v1","payload":{"title":"x"},"async":true}`)
	checkProblem(t, resp, body, http.StatusServiceUnavailable, protocol.CodeUnavailable)
	resp, body = st.postPublish(t, "news", "", `{"type":"notification.v1","payload":{"title":"x"}}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("sync publish: %d %s", resp.StatusCode, body)
	}
}

// TestPublishAsyncKafka publishes through the real producer to an in-process
// Kafka: one record, keyed by the topic, on the topic of its priority, that a
// processor reads.
func TestPublishAsyncKafka(t *testing.T) {
	topics := processor.Topics{}
	c := testenv.Kafka(t, 1, topics.All()...)
	prod, err := processor.NewProducer(processor.ProducerConfig{Kafka: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	st := mustAPI(t, func(cfg *Config) { cfg.Queue = prod })
	resp, body := st.postPublish(t, "scores.live", "", `{"type":"notification.v1","payload":{"title":"1:0"},"async":true,"priority":"low"}`)
	id := checkAccepted(t, resp, body)
	rec := mustConsumeOne(t, c.ListenAddrs(), topics.Messages(protocol.PriorityLow))
	var m processor.Message
	if err := json.Unmarshal(rec.Value, &m); err != nil {
		t.Fatalf("record %s: %v", rec.Value, err)
	}
	if err := m.Validate(); err != nil || m.ID != id || m.Topic != "scores.live" || m.Account != "" || string(rec.Key) != "topic:scores.live" {
		t.Fatalf("record key %q value %s (%v)", rec.Key, rec.Value, err)
	}
	if strings.Contains(string(rec.Value), `"account"`) {
		t.Errorf("record %s names an account", rec.Value)
	}
}

// TestTopicCountRoute counts a topic's subscribers on a real edge through GET
// /v1/topics/{topic}.
func TestTopicCountRoute(t *testing.T) {
	st := mustStackWith(t, func(c *Config) { c.Counter = c.Publisher.(TopicCounter) })
	st.subscriber(t, "a1", "tv1", []string{"*"}, "news.sports")
	st.subscriber(t, "a2", "tv1", []string{"*"}, "news.sports", "news.weather")
	resp, body := st.do(t, http.MethodGet, "/v1/topics/news.sports", testAPIKey, nil)
	var got protocol.TopicSubscribers
	if err := json.Unmarshal(body, &got); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("HTTP %d %s", resp.StatusCode, body)
	}
	if got.Topic != "news.sports" || got.Subscribers != 2 || len(got.Edges) != 1 || got.Edges[0] != (protocol.EdgeSubscribers{Edge: "edge-test", Subscribers: 2}) || len(got.Failed) != 0 {
		t.Fatalf("count %+v", got)
	}
	resp, body = st.do(t, http.MethodGet, "/v1/topics/nobody.here", testAPIKey, nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"edges":[]`) || !strings.Contains(string(body), `"subscribers":0`) {
		t.Fatalf("a topic without subscribers: %d %s", resp.StatusCode, body)
	}
	resp, body = st.do(t, http.MethodGet, "/v1/topics/news.*", testAPIKey, nil)
	checkProblem(t, resp, body, http.StatusBadRequest, protocol.CodeBadRequest)

	bare := mustStack(t)
	resp, body = bare.do(t, http.MethodGet, "/v1/topics/news", testAPIKey, nil)
	checkProblem(t, resp, body, http.StatusServiceUnavailable, protocol.CodeUnavailable)
}
