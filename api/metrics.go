package api

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// The Prometheus metrics of the API, registered into Config.Metrics:
//
//	herald_api_messages_total{path,type,status}   counter: messages senders asked
//	    to send. path is "push" (POST /v1/push, and each message of POST
//	    /v1/push/batch) or "async" (POST /v1/messages). For a push that reached
//	    delivery, status is each target's result (delivered, acked, offline,
//	    queued, rejected, timeout), one count per target, and offline once for
//	    an account with no device connected. For a push refused before delivery,
//	    and for every async send, status is the class of the HTTP answer: "2xx"
//	    (accepted, or an idempotent replay), "4xx" (refused), "5xx"
//	    (unavailable); a batch message refused on its own counts with the class
//	    of its problem's status, and a batch refused as a whole counts once, as
//	    a push whose body cannot be read does. Requests without a valid API key
//	    are not counted here (see herald_api_requests_total).
//	herald_sync_delivery_latency_seconds           histogram: from a push's
//	    acceptance (validated, targets resolved) to each target's final result,
//	    whatever it is: one sample per target
//	herald_api_requests_total{route,code}          counter: requests answered,
//	    by route and HTTP status code
//	herald_api_request_duration_seconds{route}     histogram: time to answer
//
// type is the message type when the registry knows it, "other" otherwise, so
// that made-up names cannot grow the number of series. route is the method and
// the chi route pattern ("POST /v1/push", "GET /v1/messages/{id}"), never the
// raw path; requests that match no route are "unmatched". Registering into a
// registry that already has these collectors (a second Server) shares them.
const (
	metricMessages    = "herald_api_messages_total"
	metricSyncLatency = "herald_sync_delivery_latency_seconds"
	metricRequests    = "herald_api_requests_total"
	metricDuration    = "herald_api_request_duration_seconds"
)

// The values of herald_api_messages_total's path label.
const (
	pathPush  = "push"
	pathAsync = "async"
)

// otherType is the type label of messages whose type is not registered.
const otherType = "other"

// unmatchedRoute is the route label of requests that match no route.
const unmatchedRoute = "unmatched"

// latencyBuckets spans 100 µs to 30 s, the longest a push may wait.
func latencyBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
}

// statusKey is a path and status label pair.
type statusKey struct{ path, status string }

// typeSeries are the message counters of one type label, resolved once.
type typeSeries struct {
	name     string
	byStatus map[statusKey]prometheus.Counter
}

// routeSeries are the series of one route, resolved once; codes as they occur.
type routeSeries struct {
	name     string
	duration prometheus.Observer
	codes    seriesCache[int, prometheus.Counter]
}

// routeKey is a matched route: its method and pattern.
type routeKey struct{ method, pattern string }

// metrics are a Server's metrics.
type metrics struct {
	messages    *prometheus.CounterVec
	syncLatency prometheus.Histogram
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	types       *protocol.Types
	byType      seriesCache[string, *typeSeries]
	other       *typeSeries
	routes      seriesCache[routeKey, *routeSeries]
	unmatched   *routeSeries
}

func newMetrics(reg prometheus.Registerer, types *protocol.Types) (*metrics, error) {
	messages, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricMessages,
		Help: "Messages senders asked to send, by path (push, async), message type and status: a push target's result, or the class of the HTTP answer.",
	}, []string{"path", "type", "status"}))
	if err != nil {
		return nil, err
	}
	syncLatency, err := register(reg, prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    metricSyncLatency,
		Help:    "Seconds from a push's acceptance to each target's final result.",
		Buckets: latencyBuckets(),
	}))
	if err != nil {
		return nil, err
	}
	requests, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricRequests,
		Help: "API requests answered, by route (method and pattern) and HTTP status code.",
	}, []string{"route", "code"}))
	if err != nil {
		return nil, err
	}
	duration, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricDuration,
		Help:    "Seconds to answer an API request, by route (method and pattern).",
		Buckets: latencyBuckets(),
	}, []string{"route"}))
	if err != nil {
		return nil, err
	}
	m := &metrics{messages: messages, syncLatency: syncLatency, requests: requests, duration: duration, types: types}
	m.other = m.newTypeSeries(otherType)
	m.unmatched = m.newRouteSeries(unmatchedRoute)
	return m, nil
}

