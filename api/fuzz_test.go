package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
)

// The REST fuzz targets serve arbitrary bodies through the real handler, with
// an empty registry behind it (every device offline) and a queue that keeps
// nothing. Whatever the body, the answer is a 2xx or a 4xx problem: a client's
// input never panics the server and never makes it answer 5xx.

// countingQueue accepts every message and keeps only their number, so that a
// long fuzz run does not grow.
type countingQueue struct{ n atomic.Int64 }

func (q *countingQueue) Enqueue(context.Context, *processor.Message) error {
	q.n.Add(1)
	return nil
}

func (q *countingQueue) EnqueueBatch(_ context.Context, ms []*processor.Message) []error {
	q.n.Add(int64(len(ms)))
	return make([]error, len(ms))
}

// fuzzMaxBody is the fuzzed API's MaxBodyBytes: over it is 413, a 4xx too.
const fuzzMaxBody = 64 << 10

// mustFuzzAPI returns the handler of an API with the test types and key.
func mustFuzzAPI(tb testing.TB) http.Handler {
	tb.Helper()
	types, err := protocol.LoadTypes(schemas.FS, testTypes)
	if err != nil {
		tb.Fatalf("LoadTypes: %v", err)
	}
	reg := registry.NewMemory()
	a, err := New(Config{
		Types:        types,
		Deliverer:    &edge.Router{Registry: reg},
		Directory:    reg,
		Devices:      devicelist.NewMemory(),
		Keys:         []Key{NewKey(testKeyName, testAPIKey)},
		Queue:        &countingQueue{},
		MaxBodyBytes: fuzzMaxBody,
	})
	if err != nil {
		tb.Fatalf("api.New: %v", err)
	}
	return a.Handler()
}

// checkClientAnswer serves body to method path and checks the answer: a 2xx
// with a JSON body, or a 4xx problem whose status and code agree.
func checkClientAnswer(t *testing.T, h http.Handler, method, path string, body []byte) {
	t.Helper()
	req := httptest.NewRequest(method, path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	status, out := rec.Code, rec.Body.Bytes()
	switch {
	case status >= 200 && status < 300:
		if !json.Valid(out) {
			t.Fatalf("%s %s %q: HTTP %d with a body that is not JSON: %q", method, path, body, status, out)
		}
	case status >= 400 && status < 500:
		if ct := rec.Header().Get("Content-Type"); ct != protocol.ProblemContentType {
			t.Fatalf("%s %s %q: HTTP %d with Content-Type %q, want a problem", method, path, body, status, ct)
		}
		var p protocol.Problem
		if err := json.Unmarshal(out, &p); err != nil {
			t.Fatalf("%s %s %q: HTTP %d problem %q: %v", method, path, body, status, out, err)
		}
		if p.Status != status || p.Code == "" || p.Detail == "" {
			t.Fatalf("%s %s %q: HTTP %d, problem %+v", method, path, body, status, p)
		}
	default:
		t.Fatalf("%s %s %q: HTTP %d %s: a client's input must get a 2xx or a 4xx", method, path, body, status, out)
	}
}

// addSeeds adds each seed to f.
func addSeeds(f *testing.F, seeds ...string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
}

// malformedSeeds are bodies that no endpoint takes.
var malformedSeeds = []string{
	``, `null`, `[]`, `"x"`, `1e999`, `{`, `{"to":`, `{}{}`, "\xff\xfe", `{"to":null}`,
	strings.Repeat(`[`, 20000), `{"payload":` + strings.Repeat(`{"a":`, 3000) + `1` + strings.Repeat(`}`, 3000) + `}`,
}

func FuzzPushRequest(f *testing.F) {
	addSeeds(f, malformedSeeds...)
	addSeeds(f,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"Hello","body":"from Herald"}}`,
		`{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"All"},"ack":true,"timeout_ms":100}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"playback.control.v1","payload":{"action":"seek","position_ms":1000}}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"test.small.v1","payload":{"note":"`+strings.Repeat("n", 80)+`"}}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"remote.key.v1","payload":{"key":"ok"}}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"no.such.v1","payload":{}}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":1}}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t"},"timeout_ms":-1}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t"},"timeout_ms":9223372036854775807}`,
		`{"to":{"account":"","device":"tv1"},"type":"notification.v1","payload":null}`,
		`{"to":{"account":"a1","devices":["tv1"]},"type":"notification.v1","payload":{"title":"t"}}`,
		`{"to":{"account":"a1","device_id":"tv1"},"type":"notification.v1","payload":{"title":"t"}}`,
		`{"to":{"account":"a1","device":""},"type":"notification.v1","payload":{"title":"t"}}`,
		`{"to":{"account":"a1","device":null},"type":"notification.v1","payload":{"title":"t"}}`,
		`{"to":{"account":"a 1","device":"tv/1"},"type":"notification.v1","payload":{"title":"t"}}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","paylod":{"title":"t"}}`,
	)
	h := mustFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkClientAnswer(t, h, http.MethodPost, "/v1/push", body)
	})
}

