package api

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// fixedPublisher is a Publisher that reaches nobody.
type fixedPublisher struct{}

func (fixedPublisher) Publish(context.Context, string, *protocol.Msg) (protocol.PublishResult, error) {
	return protocol.PublishResult{}, nil
}

// subscriber connects account/id with a token granting patterns and
// subscribes it to topics.
func (st *stack) subscriber(t *testing.T, account, id string, patterns []string, topics ...string) *websocket.Conn {
	t.Helper()
	tok, err := st.iss.IssueTopics(account, id, time.Hour, patterns)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + st.url[len("http"):] + "/v1/connect"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	read := func() protocol.Frame {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		f, err := protocol.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		return f
	}
	if _, ok := read().(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}
	b, _ := protocol.Encode(&protocol.Sub{Topics: topics})
	if err := c.Write(context.Background(), websocket.MessageText, b); err != nil {
		t.Fatal(err)
	}
	if s, ok := read().(*protocol.Subs); !ok || len(s.Results) != len(topics) {
		t.Fatalf("sub answered %+v", s)
	}
	return c
}

// TestPublish publishes through POST /v1/topics/{topic}/messages to the
// subscribers of a real edge, of two accounts, and checks the refusals.
func TestPublish(t *testing.T) {
	st := mustStack(t)
	a := st.subscriber(t, "a1", "tv1", []string{"news.*"}, "news.sports")
	b := st.subscriber(t, "a2", "phone1", []string{"*"}, "news.sports")
	st.subscriber(t, "a3", "tab1", []string{"*"}, "news.weather")

	resp, body := st.do(t, http.MethodPost, "/v1/topics/news.sports/messages", testAPIKey, []byte(`{"type":"notification.v1","payload":{"title":"Goal"}}`))
	var pr PublishResponse
	if err := json.Unmarshal(body, &pr); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("HTTP %d %s", resp.StatusCode, body)
	}
	if pr.ID == "" || pr.Edges != 1 || pr.Devices != 2 || pr.Dropped != 0 || len(pr.Failed) != 0 {
		t.Fatalf("publish answered %+v, want one edge and two devices", pr)
	}
	for _, c := range []*websocket.Conn{a, b} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, data, err := c.Read(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		m, err := protocol.Decode(data)
		if msg, ok := m.(*protocol.Msg); err != nil || !ok || msg.ID != pr.ID || msg.Topic != "news.sports" || msg.From == nil || msg.From.Service != testKeyName {
			t.Fatalf("subscriber got %s, want %s through news.sports from %s", data, pr.ID, testKeyName)
		}
	}

	for _, tc := range []struct {
		name, path, body string
		status           int
		code             protocol.Code
	}{
		{"invalid topic", "/v1/topics/news..sports/messages", `{"type":"notification.v1","payload":{"title":"x"}}`, 400, protocol.CodeBadRequest},
		{"a wildcard is no topic", "/v1/topics/news.*/messages", `{"type":"notification.v1","payload":{"title":"x"}}`, 400, protocol.CodeBadRequest},
		{"type that may not go to topics", "/v1/topics/news/messages", `{"type":"playback.control.v1","payload":{"action":"pause"}}`, 403, protocol.CodeForbidden},
		{"unknown type", "/v1/topics/news/messages", `{"type":"nope.v1","payload":{}}`, 422, protocol.CodeUnknownType},
		{"invalid payload", "/v1/topics/news/messages", `{"type":"notification.v1","payload":{"title":7}}`, 422, protocol.CodeSchemaInvalid},
		{"misspelt member", "/v1/topics/news/messages", `{"type":"notification.v1","payload":{"title":"x"},"tll":5}`, 400, protocol.CodeBadRequest},
		{"no payload", "/v1/topics/news/messages", `{"type":"notification.v1"}`, 400, protocol.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := st.do(t, http.MethodPost, tc.path, testAPIKey, []byte(tc.body))
			checkProblem(t, resp, body, tc.status, tc.code)
		})
	}

	t.Run("a topic nobody subscribes to", func(t *testing.T) {
		resp, body := st.do(t, http.MethodPost, "/v1/topics/nobody.here/messages", testAPIKey, []byte(`{"type":"notification.v1","payload":{"title":"x"}}`))
		var pr PublishResponse
		if err := json.Unmarshal(body, &pr); resp.StatusCode != http.StatusOK || err != nil || pr.Edges != 0 || pr.Devices != 0 {
			t.Fatalf("HTTP %d %s, want 0 edges and 0 devices", resp.StatusCode, body)
		}
	})
}
