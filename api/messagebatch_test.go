package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
	"github.com/heraldpush/herald/scripts/testenv"
)

// postBatch posts body to /v1/messages/batch and decodes a 200 answer.
func (a *asyncAPI) postBatch(tb testing.TB, body string) MessageBatchResponse {
	tb.Helper()
	resp, b := a.do(tb, http.MethodPost, "/v1/messages/batch", testAPIKey, []byte(body))
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("HTTP %d %s, want 200", resp.StatusCode, b)
	}
	var res MessageBatchResponse
	if err := json.Unmarshal(b, &res); err != nil {
		tb.Fatalf("decoding %s: %v", b, err)
	}
	return res
}

// TestSendMessagesBatch: each message of a batch is validated on its own, the
// valid ones reach the queue in one EnqueueBatch call with what POST
// /v1/messages would have made of them, and each result says its id or its
// problem, in request order.
func TestSendMessagesBatch(t *testing.T) {
	a := mustAsyncAPI(t)
	res := a.postBatch(t, `{"messages":[
		{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"one"},"priority":"high","ttl":60,"collapse_key":"c"},
		{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"two"},"colapse_key":"typo"},
		{"to":{"account":"a1"},"type":"no.such.v1","payload":{}},
		null,
		{"to":{"account":"a2"},"type":"notification.v1","payload":{"title":"three"},"ack":true},
		{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"four"},"idempotency_key":"`+strings.Repeat("k", MaxIdempotencyKey+1)+`"}
	]}`)
	if len(res.Results) != 6 {
		t.Fatalf("%d results, want 6", len(res.Results))
	}
	for _, i := range []int{0, 4} {
		if r := res.Results[i]; r.ID == "" || r.Error != nil || r.Replayed {
			t.Errorf("result %d = %+v, want an id", i, r)
		}
	}
	wantErr := map[int]struct {
		status int
		detail string
	}{
		1: {400, `unknown field "colapse_key"`}, 2: {422, `"no.such.v1"`}, 3: {400, "JSON object"}, 5: {400, `"idempotency_key" is over`},
	}
	for i, want := range wantErr {
		r := res.Results[i]
		if r.ID != "" || r.Error == nil || r.Error.Status != want.status || !strings.Contains(r.Error.Detail, want.detail) {
			t.Errorf("result %d = %+v (error %+v), want a %d whose detail says %q", i, r, r.Error, want.status, want.detail)
		}
	}
	n, msgs := a.queue.calls()
	if n != 2 || a.queue.batches != 1 || len(msgs) != 2 {
		t.Fatalf("queue: %d enqueues in %d batches, %d messages; want 2 in 1", n, a.queue.batches, len(msgs))
	}
	one, three := msgs[0], msgs[1]
	if one.ID != res.Results[0].ID || one.Account != "a1" || one.Device != "tv1" || one.Priority != protocol.PriorityHigh || one.CollapseKey != "c" ||
		one.Expires != one.Accepted+60_000 || one.From != testKeyName || string(one.Payload) != `{"title":"one"}` {
		t.Errorf("first message %+v", one)
	}
	if three.ID != res.Results[4].ID || three.Account != "a2" || three.Device != "" || !three.Ack {
		t.Errorf("third message %+v", three)
	}
	// Each accepted message is queued for GET at once, as a single one is.
	for _, id := range []string{one.ID, three.ID} {
		st, err := a.statuses.Get(t.Context(), id)
		if err != nil || st.Status != processor.Queued {
			t.Errorf("status of %s: %+v, %v; want queued", id, st, err)
		}
	}
}

// TestSendMessagesBatchRefused: what is not a batch is refused as a whole,
// and a batch holds at most MaxBatch messages.
func TestSendMessagesBatchRefused(t *testing.T) {
	const maxBatch = 3
	a := &asyncAPI{queue: &recordingQueue{}, statuses: processor.NewMemoryStatus(0, 0)}
	a.stack = mustAPI(t, func(c *Config) {
		c.Queue, c.Statuses, c.MaxBatch = a.queue, a.statuses, maxBatch
	})
	msg := `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t"}}`
	batch := func(n int) string {
		return `{"messages":[` + strings.TrimSuffix(strings.Repeat(msg+",", n), ",") + `]}`
	}
	tests := []struct {
		name, body string
		status     int
		detail     string
	}{
		{"not JSON", `{"messages":[`, 400, ""},
		{"no messages", `{}`, 400, `"messages" is required`},
		{"empty", `{"messages":[]}`, 400, `"messages" is empty`},
		{"a misspelt member", `{"messages":[` + msg + `],"timeout_ms":5}`, 400, `unknown field "timeout_ms"`},
		{"one over MaxBatch", batch(maxBatch + 1), 413, "at most 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := a.do(t, http.MethodPost, "/v1/messages/batch", testAPIKey, []byte(tt.body))
			code := protocol.CodeBadRequest
			if tt.status == http.StatusRequestEntityTooLarge {
				code = protocol.CodeTooLarge
			}
			p := checkProblem(t, resp, b, tt.status, code)
			if !strings.Contains(p.Detail, tt.detail) {
				t.Errorf("detail %q, want it to say %q", p.Detail, tt.detail)
			}
		})
	}
	if n, _ := a.queue.calls(); n != 0 {
		t.Errorf("%d messages enqueued from refused batches", n)
	}
	if res := a.postBatch(t, batch(maxBatch)); len(res.Results) != maxBatch || res.Results[maxBatch-1].ID == "" {
		t.Errorf("a batch of exactly MaxBatch: %+v", res)
	}
}

