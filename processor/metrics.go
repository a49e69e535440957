package processor

import (
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/prometheus/client_golang/prometheus"
)

// The Prometheus metrics of the asynchronous path. A Processor registers these
// into Config.Metrics:
//
//	herald_async_messages_total{priority,type,status}   counter: one per status event a
//	    processor emits (delivered, acked, offline, expired, collapsed, failed,
//	    queued: stored in an offline device's inbox, dropped from one), and
//	    one failed per record that is not a message at all (type "other")
//	herald_async_delivery_latency_seconds{priority}      histogram: from the message's
//	    acceptance by the API to its write to a device, once per device written
//	herald_processor_batches_total{priority}             counter: batches polled
//	herald_processor_batch_size{priority}                histogram: records per batch
//	herald_status_events_failed_total                    counter: status events Kafka
//	    did not take (the message's status stays behind)
//	herald_processor_lag{priority}                       gauge: records of the
//	    priority's topic not yet committed by its consumer group, read from Kafka
//	    at scrape time, while Run runs (see lagCollector)
//
// RunMaterializer registers into MaterializerConfig.Metrics:
//
//	herald_materializer_events_total{status}             counter: status events
//	    stored, by status, and "malformed" for records skipped
//	herald_materializer_batches_total                    counter: polls that
//	    returned events (events per batch: how much its fetch wait gathers)
//
// The names are distinct, so that one registry can take a Processor and a
// materializer. Registering a collector that the registry already has reuses the
// registered one: processors that share a registry add up in one series (a
// second processor running at once does not export its lag, though).
//
// The type label is the message type when it is registered in Config.Types (or,
// without Types, among the first maxTypeSeries distinct names seen), "other"
// otherwise, so that a record produced with made-up types cannot grow the
// number of series without bound.
const (
	metricAsyncMessages = "herald_async_messages_total"
	metricAsyncLatency  = "herald_async_delivery_latency_seconds"
	metricBatches       = "herald_processor_batches_total"
	metricBatchSize     = "herald_processor_batch_size"
	metricStatusFailed  = "herald_status_events_failed_total"
	metricLag           = "herald_processor_lag"
	metricMaterialized  = "herald_materializer_events_total"
	metricMatBatches    = "herald_materializer_batches_total"
)

// otherType is the type label of messages whose type does not get its own.
const otherType = "other"

// maxTypeSeries bounds the type names that get their own series when no type
// registry says which are real.
const maxTypeSeries = 100

// latencyBuckets spans 100 µs to 30 s: a write to a local device at the low
// end, a backlog of minutes beyond the top.
func latencyBuckets() []float64 {
	return []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
}

// outcomes are the statuses a processor emits, in the order of the per-type
// series.
var outcomes = [...]Outcome{Delivered, Acked, Offline, Expired, Collapsed, Failed, Queued, Dropped, Published}

// outcomeIndex returns o's index in outcomes, or that of Failed.
func outcomeIndex(o Outcome) int {
	switch o {
	case Delivered:
		return 0
	case Acked:
		return 1
	case Offline:
		return 2
	case Expired:
		return 3
	case Collapsed:
		return 4
	case Queued:
		return 6
	case Dropped:
		return 7
	case Published:
		return 8
	}
	return 5
}

// prioIndex returns p's index in Priorities; an unknown one counts as normal.
func prioIndex(p protocol.Priority) int {
	switch p {
	case protocol.PriorityHigh:
		return 0
	case protocol.PriorityLow:
		return 2
	}
	return 1
}

// numPriorities is len(Priorities).
const numPriorities = 3

// typeSeries are the counters of one type label by priority and outcome,
// resolved once.
type typeSeries [numPriorities][len(outcomes)]prometheus.Counter

// prioSeries are the series of one priority, resolved once.
type prioSeries struct {
	latency   prometheus.Observer
	batches   prometheus.Counter
	batchSize prometheus.Observer
}

// metrics are a Processor's metrics. Every series of the hot path is resolved
// once: per priority at start, per type on its first message.
type metrics struct {
	messages     *prometheus.CounterVec
	statusFailed prometheus.Counter
	prio         [numPriorities]prioSeries
	known        func(string) bool // nil: the first maxTypeSeries names
	types        seriesCache[string, *typeSeries]
	other        *typeSeries
}

