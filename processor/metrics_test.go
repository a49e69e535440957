package processor

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/schemas"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

// toFloat64, collectAndCount and gatherAndCount do what prometheus/testutil's
// functions of those names do: the module cannot import testutil without a
// go.mod entry for its diff dependency (github.com/kylelemons/godebug).

// toFloat64 returns the value of a collector of exactly one counter or gauge.
func toFloat64(tb testing.TB, c prometheus.Collector) float64 {
	tb.Helper()
	ms := collect(c)
	if len(ms) != 1 {
		tb.Fatalf("collected %d metrics, want 1", len(ms))
	}
	var m dto.Metric
	if err := ms[0].Write(&m); err != nil {
		tb.Fatal(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	}
	tb.Fatalf("not a counter or gauge: %v", &m)
	return 0
}

func collect(c prometheus.Collector) []prometheus.Metric {
	ch := make(chan prometheus.Metric)
	go func() { c.Collect(ch); close(ch) }()
	var ms []prometheus.Metric
	for m := range ch {
		ms = append(ms, m)
	}
	return ms
}

// collectAndCount returns the number of series c collects.
func collectAndCount(c prometheus.Collector) int { return len(collect(c)) }

// gatherAndCount returns the number of series of the metric name in g.
func gatherAndCount(tb testing.TB, g prometheus.Gatherer, name string) int {
	tb.Helper()
	fams, err := g.Gather()
	if err != nil {
		tb.Fatalf("gather: %v", err)
	}
	for _, f := range fams {
		if f.GetName() == name {
			return len(f.GetMetric())
		}
	}
	return 0
}

// series returns the series of the metric name whose labels are exactly
// labels (name, value pairs), or nil.
func series(tb testing.TB, g prometheus.Gatherer, name string, labels ...string) *dto.Metric {
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
			return m
		}
	}
	return nil
}