// TestSendMessagesBatchKafkaDown: a message Kafka did not take is 503 in its
// slot, and its idempotency key is released so that a retry sends it.
func TestSendMessagesBatchKafkaDown(t *testing.T) {
	a := mustAsyncAPI(t)
	a.queue.failures = 1
	body := `{"messages":[
		{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"a"},"idempotency_key":"k1"},
		{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"b"},"idempotency_key":"k2"}
	]}`
	res := a.postBatch(t, body)
	if r := res.Results[0]; r.Error == nil || r.Error.Status != http.StatusServiceUnavailable || r.ID != "" {
		t.Errorf("first result %+v, want 503", r)
	}
	second := res.Results[1].ID
	if second == "" {
		t.Fatalf("second result %+v, want an id", res.Results[1])
	}
	// The retry sends the first and replays the second.
	res = a.postBatch(t, body)
	if r := res.Results[0]; r.ID == "" || r.Replayed {
		t.Errorf("retried first %+v, want sent now", r)
	}
	if r := res.Results[1]; r.ID != second || !r.Replayed {
		t.Errorf("retried second %+v, want replayed %s", r, second)
	}
	if _, msgs := a.queue.calls(); len(msgs) != 2 {
		t.Errorf("%d messages accepted, want 2", len(msgs))
	}
}

// TestSendMessagesBatchIdempotency: a message's key is bound to its own JSON
// text, whichever way its batch is read (in one pass, or message by message
// when another message is malformed), and shared with POST /v1/messages'
// header.
func TestSendMessagesBatchIdempotency(t *testing.T) {
	a := mustAsyncAPI(t)
	msg := `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"once"},"idempotency_key":"k1"}`
	first := a.postBatch(t, `{"messages":[`+msg+`]}`).Results[0]
	again := a.postBatch(t, `{"messages":[`+msg+`,`+strings.Replace(msg, "once", "other", 1)+`]}`).Results
	if again[0].ID != first.ID || !again[0].Replayed {
		t.Errorf("same message and key again: %+v, want replayed %s", again[0], first.ID)
	}
	if r := again[1]; r.Error == nil || r.Error.Status != http.StatusConflict {
		t.Errorf("same key, another message: %+v, want 409", r)
	}
	if n, _ := a.queue.calls(); n != 1 {
		t.Errorf("%d enqueues, want 1", n)
	}
	// Read message by message: the null beside it is its own problem.
	slow := a.postBatch(t, `{"messages":[null, `+msg+`]}`).Results
	if slow[0].Error == nil || slow[1].ID != first.ID || !slow[1].Replayed {
		t.Errorf("the same message beside a malformed one: %+v, want a problem, then replayed %s", slow, first.ID)
	}
	// And the other way: first read message by message, then in one pass.
	msg2 := strings.Replace(msg, `"k1"`, `"k2"`, 1)
	first2 := a.postBatch(t, `{"messages":[`+msg2+`, null]}`).Results[0]
	if again := a.postBatch(t, `{"messages":[`+msg2+`]}`).Results[0]; first2.ID == "" || again.ID != first2.ID || !again.Replayed {
		t.Errorf("a key first read message by message, then in one pass: %+v, then %+v", first2, again)
	}
	if n, _ := a.queue.calls(); n != 2 {
		t.Errorf("%d enqueues, want 2", n)
	}
	// The same message twice in one batch: the second is in use.
	msg3 := strings.Replace(msg, `"k1"`, `"k3"`, 1)
	twice := a.postBatch(t, `{"messages":[`+msg3+`,`+msg3+`]}`).Results
	if twice[0].ID == "" || twice[1].Error == nil || twice[1].Error.Status != http.StatusConflict || !strings.Contains(twice[1].Error.Detail, "still being processed") {
		t.Errorf("one message twice in a batch: %+v, want sent, then 409 in use", twice)
	}
}

