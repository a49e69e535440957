package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A second API key, for what must stay apart between senders.
const (
	otherAPIKey  = "secret-key-other"
	otherKeyName = "other-backend"
)

// recordingQueue is a Queue that keeps what it accepts. It fails its first
// failures enqueues the way processor.Producer fails when Kafka is down. The real
// producer's path is covered by TestSendMessageKafka.
type recordingQueue struct {
	mu       sync.Mutex
	failures int                  // enqueues still to fail
	attempts int                  // Enqueue calls
	batches  int                  // EnqueueBatch calls
	msgs     []*processor.Message // accepted, in order
	// hold, when not nil, keeps each Enqueue waiting until it is closed, after
	// sending on entered.
	hold, entered chan struct{}
}

var _ Queue = (*recordingQueue)(nil)

func (q *recordingQueue) Enqueue(_ context.Context, m *processor.Message) error {
	if q.hold != nil {
		q.entered <- struct{}{}
		<-q.hold
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.attempts++
	if q.failures > 0 {
		q.failures--
		return fmt.Errorf("test queue: enqueue %s: %w", m.ID, processor.ErrUnavailable)
	}
	c := *m
	q.msgs = append(q.msgs, &c)
	return nil
}

// EnqueueBatch enqueues each of ms as Enqueue does, and counts one call.
func (q *recordingQueue) EnqueueBatch(ctx context.Context, ms []*processor.Message) []error {
	q.mu.Lock()
	q.batches++
	q.mu.Unlock()
	errs := make([]error, len(ms))
	for i, m := range ms {
		errs[i] = q.Enqueue(ctx, m)
	}
	return errs
}

// calls returns how many times Enqueue was called and the messages it accepted.
func (q *recordingQueue) calls() (int, []*processor.Message) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.attempts, append([]*processor.Message(nil), q.msgs...)
}

// brokenStatuses is a Statuses whose store cannot be reached.
type brokenStatuses struct{}

var _ Statuses = brokenStatuses{}

func (brokenStatuses) Get(context.Context, string) (*processor.MessageStatus, error) {
	return nil, errors.New("test statuses: connection refused")
}

// mustAPI serves the API alone on an httptest server, with the test types and
// both test API keys; set, when not nil, adjusts the config first. Nothing is
// connected behind the sync push: these tests are about the asynchronous path.
func mustAPI(tb testing.TB, set func(*Config)) *stack {
	tb.Helper()
	types, err := protocol.LoadTypes(schemas.FS, testTypes)
	if err != nil {
		tb.Fatalf("LoadTypes: %v", err)
	}
	reg := registry.NewMemory()
	devs := devicelist.NewMemory()
	cfg := Config{
		Types:         types,
		Deliverer:     &edge.Router{Registry: reg},
		Directory:     reg,
		Devices:       devs,
		Subscriptions: devs,
		Keys:          []Key{NewKey(testKeyName, testAPIKey), NewKey(otherKeyName, otherAPIKey)},
		MaxBodyBytes:  testMaxBodyBytes,
	}
	if set != nil {
		set(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		tb.Fatalf("api.New: %v", err)
	}
	srv := httptest.NewServer(a.Handler())
	tb.Cleanup(srv.Close)
	return &stack{url: srv.URL, client: srv.Client(), reg: reg, api: a}
}

// asyncAPI is the API with a recording queue and in-memory statuses and
// idempotency keys.
type asyncAPI struct {
	*stack
	queue    *recordingQueue
	statuses *processor.MemoryStatus
}

// mustAsyncAPI returns an API with a recording queue and the memory stores,
// its config changed by adjust.
func mustAsyncAPI(tb testing.TB, adjust ...func(*Config)) *asyncAPI {
	tb.Helper()
	a := &asyncAPI{queue: &recordingQueue{}, statuses: processor.NewMemoryStatus(0, 0)}
	a.stack = mustAPI(tb, func(c *Config) {
		c.Queue = a.queue
		c.Statuses = a.statuses
		c.Idempotency = processor.NewMemoryIdempotency(0)
		for _, f := range adjust {
			f(c)
		}
	})
	return a
}

// postMessage posts body to /v1/messages with the API key key ("" for none) and,
// when idem is not "", an Idempotency-Key header.
func (st *stack) postMessage(tb testing.TB, key, idem, body string) (*http.Response, []byte) {
	tb.Helper()
	return st.postIdem(tb, "/v1/messages", key, idem, body)
}

// postIdem posts body to path as postMessage does.
func (st *stack) postIdem(tb testing.TB, path, key, idem, body string) (*http.Response, []byte) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, st.url+path, strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if idem != "" {
		req.Header.Set("Idempotency-Key", idem)
	}
	resp, err := st.client.Do(req)
	if err != nil {
		tb.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("POST %s: reading the body: %v", path, err)
	}
	return resp, b
}

