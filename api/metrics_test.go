package api

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/schemas"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// value returns the value of a counter series of the metric name whose labels
// are exactly labels (name, value pairs), or the sample count of a histogram; a
// series that does not exist is 0. It does what prometheus/testutil would: the
// module cannot import testutil without a go.mod entry for its diff dependency.
func value(tb testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	tb.Helper()
	fams, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	want := map[string]string{}
	for i := 0; i+1 < len(labels); i += 2 {
		want[labels[i]] = labels[i+1]
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metric:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue metric
				}
			}
			return metricValue(m)
		}
	}
	return 0
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}

// collectAndCount returns the number of series c collects.
func collectAndCount(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}

func TestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	queue := &recordingQueue{}
	st := mustStackWith(t, func(c *Config) {
		c.Metrics = reg
		c.Queue = queue
		c.Statuses = processor.NewMemoryStatus(0, 0)
	})
	st.mustDevice(t, "a1", "tv1")
	st.mustDevice(t, "a1", "phone1")

	// Each push or send, then the series it moves and by how much.
	type delta struct {
		name   string
		labels []string
		by     float64
	}
	msgs := func(path, typ, status string, by float64) delta {
		return delta{metricMessages, []string{"path", path, "type", typ, "status", status}, by}
	}
	reqs := func(route string, code int, by float64) delta {
		return delta{metricRequests, []string{"route", route, "code", strconv.Itoa(code)}, by}
	}
	latency := func(by float64) delta { return delta{metricSyncLatency, nil, by} }
	const note = `"type":"notification.v1","payload":{"title":"Hi"}`
	for _, c := range []struct {
		name         string
		method, path string
		key, body    string
		status       int
		want         []delta
	}{
		{"a push to two devices", http.MethodPost, "/v1/push", testAPIKey, `{"to":{"account":"a1"},` + note + `,"timeout_ms":10000}`, 200,
			[]delta{msgs("push", "notification.v1", "delivered", 2), latency(2), reqs("POST /v1/push", 200, 1)}},
		{"a push to an offline device", http.MethodPost, "/v1/push", testAPIKey, `{"to":{"account":"a1","device":"tv9"},` + note + `}`, 200,
			[]delta{msgs("push", "notification.v1", "offline", 1), latency(1)}},
		{"a push to an account without devices", http.MethodPost, "/v1/push", testAPIKey, `{"to":{"account":"nobody"},` + note + `}`, 200,
			[]delta{msgs("push", "notification.v1", "offline", 1), latency(0)}},
		{"a push of an unknown type", http.MethodPost, "/v1/push", testAPIKey, `{"to":{"account":"a1"},"type":"made.up.v1","payload":{}}`, 422,
			[]delta{msgs("push", otherType, "4xx", 1), msgs("push", "made.up.v1", "4xx", 0), latency(0), reqs("POST /v1/push", 422, 1)}},
		{"a push that is not JSON", http.MethodPost, "/v1/push", testAPIKey, `{`, 400,
			[]delta{msgs("push", otherType, "4xx", 1), reqs("POST /v1/push", 400, 1)}},
		{"a push without a key", http.MethodPost, "/v1/push", "", `{"to":{"account":"a1"},` + note + `}`, 401,
			[]delta{msgs("push", otherType, "4xx", 0), msgs("push", "notification.v1", "4xx", 0), reqs("POST /v1/push", 401, 1)}},
		{"a batch", http.MethodPost, "/v1/push/batch", testAPIKey, `{"messages":[{"to":{"account":"a1"},` + note + `},{"to":{"account":"a1"},"type":"made.up.v1","payload":{}},{"to":{"account":"a1","device":"tv9"},` + note + `}],"timeout_ms":10000}`, 200,
			[]delta{msgs("push", "notification.v1", "delivered", 2), msgs("push", "notification.v1", "offline", 1), msgs("push", otherType, "4xx", 1), latency(3), reqs("POST /v1/push/batch", 200, 1), reqs("POST /v1/push", 200, 0)}},
		{"a batch that is not JSON", http.MethodPost, "/v1/push/batch", testAPIKey, `{`, 400,
			[]delta{msgs("push", otherType, "4xx", 1), latency(0), reqs("POST /v1/push/batch", 400, 1)}},
		{"an empty batch", http.MethodPost, "/v1/push/batch", testAPIKey, `{"messages":[]}`, 400,
			[]delta{msgs("push", otherType, "4xx", 1), reqs("POST /v1/push/batch", 400, 1)}},
		{"an async send", http.MethodPost, "/v1/messages", testAPIKey, `{"to":{"account":"a1"},` + note + `}`, 202,
			[]delta{msgs("async", "notification.v1", "2xx", 1), latency(0), reqs("POST /v1/messages", 202, 1)}},
		{"an invalid async send", http.MethodPost, "/v1/messages", testAPIKey, `{"to":{"account":"a1"},"type":"notification.v1","payload":{"title":5}}`, 422,
			[]delta{msgs("async", "notification.v1", "4xx", 1)}},
		{"a status by id", http.MethodGet, "/v1/messages/nope", testAPIKey, "", 404,
			[]delta{reqs("GET /v1/messages/{id}", 404, 1), reqs("unmatched", 404, 0)}},
		{"no such route", http.MethodGet, "/v1/nope", testAPIKey, "", 404,
			[]delta{reqs("unmatched", 404, 1)}},
		{"a method the route does not have", "BREW", "/v1/push", testAPIKey, "", 405,
			[]delta{reqs("unmatched", 405, 1), reqs("BREW /v1/push", 405, 0)}},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := make([]float64, len(c.want))
			for i, d := range c.want {
				before[i] = value(t, reg, d.name, d.labels...)
			}
			var body []byte
			if c.body != "" {
				body = []byte(c.body)
			}
			resp, b := st.do(t, c.method, c.path, c.key, body)
			if resp.StatusCode != c.status {
				t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, b, c.status)
			}
			for i, d := range c.want {
				if got := value(t, reg, d.name, d.labels...) - before[i]; got != d.by {
					t.Errorf("%s%v moved by %v, want %v", d.name, d.labels, got, d.by)
				}
			}
		})
	}

	t.Run("an enqueue that fails is 5xx", func(t *testing.T) {
		queue.mu.Lock()
		queue.failures = 1
		queue.mu.Unlock()
		resp, b := st.postMessage(t, testAPIKey, "", `{"to":{"account":"a1"},`+note+`}`)
		checkProblem(t, resp, b, http.StatusServiceUnavailable, protocol.CodeUnavailable)
		if got := value(t, reg, metricMessages, "path", "async", "type", "notification.v1", "status", "5xx"); got != 1 {
			t.Errorf("async 5xx = %v, want 1", got)
		}
	})

	t.Run("durations are by route", func(t *testing.T) {
		pushes := 0.0
		for _, code := range []int{200, 400, 401, 422} {
			pushes += value(t, reg, metricRequests, "route", "POST /v1/push", "code", strconv.Itoa(code))
		}
		if got := value(t, reg, metricDuration, "route", "POST /v1/push"); got != pushes || got != 6 {
			t.Errorf("%d durations of POST /v1/push, want one per request: %v", int(got), pushes)
		}
	})

	t.Run("series are bounded to registered types", func(t *testing.T) {
		// notification.v1 and other, each with its fixed statuses: made.up.v1
		// has none.
		if n := collectAndCount(st.api.metrics.messages); n != 2*len(st.api.metrics.other.byStatus) {
			t.Errorf("%d series of %s, want %d", n, metricMessages, 2*len(st.api.metrics.other.byStatus))
		}
	})
}

func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := mustAPI(t, func(c *Config) { c.Metrics = reg })
	b := mustAPI(t, func(c *Config) { c.Metrics = reg })
	if a.api.metrics.messages != b.api.metrics.messages || a.api.metrics.requests != b.api.metrics.requests {
		t.Error("two servers on one registry count in different vectors")
	}
}

func BenchmarkMetricsMessage(b *testing.B) {
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		b.Fatal(err)
	}
	m, err := newMetrics(prometheus.NewRegistry(), types)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		m.message(pathPush, "notification.v1", string(protocol.StatusDelivered))
		m.message(pathAsync, "made.up.v1", "4xx")
		m.syncLatency.Observe(0.001)
	}
}