// TestSendMessagesBatchIdempotencyHeader: the Idempotency-Key header is
// refused on a batch, which takes a key per message, before anything is
// enqueued; without it the same batch is accepted.
func TestSendMessagesBatchIdempotencyHeader(t *testing.T) {
	a := mustAsyncAPI(t)
	body := `{"messages":[{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"one"}}]}`
	resp, b := a.postIdem(t, "/v1/messages/batch", testAPIKey, "batch-1", body)
	p := checkProblem(t, resp, b, http.StatusBadRequest, protocol.CodeBadRequest)
	if !strings.Contains(p.Detail, "idempotency_key") || !strings.Contains(p.Detail, "Idempotency-Key") {
		t.Errorf("detail %q does not point from the header to the per-message key", p.Detail)
	}
	if n, _ := a.queue.calls(); n != 0 {
		t.Fatalf("%d enqueues after a refused batch, want 0", n)
	}
	if r := a.postBatch(t, body).Results[0]; r.ID == "" {
		t.Errorf("the same batch without the header: %+v, want an id", r)
	}
}

// TestSendMessagesBatchPaths: a clean batch is decoded in one pass, one with
// a malformed message message by message; both make the same messages.
func TestSendMessagesBatchPaths(t *testing.T) {
	good := []string{
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"one"},"priority":"high","ttl":60,"collapse_key":"c"}`,
		`{"to":{"account":"a2"},"type":"notification.v1","payload":{"title":"three"},"ack":true}`,
		`{"to":{"account":"a3","device":"d"},"type":"notification.v1","payload":{"title":"x"},"ttl":0,"ack":false,"priority":"low"}`,
	}
	bad := `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"two"},"colapse_key":"typo"}`
	run := func(msgs ...string) []*processor.Message {
		a := mustAsyncAPI(t)
		res := a.postBatch(t, `{"messages":[`+strings.Join(msgs, ",")+`]}`)
		if len(res.Results) != len(msgs) {
			t.Fatalf("%d results for %d messages", len(res.Results), len(msgs))
		}
		_, got := a.queue.calls()
		return got
	}
	oneByOne := run(append([]string{bad}, good...)...)
	onePass := run(good...)
	if len(oneByOne) != len(good) || len(onePass) != len(good) {
		t.Fatalf("enqueued %d and %d messages, want %d each", len(oneByOne), len(onePass), len(good))
	}
	for i := range good {
		a, b := *oneByOne[i], *onePass[i]
		// Ids and times are the send's own.
		a.ID, b.ID = "", ""
		for _, m := range []*processor.Message{&a, &b} {
			if m.Expires != 0 {
				m.Expires -= m.Accepted
			}
		}
		a.Accepted, b.Accepted = 0, 0
		if !reflect.DeepEqual(a, b) {
			t.Errorf("message %d: message by message %+v, in one pass %+v", i, a, b)
		}
	}
}

// TestSendMessagesBatchKeysClaimedTogether: the keys of a batch are claimed
// concurrently, in Redis as in memory: a key that an earlier message of the
// batch has is refused (409: bound to another message, or in use for the
// same message) and the first message is sent; every
// other message of a batch of many keys is sent once, and the same batch
// again replays each with its id.
func TestSendMessagesBatchKeysClaimedTogether(t *testing.T) {
	for _, store := range []string{"memory", "redis"} {
		t.Run(store, func(t *testing.T) {
			a := mustAsyncAPI(t, func(c *Config) {
				c.MaxBodyBytes = 1 << 20
				if store == "redis" {
					client, prefix := testenv.RedisClient(t)
					c.Idempotency = processor.NewRedisIdempotency(client, prefix)
				}
			})
			const n = 60
			msgs := make([]string, n)
			for i := range msgs {
				key := fmt.Sprintf("k%d", i)
				if i == n-1 {
					key = "k3" // the same key as message 3
				}
				msgs[i] = fmt.Sprintf(`{"to":{"account":"a%d","device":"d"},"type":"notification.v1","payload":{"title":"m%d"},"idempotency_key":%q}`, i, i, key)
			}
			body := `{"messages":[` + strings.Join(msgs, ",") + `]}`
			first := a.postBatch(t, body).Results
			for i, r := range first[:n-1] {
				if r.ID == "" || r.Replayed || r.Error != nil {
					t.Fatalf("message %d: %+v, want sent", i, r)
				}
			}
			if r := first[n-1]; r.Error == nil || r.Error.Status != http.StatusConflict || r.ID != "" || !strings.Contains(r.Error.Detail, "different request") {
				t.Fatalf("a key twice in the batch: %+v, want 409 for the second, another message", r)
			}
			if _, sent := a.queue.calls(); len(sent) != n-1 || sent[3].Payload == nil || !strings.Contains(string(sent[3].Payload), `"m3"`) {
				t.Fatalf("%d messages enqueued, want %d with message 3 sent under its key", len(sent), n-1)
			}
			again := a.postBatch(t, body).Results
			for i, r := range again[:n-1] {
				if r.ID != first[i].ID || !r.Replayed {
					t.Fatalf("message %d again: %+v, want replayed %s", i, r, first[i].ID)
				}
			}
			if r := again[n-1]; r.Error == nil || r.Error.Status != http.StatusConflict {
				t.Fatalf("the repeated key again: %+v, want 409", r)
			}
			if _, sent := a.queue.calls(); len(sent) != n-1 {
				t.Fatalf("%d messages enqueued after the replay, want %d", len(sent), n-1)
			}
		})
	}
}

// slowClaims is an Idempotency whose claims each take a while, counting how
// many run at once.
type slowClaims struct {
	processor.Idempotency
	now, most atomic.Int64
}

func (s *slowClaims) Claim(ctx context.Context, key, value string, ttl time.Duration) (string, error) {
	n := s.now.Add(1)
	defer s.now.Add(-1)
	for {
		m := s.most.Load()
		if n <= m || s.most.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	return s.Idempotency.Claim(ctx, key, value, ttl)
}

// TestSendMessagesBatchClaimsConcurrently: a batch's claims overlap, at most
// KeyConcurrency at once, instead of waiting for each other; at 1 they run
// one after the other. A negative KeyConcurrency is refused.
func TestSendMessagesBatchClaimsConcurrently(t *testing.T) {
	for _, tt := range []struct {
		name        string
		limit       int // Config.KeyConcurrency
		least, most int64
	}{
		{"default", 0, 2, DefaultKeyConcurrency},
		{"4", 4, 2, 4},
		{"1: one after the other", 1, 1, 1},
	} {
		t.Run(tt.name, func(t *testing.T) {
			slow := &slowClaims{Idempotency: processor.NewMemoryIdempotency(0)}
			a := mustAsyncAPI(t, func(c *Config) {
				c.MaxBodyBytes = 1 << 20
				c.Idempotency = slow
				c.KeyConcurrency = tt.limit
			})
			msgs := make([]string, 2*DefaultKeyConcurrency)
			for i := range msgs {
				msgs[i] = fmt.Sprintf(`{"to":{"account":"a%d"},"type":"notification.v1","payload":{"title":"m"},"idempotency_key":"k%d"}`, i, i)
			}
			for i, r := range a.postBatch(t, `{"messages":[`+strings.Join(msgs, ",")+`]}`).Results {
				if r.ID == "" {
					t.Fatalf("message %d: %+v (%v)", i, r, r.Error)
				}
			}
			if most := slow.most.Load(); most < tt.least || most > tt.most {
				t.Fatalf("at most %d claims at once, want %d to %d", most, tt.least, tt.most)
			}
		})
	}
	types, err := protocol.LoadTypes(schemas.FS, testTypes)
	if err != nil {
		t.Fatal(err)
	}
	reg, devs := registry.NewMemory(), devicelist.NewMemory()
	cfg := Config{Types: types, Deliverer: &edge.Router{Registry: reg}, Directory: reg, Devices: devs, Keys: []Key{NewKey(testKeyName, testAPIKey)}, KeyConcurrency: -1}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "limits must be positive") {
		t.Errorf("a negative KeyConcurrency: %v, want refused as a limit", err)
	}
	cfg.KeyConcurrency = 1
	if _, err := New(cfg); err != nil {
		t.Errorf("KeyConcurrency 1: %v", err)
	}
}

// TestKeyConcurrency: a batch's keys are claimed KeyConcurrency at once,
// but one after the other with a store in the process, where goroutines
// gain nothing.
func TestKeyConcurrency(t *testing.T) {
	mem := processor.NewMemoryIdempotency(0)
	for _, tt := range []struct {
		name  string
		store processor.Idempotency
		want  int
	}{
		{"in memory", mem, 1},
		{"in Redis", processor.NewRedisIdempotency(nil, "k:"), 16},
		{"a store of its own", &slowClaims{Idempotency: mem}, 16},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s := &Server{cfg: Config{Idempotency: tt.store, KeyConcurrency: 16}}
			if got := s.keyConcurrency(); got != tt.want {
				t.Errorf("keyConcurrency() = %d, want %d", got, tt.want)
			}
		})
	}
}