// value returns the value of a counter or gauge series, or the sample count of
// a histogram; a series that does not exist is 0.
func value(tb testing.TB, g prometheus.Gatherer, name string, labels ...string) float64 {
	tb.Helper()
	m := series(tb, g, name, labels...)
	switch {
	case m == nil:
		return 0
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	tb.Fatalf("%s: unexpected metric type %v", name, m)
	return 0
}

// waitValue waits until value(...) is want.
func waitValue(tb testing.TB, g prometheus.Gatherer, want float64, name string, labels ...string) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		got := value(tb, g, name, labels...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%s%v = %v, want %v", name, labels, got, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// outcomeCount returns herald_async_messages_total for one series.
func outcomeCount(tb testing.TB, p *pipeline, prio protocol.Priority, typ string, o Outcome) float64 {
	tb.Helper()
	return value(tb, p.reg, metricAsyncMessages, "priority", string(prio), "type", typ, "status", string(o))
}

func mustTypes(tb testing.TB) *protocol.Types {
	tb.Helper()
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		tb.Fatal(err)
	}
	return types
}

func TestMetricsCountOutcomes(t *testing.T) {
	rec := newRecorder("a1/tv1")
	p := startPipeline(t, rec, false)
	p.adjust = func(c *Config) { c.Types = mustTypes(t) }
	var sent []*Message
	for range 3 {
		sent = append(sent, p.send(t, Message{Account: "a1", Device: "tv1"}))
	}
	old := time.Now().Add(-time.Minute).UnixMilli()
	expired := p.send(t, Message{Account: "a1", Device: "tv1", Accepted: old, Expires: old + 1000})
	p.start(t)

	for _, m := range sent {
		p.waitStatus(t, m.ID, "tv1", Delivered)
	}
	p.waitStatus(t, expired.ID, "tv1", Expired)

	const typ = "notification.v1"
	for _, o := range outcomes {
		want := map[Outcome]float64{Delivered: 3, Expired: 1}[o]
		if got := outcomeCount(t, p, protocol.PriorityNormal, typ, o); got != want {
			t.Errorf("%s{normal,%s,%s} = %v, want %v", metricAsyncMessages, typ, o, got, want)
		}
	}
	if n := collectAndCount(p.proc.metrics.messages); n != 2*len(Priorities)*len(outcomes) {
		t.Errorf("%d series of %s, want one per priority and outcome for %s and other", n, metricAsyncMessages, typ)
	}
	// Written three times; the expired message never was.
	if got := value(t, p.reg, metricAsyncLatency, "priority", "normal"); got != 3 {
		t.Errorf("%s{normal} has %v samples, want 3", metricAsyncLatency, got)
	}
	if got := value(t, p.reg, metricAsyncLatency, "priority", "high"); got != 0 {
		t.Errorf("%s{high} has %v samples, want 0", metricAsyncLatency, got)
	}
	// Every record came in one batch or another, and each exactly once.
	batches := value(t, p.reg, metricBatches, "priority", "normal")
	size := series(t, p.reg, metricBatchSize, "priority", "normal")
	if batches < 1 || size == nil || float64(size.Histogram.GetSampleCount()) != batches || size.Histogram.GetSampleSum() != 4 {
		t.Errorf("%v batches, batch sizes %v: want 4 records in all", batches, size)
	}
	if got := toFloat64(t, p.proc.metrics.statusFailed); got != 0 {
		t.Errorf("%s = %v, want 0", metricStatusFailed, got)
	}
	// The materializer counts what it stored, soon after the store has it.
	waitValue(t, p.reg, 3, metricMaterialized, "status", "delivered")
	waitValue(t, p.reg, 1, metricMaterialized, "status", "expired")

	t.Run("an unregistered type counts as other", func(t *testing.T) {
		m := p.send(t, Message{Account: "a1", Device: "tv1", Type: "made.up.v1"})
		p.waitStatus(t, m.ID, "tv1", Delivered)
		if got := outcomeCount(t, p, protocol.PriorityNormal, otherType, Delivered); got != 1 {
			t.Errorf("other/delivered = %v, want 1", got)
		}
		if series(t, p.reg, metricAsyncMessages, "priority", "normal", "type", "made.up.v1", "status", "delivered") != nil {
			t.Error("made.up.v1 has a series of its own")
		}
	})

	t.Run("a malformed status record is counted", func(t *testing.T) {
		bad := &kgo.Record{Topic: p.topics.Status(), Key: []byte("x"), Value: []byte("not json")}
		if err := p.prod.Produce(t.Context(), bad); err != nil {
			t.Fatal(err)
		}
		waitValue(t, p.reg, 1, metricMaterialized, "status", "malformed")
	})
}

func TestMetricsCountEachOutcome(t *testing.T) {
	rec := newRecorder("a1/tv1", "a2/tv1")
	rec.ackDelay = 10 * time.Millisecond
	rec.broken = map[string]bool{"a3/tv1": true}
	p := startPipeline(t, rec, false)
	collapsed := p.send(t, Message{Account: "a1", Device: "tv1", CollapseKey: "k", Priority: protocol.PriorityHigh})
	newest := p.send(t, Message{Account: "a1", Device: "tv1", CollapseKey: "k", Priority: protocol.PriorityHigh})
	acked := p.send(t, Message{Account: "a2", Device: "tv1", Ack: true, Priority: protocol.PriorityLow})
	offline := p.send(t, Message{Account: "a1", Device: "tv9"})
	nobody := p.send(t, Message{Account: "a9"})
	failed := p.send(t, Message{Account: "a3", Device: "tv1"})
	p.start(t)
	p.waitStatus(t, collapsed.ID, "tv1", Collapsed)
	p.waitStatus(t, newest.ID, "tv1", Delivered)
	p.waitStatus(t, acked.ID, "tv1", Acked)
	p.waitStatus(t, offline.ID, "tv9", Offline)
	p.waitStatus(t, nobody.ID, "", Offline)
	p.waitStatus(t, failed.ID, "tv1", Failed)

	const typ = "notification.v1"
	for _, c := range []struct {
		prio protocol.Priority
		o    Outcome
		want float64
	}{
		{protocol.PriorityHigh, Collapsed, 1},
		{protocol.PriorityHigh, Delivered, 1},
		{protocol.PriorityLow, Delivered, 1}, // written, then acked
		{protocol.PriorityLow, Acked, 1},
		{protocol.PriorityNormal, Offline, 2},
		{protocol.PriorityNormal, Failed, 1},
		{protocol.PriorityNormal, Delivered, 0},
	} {
		t.Run(fmt.Sprintf("%s %s", c.prio, c.o), func(t *testing.T) {
			if got := outcomeCount(t, p, c.prio, typ, c.o); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
	// An acked message is observed once, when it was written.
	for prio, want := range map[string]float64{"high": 1, "normal": 0, "low": 1} {
		if got := value(t, p.reg, metricAsyncLatency, "priority", prio); got != want {
			t.Errorf("%s{%s} has %v samples, want %v", metricAsyncLatency, prio, got, want)
		}
	}
}

func TestMetricsStatusEventsFailed(t *testing.T) {
	rec := newRecorder("a1/tv1")
	p := startPipeline(t, rec, false)
	// Kafka refuses every status event as too large; the message topics are
	// produced by another client.
	p.adjust = func(c *Config) { c.Kafka = append(c.Kafka, kgo.MaxBufferedBytes(16)) }
	p.start(t)
	p.send(t, Message{Account: "a1", Device: "tv1"})
	p.send(t, Message{Account: "a1", Device: "tv1"})
	waitValue(t, p.reg, 2, metricStatusFailed)
	if got := outcomeCount(t, p, protocol.PriorityNormal, "notification.v1", Delivered); got != 2 {
		t.Errorf("delivered = %v, want 2", got)
	}
}

// gate is a Deliverer that holds every delivery until it is opened.
type gate struct {
	next    Deliverer
	entered chan struct{} // one send per delivery held, without blocking
	open    chan struct{}
	once    sync.Once
}

func newGate(next Deliverer) *gate {
	return &gate{next: next, entered: make(chan struct{}, 100), open: make(chan struct{})}
}

func (g *gate) Deliver(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.open:
	case <-ctx.Done():
		return protocol.Result{Device: device, Status: protocol.StatusTimeout}
	}
	return g.next.Deliver(ctx, account, device, m, progress)
}

func (g *gate) release() { g.once.Do(func() { close(g.open) }) }

func TestMetricsLag(t *testing.T) {
	rec := newRecorder("a1/tv1", "a2/tv1", "a3/tv1", "a4/tv1", "a5/tv1")
	p := startPipeline(t, rec, false)
	g := newGate(rec)
	p.deliverer = g
	const n = 5
	var sent []*Message
	for i := range n {
		sent = append(sent, p.send(t, Message{Account: fmt.Sprintf("a%d", i+1), Device: "tv1"}))
	}
	if c := gatherAndCount(t, p.reg, metricLag); c != 0 {
		t.Fatalf("%s has %d series before Run", metricLag, c)
	}
	p.start(t)
	t.Cleanup(g.release) // before the pipeline stops

	// A delivery is held: the processor has the partitions and has committed
	// nothing, so every record sent is lag.
	select {
	case <-g.entered:
	case <-time.After(15 * time.Second):
		t.Fatal("no delivery began")
	}
	// Each priority's group is described once it has joined: the high and
	// low ones may join a moment after the normal one began a delivery.
	deadline := time.Now().Add(15 * time.Second)
	for c := gatherAndCount(t, p.reg, metricLag); c != len(Priorities); c = gatherAndCount(t, p.reg, metricLag) {
		if time.Now().After(deadline) {
			t.Fatalf("%s has %d series, want one per priority", metricLag, c)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for prio, want := range map[string]float64{"high": 0, "normal": n, "low": 0} {
		if got := value(t, p.reg, metricLag, "priority", prio); got != want {
			t.Errorf("%s{%s} = %v, want %v", metricLag, prio, got, want)
		}
	}
	// Scrapes at once each see every priority once (kadm's Lag reuses the
	// slice of groups it is given).
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if c := gatherAndCount(t, p.reg, metricLag); c != len(Priorities) {
				t.Errorf("a concurrent scrape has %d series of %s", c, metricLag)
			}
		})
	}
	wg.Wait()

	g.release()
	for _, m := range sent {
		p.waitStatus(t, m.ID, "tv1", Delivered)
	}
	waitValue(t, p.reg, 0, metricLag, "priority", "normal")

	p.stop()
	if c := gatherAndCount(t, p.reg, metricLag); c != 0 {
		t.Errorf("%s has %d series after Run returned", metricLag, c)
	}
}

func TestMetricsSharedRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	rec := newRecorder()
	cfg := Config{Kafka: []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}, Deliverer: rec, Directory: rec, Metrics: reg}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatalf("a second processor on one registry: %v", err)
	}
	if a.metrics.messages != b.metrics.messages {
		t.Error("the two processors count in different vectors")
	}
	if _, err := newMaterializerMetrics(reg); err != nil {
		t.Errorf("the materializer beside them: %v", err)
	}
	if _, err := newMaterializerMetrics(reg); err != nil {
		t.Errorf("a second materializer run: %v", err)
	}
}