func FuzzPushBatchRequest(f *testing.F) {
	addSeeds(f, malformedSeeds...)
	addSeeds(f,
		`{"messages":[{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"1"}},{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"2"}}],"timeout_ms":200}`,
		`{"messages":[null,1,[],"x",{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"1"},"timeout_ms":5}]}`,
		`{"messages":[{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":2}},{"to":{"account":"a1","device":"tv1"},"type":"nope.v1","payload":{}}]}`,
		`{"messages":[]}`, `{"messages":null}`, `{"messages":{}}`, `{"timeout_ms":"1"}`,
		`{"messages":[{}],"timeout_ms":-5}`,
		`{"messages":[{"to":{"account":"a1","device_id":"tv1"},"type":"notification.v1","payload":{"title":"1"}},{"to":{"account":"a1","device":""},"type":"notification.v1","payload":{"title":"2"}}]}`,
		`{"messages":[{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"1"}}],"timeout":5}`,
	)
	h := mustFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkClientAnswer(t, h, http.MethodPost, "/v1/push/batch", body)
	})
}

func FuzzMessageRequest(f *testing.F) {
	addSeeds(f, malformedSeeds...)
	addSeeds(f,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"Later","body":"through Kafka"}}`,
		`{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":"t"},"priority":"high","ttl":0,"collapse_key":"score"}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t"},"priority":"urgent"}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t"},"ttl":-1}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t"},"ttl":99999999999999999999}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t"},"collapse_key":"`+strings.Repeat("k", 300)+`"}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t"},"ack":"yes"}`,
		`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":{"title":"t"},"colapse_key":"score"}`,
		`{"to":{"account":"a1","devices":["tv1"]},"type":"notification.v1","payload":{"title":"t"}}`,
	)
	h := mustFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkClientAnswer(t, h, http.MethodPost, "/v1/messages", body)
		// The same message, and the body itself, as a batch.
		checkClientAnswer(t, h, http.MethodPost, "/v1/messages/batch", append(append([]byte(`{"messages":[`), body...), "]}"...))
		checkClientAnswer(t, h, http.MethodPost, "/v1/messages/batch", body)
	})
}

func FuzzDeviceRequest(f *testing.F) {
	addSeeds(f, malformedSeeds...)
	addSeeds(f,
		`{"platform":"tv","name":"Living room","app_version":"7.1.0","capabilities":["playback"],"attributes":{"room":"living"}}`,
		`{"platform":"","name":"`+strings.Repeat("n", 300)+`"}`,
		`{"capabilities":[1]}`, `{"attributes":{"a":null}}`, `{"attributes":{"":"x"}}`, `{"capabilites":["playback"]}`,
	)
	h := mustFuzzAPI(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkClientAnswer(t, h, http.MethodPut, "/v1/accounts/a1/devices/tv1", body)
	})
}