func newMetrics(reg prometheus.Registerer, types *protocol.Types) (*metrics, error) {
	messages, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricAsyncMessages,
		Help: "Outcomes of asynchronous messages, one per status event, by priority, message type and status.",
	}, []string{"priority", "type", "status"}))
	if err != nil {
		return nil, err
	}
	latency, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricAsyncLatency,
		Help:    "Seconds from an asynchronous message's acceptance by the API to its write to a device.",
		Buckets: latencyBuckets(),
	}, []string{"priority"}))
	if err != nil {
		return nil, err
	}
	batches, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricBatches,
		Help: "Batches of records polled from a message topic, by priority.",
	}, []string{"priority"}))
	if err != nil {
		return nil, err
	}
	batchSize, err := register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    metricBatchSize,
		Help:    "Records in one polled batch, by priority.",
		Buckets: []float64{1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000},
	}, []string{"priority"}))
	if err != nil {
		return nil, err
	}
	statusFailed, err := register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: metricStatusFailed,
		Help: "Status events that could not be encoded or that Kafka did not take.",
	}))
	if err != nil {
		return nil, err
	}
	m := &metrics{messages: messages, statusFailed: statusFailed}
	for i, p := range Priorities {
		m.prio[i] = prioSeries{
			latency:   latency.WithLabelValues(string(p)),
			batches:   batches.WithLabelValues(string(p)),
			batchSize: batchSize.WithLabelValues(string(p)),
		}
	}
	if types != nil {
		m.known = func(name string) bool { _, ok := types.Lookup(name); return ok }
	}
	m.other = m.newTypeSeries(otherType)
	return m, nil
}

func (m *metrics) newTypeSeries(name string) *typeSeries {
	var ts typeSeries
	for i, p := range Priorities {
		for j, o := range outcomes {
			ts[i][j] = m.messages.WithLabelValues(string(p), name, string(o))
		}
	}
	return &ts
}

// typ returns the series of a message type.
func (m *metrics) typ(name string) *typeSeries {
	if ts, ok := m.types.get(name); ok {
		return ts
	}
	limit := maxTypeSeries
	switch {
	case m.known != nil && !m.known(name):
		return m.other
	case m.known != nil:
		limit = -1
	case name == "" || name == otherType || !protocol.ValidTypeName(name):
		return m.other
	}
	return m.types.add(name, limit, m.newTypeSeries, m.other)
}

// outcome counts one status event.
func (m *metrics) outcome(prio protocol.Priority, typ string, o Outcome) {
	ts := m.typ(typ)
	ts[prioIndex(prio)][outcomeIndex(o)].Inc()
}

// written observes the latency of a message written to a device.
func (m *metrics) written(msg *Message, now time.Time) {
	d := now.Sub(time.UnixMilli(msg.Accepted))
	m.prio[prioIndex(msg.Priority)].latency.Observe(max(d, 0).Seconds())
}

// batch counts a polled batch.
func (m *metrics) batch(prio protocol.Priority, n int) {
	s := &m.prio[prioIndex(prio)]
	s.batches.Inc()
	s.batchSize.Observe(float64(n))
}

// seriesCache maps label values to series resolved once. Reads take no lock:
// the map is replaced, never changed, when a key is added, which happens once
// per key.
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

// add returns k's value, made by mk unless another add made it first; when the
// cache holds limit keys (limit >= 0) it returns full instead.
func (c *seriesCache[K, V]) add(k K, limit int, mk func(K) V, full V) V {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.m.Load()
	var next map[K]V
	if old != nil {
		if v, ok := (*old)[k]; ok {
			return v
		}
		if limit >= 0 && len(*old) >= limit {
			return full
		}
		next = maps.Clone(*old)
	} else {
		next = make(map[K]V)
	}
	v := mk(k)
	next[k] = v
	c.m.Store(&next)
	return v
}

// register is RegisterShared, its error naming the processor.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	c, err := RegisterShared(reg, c)
	if err != nil {
		return c, fmt.Errorf("processor: %w", err)
	}
	return c, nil
}

// materializerMetrics are RunMaterializer's counters: events by status and
// the polls that returned events.
type materializerMetrics struct {
	byStatus  map[Outcome]prometheus.Counter
	malformed prometheus.Counter
	batches   prometheus.Counter
}

func newMaterializerMetrics(reg prometheus.Registerer) (*materializerMetrics, error) {
	events, err := register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: metricMaterialized,
		Help: `Status events the materializer stored, by status; "malformed" counts the records it skipped.`,
	}, []string{"status"}))
	if err != nil {
		return nil, err
	}
	batches, err := register(reg, prometheus.NewCounter(prometheus.CounterOpts{
		Name: metricMatBatches,
		Help: "Polls of the status topics that returned events.",
	}))
	if err != nil {
		return nil, err
	}
	m := &materializerMetrics{byStatus: make(map[Outcome]prometheus.Counter), malformed: events.WithLabelValues("malformed"), batches: batches}
	for _, o := range outcomes {
		m.byStatus[o] = events.WithLabelValues(string(o))
	}
	return m, nil
}