func TestMetricsTypeLabelBound(t *testing.T) {
	for _, c := range []struct {
		name  string
		types *protocol.Types
		typ   string
		want  string
	}{
		{"registered", mustTypes(t), "notification.v1", "notification.v1"},
		{"unregistered", mustTypes(t), "made.up.v1", otherType},
		{"no registry", nil, "made.up.v1", "made.up.v1"},
		{"not a type name", nil, "Not A Type!", otherType},
		{"empty", nil, "", otherType},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := newMetrics(prometheus.NewRegistry(), c.types)
			if err != nil {
				t.Fatal(err)
			}
			m.outcome(protocol.PriorityHigh, c.typ, Delivered)
			if got := toFloat64(t, m.messages.WithLabelValues("high", c.want, "delivered")); got != 1 {
				t.Errorf("type %q counted %v times as %q, want once", c.typ, got, c.want)
			}
		})
	}
	t.Run("at most maxTypeSeries names without a registry", func(t *testing.T) {
		m, err := newMetrics(prometheus.NewRegistry(), nil)
		if err != nil {
			t.Fatal(err)
		}
		for i := range maxTypeSeries + 10 {
			m.outcome(protocol.PriorityLow, fmt.Sprintf("t%d.v1", i), Failed)
		}
		if got := toFloat64(t, m.messages.WithLabelValues("low", otherType, "failed")); got != 10 {
			t.Errorf("other counted %v, want the 10 names past the bound", got)
		}
		if n := collectAndCount(m.messages); n != (maxTypeSeries+1)*len(Priorities)*len(outcomes) {
			t.Errorf("%d series, want %d", n, (maxTypeSeries+1)*len(Priorities)*len(outcomes))
		}
	})
}

func BenchmarkMetricsOutcome(b *testing.B) {
	m, err := newMetrics(prometheus.NewRegistry(), mustTypes(b))
	if err != nil {
		b.Fatal(err)
	}
	msg := &Message{Priority: protocol.PriorityNormal, Accepted: time.Now().UnixMilli()}
	b.ReportAllocs()
	for b.Loop() {
		m.outcome(protocol.PriorityNormal, "notification.v1", Delivered)
		m.written(msg, time.Now())
	}
}