func (m *metrics) newTypeSeries(name string) *typeSeries {
	ts := &typeSeries{name: name, byStatus: make(map[statusKey]prometheus.Counter)}
	for _, k := range []statusKey{
		{pathPush, string(protocol.StatusDelivered)}, {pathPush, string(protocol.StatusAcked)},
		{pathPush, string(protocol.StatusOffline)}, {pathPush, string(protocol.StatusQueued)},
		{pathPush, string(protocol.StatusRejected)}, {pathPush, string(protocol.StatusTimeout)},
		{pathPush, "4xx"}, {pathPush, "5xx"},
		{pathAsync, "2xx"}, {pathAsync, "4xx"}, {pathAsync, "5xx"},
	} {
		ts.byStatus[k] = m.messages.WithLabelValues(k.path, name, k.status)
	}
	return ts
}

func (m *metrics) newRouteSeries(name string) *routeSeries {
	return &routeSeries{name: name, duration: m.duration.WithLabelValues(name)}
}

// message counts one message of type typ on path with status.
func (m *metrics) message(path, typ, status string) {
	ts, ok := m.byType.get(typ)
	if !ok {
		if _, known := m.types.Lookup(typ); !known {
			ts = m.other
		} else {
			ts = m.byType.add(typ, func(name string) *typeSeries { return m.newTypeSeries(name) })
		}
	}
	if c, ok := ts.byStatus[statusKey{path, status}]; ok {
		c.Inc()
		return
	}
	// A status this file does not list; still bounded: statuses come from this
	// package and the protocol, not from requests.
	m.messages.WithLabelValues(path, ts.name, status).Inc()
}

// answered counts a message refused or accepted with the HTTP answer code.
func (m *metrics) answered(path, typ string, code int) {
	m.message(path, typ, codeClass(code))
}

// codeClass returns the class of an HTTP status code: "2xx" and so on.
func codeClass(code int) string {
	switch code / 100 {
	case 1:
		return "1xx"
	case 2:
		return "2xx"
	case 3:
		return "3xx"
	case 4:
		return "4xx"
	}
	return "5xx"
}

// route returns the series of a request's route.
func (m *metrics) route(method, pattern string, code int) *routeSeries {
	if pattern == "" || code == http.StatusMethodNotAllowed {
		// chi fills the pattern of a path it knows even when the method is not
		// allowed: the method is the client's, any string at all.
		return m.unmatched
	}
	k := routeKey{method, pattern}
	if rs, ok := m.routes.get(k); ok {
		return rs
	}
	return m.routes.add(k, func(k routeKey) *routeSeries { return m.newRouteSeries(k.method + " " + k.pattern) })
}

// observe is the middleware that counts and times every request by route.
func (m *metrics) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		next.ServeHTTP(sw, r)
		code := sw.status()
		rs := m.route(r.Method, chi.RouteContext(r.Context()).RoutePattern(), code)
		rs.duration.Observe(time.Since(start).Seconds())
		c, ok := rs.codes.get(code)
		if !ok {
			c = rs.codes.add(code, func(code int) prometheus.Counter {
				return m.requests.WithLabelValues(rs.name, strconv.Itoa(code))
			})
		}
		c.Inc()
	})
}

// statusWriter remembers the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.code == 0 && code >= 200 {
		w.code = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *statusWriter) status() int {
	if w.code == 0 {
		return http.StatusOK
	}
	return w.code
}

// statusOf returns the status code written to w so far, 200 when nothing was.
func statusOf(w http.ResponseWriter) int {
	if sw, ok := w.(*statusWriter); ok {
		return sw.status()
	}
	return http.StatusOK
}

// connWriter returns the writer of the connection under w, for what net/http
// recognises by its type (http.MaxBytesReader closing the connection).
func connWriter(w http.ResponseWriter) http.ResponseWriter {
	if sw, ok := w.(*statusWriter); ok {
		return sw.ResponseWriter
	}
	return w
}

// seriesCache maps label values to series resolved once. Reads take no lock:
// the map is replaced, never changed, when a key is added, once per key.
type seriesCache[K comparable, V any] struct {
	mu sync.Mutex // serializes add
	m  atomic.Pointer[map[K]V]
}

func (c *seriesCache[K, V]) get(k K) (V, bool) {
	if m := c.m.Load(); m != nil {
		v, ok := (*m)[k]
		return v, ok
	}
	var zero V
	return zero, false
}

// add returns k's value, made by mk unless another add made it first.
func (c *seriesCache[K, V]) add(k K, mk func(K) V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[K]V)
	if old := c.m.Load(); old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
		next = maps.Clone(*old)
	}
	v := mk(k)
	next[k] = v
	c.m.Store(&next)
	return v
}

// register registers c into reg, or returns the collector reg already has in
// its place, so that two Servers on one registry share the series.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if existing, ok := are.ExistingCollector.(C); ok {
			return existing, nil
		}
	}
	return c, fmt.Errorf("api: metrics: %w", err)
}