// checkAccepted checks that resp is a 202 with a message id and a Location that
// points at its status, and returns the id.
func checkAccepted(tb testing.TB, resp *http.Response, body []byte) string {
	tb.Helper()
	if resp.StatusCode != http.StatusAccepted {
		tb.Fatalf("HTTP %d %s, want 202", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("Content-Type %q, want application/json", ct)
	}
	var ma MessageAccepted
	if err := json.Unmarshal(body, &ma); err != nil {
		tb.Fatalf("decoding %s: %v", body, err)
	}
	if ma.ID == "" {
		tb.Fatalf("response %s has no id", body)
	}
	if loc, want := resp.Header.Get("Location"), "/v1/messages/"+ma.ID; loc != want {
		tb.Errorf("Location %q, want %q", loc, want)
	}
	return ma.ID
}

// mustSend posts body with the test API key and returns the accepted id.
func (st *stack) mustSend(tb testing.TB, idem, body string) string {
	tb.Helper()
	resp, b := st.postMessage(tb, testAPIKey, idem, body)
	return checkAccepted(tb, resp, b)
}

func TestSendMessageErrors(t *testing.T) {
	a := mustAsyncAPI(t)
	to := `"to":{"account":"a1","device":"tv1"}`
	note := `"type":"notification.v1","payload":{"title":"x"}`
	tests := []struct {
		name   string
		key    string // API key; "-" sends none
		idem   string // Idempotency-Key header
		body   string
		status int
		code   protocol.Code
		detail []string // substrings of the problem's detail
	}{
		{
			name: "missing to.account", body: `{"to":{"device":"tv1"},` + note + `}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"to.account"`},
		},
		{
			name: "missing type", body: `{` + to + `,"payload":{"title":"x"}}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"type"`},
		},
		{
			name: "missing payload", body: `{` + to + `,"type":"notification.v1"}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"payload"`},
		},
		{
			name: "null payload", body: `{` + to + `,"type":"notification.v1","payload":null}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"payload"`},
		},
		{
			name: "unknown type", body: `{` + to + `,"type":"nope.thing.v1","payload":{}}`,
			status: 422, code: protocol.CodeUnknownType, detail: []string{"nope.thing.v1"},
		},
		{
			name: "payload fails the schema", body: `{` + to + `,"type":"notification.v1","payload":{"title":5}}`,
			status: 422, code: protocol.CodeSchemaInvalid, detail: []string{"/title"},
		},
		{
			name: "payload misses a required field", body: `{` + to + `,"type":"notification.v1","payload":{"body":"no title"}}`,
			status: 422, code: protocol.CodeSchemaInvalid, detail: []string{"title"},
		},
		{
			name: "device-to-device type", body: `{` + to + `,"type":"remote.key.v1","payload":{"key":"up"}}`,
			status: 403, code: protocol.CodeForbidden, detail: []string{"remote.key.v1"},
		},
		{
			name: "payload over the type's max_bytes", body: `{` + to + `,"type":"test.small.v1","payload":{"note":"` + strings.Repeat("n", 100) + `"}}`,
			status: 413, code: protocol.CodeTooLarge, detail: []string{"64"},
		},
		{
			name: "unknown priority", body: `{` + to + `,` + note + `,"priority":"urgent"}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"priority"`, "urgent"},
		},
		{
			name: "priority in the wrong case", body: `{` + to + `,` + note + `,"priority":"HIGH"}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"priority"`},
		},
		{
			name: "priority of the wrong JSON type", body: `{` + to + `,` + note + `,"priority":1}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"priority"`},
		},
		{
			name: "negative ttl", body: `{` + to + `,` + note + `,"ttl":-1}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"ttl"`, fmt.Sprint(MaxTTL)},
		},
		{
			name: "ttl over MaxTTL", body: `{` + to + `,` + note + `,"ttl":` + fmt.Sprint(MaxTTL+1) + `}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"ttl"`, fmt.Sprint(MaxTTL)},
		},
		{
			name: "ttl not an integer", body: `{` + to + `,` + note + `,"ttl":1.5}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"ttl"`},
		},
		{
			name: "ttl overflowing an int", body: `{` + to + `,` + note + `,"ttl":99999999999999999999}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"ttl"`},
		},
		{
			name: "collapse_key too long", body: `{` + to + `,` + note + `,"collapse_key":"` + strings.Repeat("k", MaxCollapseKey+1) + `"}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"collapse_key"`, fmt.Sprint(MaxCollapseKey)},
		},
		{
			name: "Idempotency-Key too long", idem: strings.Repeat("i", MaxIdempotencyKey+1), body: `{` + to + `,` + note + `}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{"Idempotency-Key", fmt.Sprint(MaxIdempotencyKey)},
		},
		{
			name: "body over MaxBodyBytes", body: `{` + to + `,"type":"notification.v1","payload":{"title":"` + strings.Repeat("x", testMaxBodyBytes) + `"}}`,
			status: 413, code: protocol.CodeTooLarge, detail: []string{fmt.Sprint(testMaxBodyBytes)},
		},
		{
			name: "malformed JSON", body: `{` + to + `,"type":"notification.v1",`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{"not valid JSON"},
		},
		{
			name: "empty body", body: ``,
			status: 400, code: protocol.CodeBadRequest, detail: []string{"JSON"},
		},
		{
			name: "missing API key", key: "-", body: `{` + to + `,` + note + `}`,
			status: 401, code: protocol.CodeUnauthorized, detail: []string{"API key"},
		},
		{
			name: "wrong API key", key: "secret-key-2", body: `{` + to + `,` + note + `}`,
			status: 401, code: protocol.CodeUnauthorized, detail: []string{"API key"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testAPIKey
			switch tt.key {
			case "-":
				key = ""
			case "":
			default:
				key = tt.key
			}
			resp, body := a.postMessage(t, key, tt.idem, tt.body)
			p := checkProblem(t, resp, body, tt.status, tt.code)
			for _, s := range tt.detail {
				if !strings.Contains(p.Detail, s) {
					t.Errorf("detail %q does not mention %q", p.Detail, s)
				}
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("a rejected message has Location %q", loc)
			}
		})
	}
	if n, _ := a.queue.calls(); n != 0 {
		t.Errorf("rejected requests reached the queue %d times", n)
	}
}

func TestSendMessageFields(t *testing.T) {
	a := mustAsyncAPI(t)
	// want holds the fields a request decides; ttl is in seconds, 0 for none.
	type want struct {
		device      string
		priority    protocol.Priority
		ttl         int64
		ack         bool
		collapseKey string
	}
	tests := []struct {
		name string
		body string
		want want
	}{
		{
			// notification.v1: priority high, ttl 3600, no ack.
			name: "notification.v1 defaults",
			body: `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"Hi","body":"there"}}`,
			want: want{device: "tv1", priority: protocol.PriorityHigh, ttl: 3600},
		},
		{
			// app.restart.v1: priority high, ttl 120, ack.
			name: "app.restart.v1 defaults",
			body: `{"to":{"account":"a1"},"type":"app.restart.v1","payload":{"reason":"update"}}`,
			want: want{priority: protocol.PriorityHigh, ttl: 120, ack: true},
		},
		{
			// profile.updated.v1: priority normal, ttl 300, no ack.
			name: "profile.updated.v1 defaults",
			body: `{"to":{"account":"a1"},"type":"profile.updated.v1","payload":{"profile_id":"p1","fields":["name"]}}`,
			want: want{priority: protocol.PriorityNormal, ttl: 300},
		},
		{
			// test.small.v1 sets neither: priority normal, no ttl.
			name: "policy without priority or ttl",
			body: `{"to":{"account":"a1"},"type":"test.small.v1","payload":{"note":"n"}}`,
			want: want{priority: protocol.PriorityNormal, ttl: 0},
		},
		{
			name: "every field overridden",
			body: `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"Score"},"priority":"low","ttl":60,"ack":true,"collapse_key":"score"}`,
			want: want{device: "tv1", priority: protocol.PriorityLow, ttl: 60, ack: true, collapseKey: "score"},
		},
		{
			name: "priority normal overrides high",
			body: `{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"x"},"priority":"normal"}`,
			want: want{priority: protocol.PriorityNormal, ttl: 3600},
		},
		{
			name: "ack false overrides the type's ack",
			body: `{"to":{"account":"a1"},"type":"app.restart.v1","payload":{"reason":"update"},"ack":false}`,
			want: want{priority: protocol.PriorityHigh, ttl: 120, ack: false},
		},
		{
			name: "ttl 0 never expires",
			body: `{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"x"},"ttl":0}`,
			want: want{priority: protocol.PriorityHigh, ttl: 0},
		},
		{
			name: "ttl of exactly MaxTTL",
			body: `{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"x"},"ttl":` + fmt.Sprint(MaxTTL) + `}`,
			want: want{priority: protocol.PriorityHigh, ttl: MaxTTL},
		},
		{
			name: "collapse_key of exactly MaxCollapseKey",
			body: `{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"x"},"collapse_key":"` + strings.Repeat("k", MaxCollapseKey) + `"}`,
			want: want{priority: protocol.PriorityHigh, ttl: 3600, collapseKey: strings.Repeat("k", MaxCollapseKey)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req MessageRequest
			if err := json.Unmarshal([]byte(tt.body), &req); err != nil {
				t.Fatalf("test body %s: %v", tt.body, err)
			}
			before := time.Now().UnixMilli()
			id := a.mustSend(t, "", tt.body)
			after := time.Now().UnixMilli()
			_, msgs := a.queue.calls()
			if len(msgs) == 0 || msgs[len(msgs)-1].ID != id {
				t.Fatalf("the queue did not get message %s last", id)
			}
			m := msgs[len(msgs)-1]
			if m.Account != req.To.Account || m.Device != tt.want.device {
				t.Errorf("to %s/%s, want %s/%s", m.Account, m.Device, req.To.Account, tt.want.device)
			}
			if m.Type != req.Type {
				t.Errorf("type %q, want %q", m.Type, req.Type)
			}
			if got, want := compact(t, m.Payload), compact(t, req.Payload); got != want {
				t.Errorf("payload %s, want %s", got, want)
			}
			if m.From != testKeyName {
				t.Errorf("from %q, want the API key's name %q", m.From, testKeyName)
			}
			if m.Priority != tt.want.priority {
				t.Errorf("priority %q, want %q", m.Priority, tt.want.priority)
			}
			if m.Ack != tt.want.ack {
				t.Errorf("ack %v, want %v", m.Ack, tt.want.ack)
			}
			if m.CollapseKey != tt.want.collapseKey {
				t.Errorf("collapse_key %q, want %q", m.CollapseKey, tt.want.collapseKey)
			}
			if m.Accepted < before || m.Accepted > after {
				t.Errorf("accepted %d, not within the request's %d..%d", m.Accepted, before, after)
			}
			var expires int64
			if tt.want.ttl > 0 {
				expires = m.Accepted + tt.want.ttl*1000
			}
			if m.Expires != expires {
				t.Errorf("expires %d, want %d (accepted %d + ttl %ds)", m.Expires, expires, m.Accepted, tt.want.ttl)
			}
			if err := m.Validate(); err != nil {
				t.Errorf("the enqueued message is not valid for a processor: %v", err)
			}
		})
	}

	t.Run("From is the name of the key used", func(t *testing.T) {
		resp, b := a.postMessage(t, otherAPIKey, "", `{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"x"}}`)
		id := checkAccepted(t, resp, b)
		_, msgs := a.queue.calls()
		if m := msgs[len(msgs)-1]; m.ID != id || m.From != otherKeyName {
			t.Errorf("last message %s from %q, want %s from %q", m.ID, m.From, id, otherKeyName)
		}
	})
	t.Run("every message has its own id", func(t *testing.T) {
		body := `{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"x"}}`
		if id1, id2 := a.mustSend(t, "", body), a.mustSend(t, "", body); id1 == id2 {
			t.Errorf("two sends without an Idempotency-Key both got id %s", id1)
		}
	})
}

func TestSendMessageIdempotency(t *testing.T) {
	body := `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"Once"}}`

	t.Run("same key and body is sent once", func(t *testing.T) {
		a := mustAsyncAPI(t)
		resp1, b1 := a.postMessage(t, testAPIKey, "k1", body)
		id1 := checkAccepted(t, resp1, b1)
		if h := resp1.Header.Get("Idempotent-Replayed"); h != "" {
			t.Errorf("first answer has Idempotent-Replayed %q", h)
		}
		resp2, b2 := a.postMessage(t, testAPIKey, "k1", body)
		id2 := checkAccepted(t, resp2, b2)
		if id2 != id1 {
			t.Errorf("replay answered id %s, want the first %s", id2, id1)
		}
		if h := resp2.Header.Get("Idempotent-Replayed"); h != "true" {
			t.Errorf("replay has Idempotent-Replayed %q, want true", h)
		}
		if n, msgs := a.queue.calls(); n != 1 || len(msgs) != 1 || msgs[0].ID != id1 {
			t.Errorf("queue called %d times with %d messages, want once with %s", n, len(msgs), id1)
		}
	})

	t.Run("same key with another body is 409", func(t *testing.T) {
		a := mustAsyncAPI(t)
		id := a.mustSend(t, "k1", body)
		other := strings.Replace(body, "Once", "Twice", 1)
		resp, b := a.postMessage(t, testAPIKey, "k1", other)
		p := checkProblem(t, resp, b, http.StatusConflict, protocol.CodeConflict)
		if !strings.Contains(p.Detail, "Idempotency-Key") {
			t.Errorf("detail %q does not name the Idempotency-Key", p.Detail)
		}
		if loc := resp.Header.Get("Location"); loc != "" {
			t.Errorf("409 has Location %q", loc)
		}
		if n, _ := a.queue.calls(); n != 1 {
			t.Errorf("queue called %d times, want once", n)
		}
		// The key still answers the first body.
		resp, b = a.postMessage(t, testAPIKey, "k1", body)
		if got := checkAccepted(t, resp, b); got != id {
			t.Errorf("first body again answered %s, want %s", got, id)
		}
	})

	t.Run("a retry while the first send runs is 409, and the failed first is never replayed", func(t *testing.T) {
		a := mustAsyncAPI(t)
		a.queue.hold, a.queue.entered = make(chan struct{}), make(chan struct{}, 1)
		a.queue.failures = 1
		first := make(chan *http.Response, 1)
		go func() {
			resp, _ := a.postMessage(t, testAPIKey, "k1", body)
			first <- resp
		}()
		<-a.queue.entered
		resp, b := a.postMessage(t, testAPIKey, "k1", body)
		checkProblem(t, resp, b, http.StatusConflict, protocol.CodeConflict)
		if resp.Header.Get("Retry-After") == "" {
			t.Error("409 for a send in progress has no Retry-After")
		}
		close(a.queue.hold)
		if r := <-first; r.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("first send: HTTP %d, want 503", r.StatusCode)
		}
		a.queue.hold = nil
		id := a.mustSend(t, "k1", body)
		if n, msgs := a.queue.calls(); n != 2 || len(msgs) != 1 || msgs[0].ID != id {
			t.Errorf("queue called %d times, accepted %d, want the retry %s accepted", n, len(msgs), id)
		}
	})

	t.Run("keys of different API keys are different keys", func(t *testing.T) {
		a := mustAsyncAPI(t)
		id1 := a.mustSend(t, "k1", body)
		resp, b := a.postMessage(t, otherAPIKey, "k1", body)
		id2 := checkAccepted(t, resp, b)
		if id1 == id2 {
			t.Errorf("both API keys got id %s", id1)
		}
		if h := resp.Header.Get("Idempotent-Replayed"); h != "" {
			t.Errorf("the other API key's send has Idempotent-Replayed %q", h)
		}
		if n, _ := a.queue.calls(); n != 2 {
			t.Errorf("queue called %d times, want twice", n)
		}
	})

	t.Run("different keys are sent apart", func(t *testing.T) {
		a := mustAsyncAPI(t)
		if id1, id2 := a.mustSend(t, "k1", body), a.mustSend(t, "k2", body); id1 == id2 {
			t.Errorf("keys k1 and k2 both got id %s", id1)
		}
	})

	t.Run("a rejected request does not claim its key", func(t *testing.T) {
		a := mustAsyncAPI(t)
		resp, b := a.postMessage(t, testAPIKey, "k1", `{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"x"},"ttl":-1}`)
		checkProblem(t, resp, b, http.StatusBadRequest, protocol.CodeBadRequest)
		resp, b = a.postMessage(t, testAPIKey, "k1", body)
		checkAccepted(t, resp, b)
		if h := resp.Header.Get("Idempotent-Replayed"); h != "" {
			t.Errorf("send after a rejected one has Idempotent-Replayed %q", h)
		}
	})

	t.Run("a failed enqueue releases the key", func(t *testing.T) {
		a := mustAsyncAPI(t)
		a.queue.failures = 1
		resp, b := a.postMessage(t, testAPIKey, "k1", body)
		checkProblem(t, resp, b, http.StatusServiceUnavailable, protocol.CodeUnavailable)
		if loc := resp.Header.Get("Location"); loc != "" {
			t.Errorf("503 has Location %q", loc)
		}
		if n, msgs := a.queue.calls(); n != 1 || len(msgs) != 0 {
			t.Fatalf("queue called %d times with %d accepted, want 1 failed call", n, len(msgs))
		}
		resp, b = a.postMessage(t, testAPIKey, "k1", body)
		id := checkAccepted(t, resp, b)
		if h := resp.Header.Get("Idempotent-Replayed"); h != "" {
			t.Errorf("retry after a failure has Idempotent-Replayed %q; it must have sent", h)
		}
		n, msgs := a.queue.calls()
		if n != 2 || len(msgs) != 1 || msgs[0].ID != id {
			t.Fatalf("queue called %d times with %d accepted, want 2 calls and %s accepted", n, len(msgs), id)
		}
		// Now the key holds the retry's id.
		resp, b = a.postMessage(t, testAPIKey, "k1", body)
		if got := checkAccepted(t, resp, b); got != id || resp.Header.Get("Idempotent-Replayed") != "true" {
			t.Errorf("third send answered %s (replayed %q), want a replay of %s", got, resp.Header.Get("Idempotent-Replayed"), id)
		}
	})

	t.Run("without an Idempotency store the header is ignored", func(t *testing.T) {
		q := &recordingQueue{}
		st := mustAPI(t, func(c *Config) { c.Queue = q })
		if id1, id2 := st.mustSend(t, "k1", body), st.mustSend(t, "k1", body); id1 == id2 {
			t.Errorf("both sends got id %s", id1)
		}
		if n, _ := q.calls(); n != 2 {
			t.Errorf("queue called %d times, want twice", n)
		}
	})
}

func TestMessagesNotConfigured(t *testing.T) {
	st := mustStack(t) // as `herald serve` wires it without Kafka
	body := `{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"x"}}`
	tests := []struct {
		name, method, path, body string
	}{
		{"POST /v1/messages", http.MethodPost, "/v1/messages", body},
		{"GET /v1/messages/{id}", http.MethodGet, "/v1/messages/" + protocol.NewID(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b []byte
			if tt.body != "" {
				b = []byte(tt.body)
			}
			resp, rb := st.do(t, tt.method, tt.path, testAPIKey, b)
			p := checkProblem(t, resp, rb, http.StatusServiceUnavailable, protocol.CodeUnavailable)
			if !strings.Contains(p.Detail, "not configured") {
				t.Errorf("detail %q does not say it is not configured", p.Detail)
			}
		})
	}
}

func TestMessageStatus(t *testing.T) {
	a := mustAsyncAPI(t)
	ctx := t.Context()
	const at = int64(1_700_000_000_000)
	tests := []struct {
		name   string
		events []processor.Event // recorded under a fresh id
		want   processor.MessageStatus
	}{
		{
			name:   "queued",
			events: []processor.Event{{Account: "a1", Status: processor.Queued, Priority: protocol.PriorityHigh, At: at}},
			want:   processor.MessageStatus{Account: "a1", Priority: protocol.PriorityHigh, Status: processor.Queued, Accepted: at, Devices: []processor.DeviceStatus{}},
		},
		{
			name: "every device delivered",
			events: []processor.Event{
				{Account: "a1", Status: processor.Queued, Priority: protocol.PriorityNormal, At: at},
				{Account: "a1", Device: "tv1", Status: processor.Delivered, At: at + 10},
				{Account: "a1", Device: "phone2", Status: processor.Delivered, At: at + 20},
			},
			want: processor.MessageStatus{Account: "a1", Priority: protocol.PriorityNormal, Status: processor.Delivered, Accepted: at, Devices: []processor.DeviceStatus{
				{Device: "phone2", Status: processor.Delivered, At: at + 20, History: []processor.Step{{Status: processor.Delivered, At: at + 20}}},
				{Device: "tv1", Status: processor.Delivered, At: at + 10, History: []processor.Step{{Status: processor.Delivered, At: at + 10}}},
			}},
		},
		{
			name: "devices differ",
			events: []processor.Event{
				{Account: "a1", Status: processor.Queued, Priority: protocol.PriorityLow, At: at},
				{Account: "a1", Device: "tv1", Status: processor.Delivered, At: at + 10},
				{Account: "a1", Device: "tv1", Status: processor.Acked, At: at + 30},
				{Account: "a1", Device: "tab3", Status: processor.Failed, Error: "connection lost", At: at + 40},
			},
			want: processor.MessageStatus{Account: "a1", Priority: protocol.PriorityLow, Status: processor.Mixed, Accepted: at, Devices: []processor.DeviceStatus{
				{Device: "tab3", Status: processor.Failed, Error: "connection lost", At: at + 40,
					History: []processor.Step{{Status: processor.Failed, At: at + 40, Error: "connection lost"}}},
				{Device: "tv1", Status: processor.Acked, At: at + 30,
					History: []processor.Step{{Status: processor.Delivered, At: at + 10}, {Status: processor.Acked, At: at + 30}}},
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := protocol.NewID()
			for _, e := range tt.events {
				e.ID = id
				if err := a.statuses.Record(ctx, e); err != nil {
					t.Fatalf("Record %+v: %v", e, err)
				}
			}
			resp, b := a.do(t, http.MethodGet, "/v1/messages/"+id, testAPIKey, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d %s, want 200", resp.StatusCode, b)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q, want application/json", ct)
			}
			var got processor.MessageStatus
			if err := json.Unmarshal(b, &got); err != nil {
				t.Fatalf("decoding %s: %v", b, err)
			}
			want := tt.want
			want.ID = id
			if !reflect.DeepEqual(got, want) {
				t.Errorf("status\n got %+v\nwant %+v", got, want)
			}
			// devices is a list even when empty, as the document says.
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(b, &raw); err != nil {
				t.Fatal(err)
			}
			if d := raw["devices"]; !bytes.HasPrefix(d, []byte("[")) {
				t.Errorf("devices is %s, want a list", d)
			}
		})
	}

	t.Run("a sent message is queued at once", func(t *testing.T) {
		id := a.mustSend(t, "", `{"to":{"account":"a9","device":"tv1"},"type":"notification.v1","payload":{"title":"x"}}`)
		_, msgs := a.queue.calls()
		m := msgs[len(msgs)-1]
		resp, b := a.do(t, http.MethodGet, "/v1/messages/"+id, testAPIKey, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d %s, want 200 right after the send", resp.StatusCode, b)
		}
		var got processor.MessageStatus
		if err := json.Unmarshal(b, &got); err != nil {
			t.Fatalf("decoding %s: %v", b, err)
		}
		want := processor.MessageStatus{ID: id, Account: "a9", Priority: protocol.PriorityHigh, Status: processor.Queued, Accepted: m.Accepted, Devices: []processor.DeviceStatus{}}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("status\n got %+v\nwant %+v", got, want)
		}
	})

	t.Run("unknown id is 404", func(t *testing.T) {
		id := protocol.NewID()
		resp, b := a.do(t, http.MethodGet, "/v1/messages/"+id, testAPIKey, nil)
		p := checkProblem(t, resp, b, http.StatusNotFound, protocol.CodeNotFound)
		if !strings.Contains(p.Detail, id) {
			t.Errorf("detail %q does not name %s", p.Detail, id)
		}
	})

	t.Run("missing API key is 401", func(t *testing.T) {
		resp, b := a.do(t, http.MethodGet, "/v1/messages/"+protocol.NewID(), "", nil)
		checkProblem(t, resp, b, http.StatusUnauthorized, protocol.CodeUnauthorized)
	})

	t.Run("unreachable status store is 503", func(t *testing.T) {
		st := mustAPI(t, func(c *Config) { c.Statuses = brokenStatuses{} })
		resp, b := st.do(t, http.MethodGet, "/v1/messages/"+protocol.NewID(), testAPIKey, nil)
		checkProblem(t, resp, b, http.StatusServiceUnavailable, protocol.CodeUnavailable)
	})
}

// TestSendMessageKafka sends through the real producer to an in-process Kafka:
// the record is what a processor reads, and a send while Kafka is down is
// refused rather than accepted.
func TestSendMessageKafka(t *testing.T) {
	topics := processor.Topics{}
	c := testenv.Kafka(t, 1, topics.All()...)
	prod, err := processor.NewProducer(processor.ProducerConfig{
		Kafka:   []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)},
		Timeout: time.Second,
	})
	if err != nil {
		t.Fatalf("NewProducer: %v", err)
	}
	closeProd := sync.OnceFunc(prod.Close)
	t.Cleanup(closeProd)
	st := mustAPI(t, func(cfg *Config) { cfg.Queue = prod })

	body := `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"Goal","body":"2:1"},"priority":"low","ttl":60,"ack":true,"collapse_key":"score"}`
	before := time.Now().UnixMilli()
	id := st.mustSend(t, "", body)
	after := time.Now().UnixMilli()

	t.Run("the record is on the topic of its priority", func(t *testing.T) {
		rec := mustConsumeOne(t, c.ListenAddrs(), topics.Messages(protocol.PriorityLow))
		if string(rec.Key) != "a1" {
			t.Errorf("record key %q, want the account a1", rec.Key)
		}
		var m processor.Message
		if err := json.Unmarshal(rec.Value, &m); err != nil {
			t.Fatalf("record value %s is not a processor.Message: %v", rec.Value, err)
		}
		if err := m.Validate(); err != nil {
			t.Errorf("record %s: %v", rec.Value, err)
		}
		if m.ID != id || m.Account != "a1" || m.Device != "tv1" || m.Type != "notification.v1" || m.From != testKeyName {
			t.Errorf("message %+v, want %s to a1/tv1 of notification.v1 from %s", m, id, testKeyName)
		}
		if m.Priority != protocol.PriorityLow || !m.Ack || m.CollapseKey != "score" {
			t.Errorf("message priority %q ack %v collapse_key %q, want low, true, score", m.Priority, m.Ack, m.CollapseKey)
		}
		if m.Accepted < before || m.Accepted > after || m.Expires != m.Accepted+60_000 {
			t.Errorf("accepted %d expires %d, want accepted within %d..%d and expires 60 s later", m.Accepted, m.Expires, before, after)
		}
		if got, want := compact(t, m.Payload), `{"title":"Goal","body":"2:1"}`; got != want {
			t.Errorf("payload %s, want %s", got, want)
		}
	})

	t.Run("a queued event is on the status topic", func(t *testing.T) {
		rec := mustConsumeOne(t, c.ListenAddrs(), topics.Status())
		var e processor.Event
		if err := json.Unmarshal(rec.Value, &e); err != nil {
			t.Fatalf("record value %s is not a processor.Event: %v", rec.Value, err)
		}
		if string(rec.Key) != id || e.ID != id || e.Account != "a1" || e.Status != processor.Queued || e.Priority != protocol.PriorityLow {
			t.Errorf("record key %q event %+v, want %s queued for a1 at low priority", rec.Key, e, id)
		}
	})

	t.Run("Kafka down is 503", func(t *testing.T) {
		c.Close()
		type answer struct {
			resp *http.Response
			body []byte
			err  error
		}
		done := make(chan answer, 1)
		go func() {
			resp, b, err := st.send(http.MethodPost, "/v1/messages", testAPIKey, []byte(body))
			done <- answer{resp, b, err}
		}()
		// The producer's Timeout is 1 s; the bound only keeps a hung send from
		// hanging the package: closing the producer fails what it holds.
		const bound = 10 * time.Second
		var a answer
		select {
		case a = <-done:
		case <-time.After(bound):
			t.Errorf("no answer %v after Kafka went down (producer Timeout 1s): Enqueue does not return", bound)
			closeProd()
			a = <-done
		}
		if a.err != nil {
			t.Fatal(a.err)
		}
		resp, b := a.resp, a.body
		checkProblem(t, resp, b, http.StatusServiceUnavailable, protocol.CodeUnavailable)
		if loc := resp.Header.Get("Location"); loc != "" {
			t.Errorf("503 has Location %q", loc)
		}
		if bytes.Contains(b, []byte(`"id"`)) {
			t.Errorf("503 body %s carries an id", b)
		}
	})
}

// mustConsumeOne reads the first record of topic from the start, and closes its
// client before returning.
func mustConsumeOne(tb testing.TB, brokers []string, topic string) *kgo.Record {
	tb.Helper()
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(brokers...),
		kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
	)
	if err != nil {
		tb.Fatalf("kafka consumer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("no record on %s within %v", topic, waitBound)
		}
		for _, e := range fs.Errors() {
			tb.Fatalf("consuming %s: %v", e.Topic, e.Err)
		}
		if recs := fs.Records(); len(recs) > 0 {
			return recs[0]
		}
	}
}
