package mirror

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/processor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

// waitBound bounds every wait of these tests.
const waitBound = 30 * time.Second

// mustCluster starts a kfake cluster with topics of the given partition
// counts, stopped when the test ends.
func mustCluster(tb testing.TB, topics map[string]int32) *kfake.Cluster {
	tb.Helper()
	opts := []kfake.Opt{kfake.NumBrokers(1), kfake.DefaultNumPartitions(1), kfake.GroupMinSessionTimeout(100 * time.Millisecond)}
	for topic, n := range topics {
		opts = append(opts, kfake.SeedTopics(n, topic))
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(c.Close)
	return c
}

// mustClient returns a client of c, closed when the test ends.
func mustClient(tb testing.TB, c *kfake.Cluster, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner())}, opts...)...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// running is a mirror run by a test.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// startMirror runs a mirror from src to dst with cfg (Source, Target and Alias
// filled in) until stop or the end of the test.
func startMirror(tb testing.TB, src, dst *kfake.Cluster, cfg Config) *running {
	tb.Helper()
	cfg.Source = []kgo.Opt{kgo.SeedBrokers(src.ListenAddrs()...)}
	cfg.Target = []kgo.Opt{kgo.SeedBrokers(dst.ListenAddrs()...)}
	if cfg.Alias == "" {
		cfg.Alias = "a"
	}
	if cfg.SessionTimeout == 0 {
		cfg.SessionTimeout, cfg.RebalanceTimeout = time.Second, time.Second
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- Run(ctx, cfg) }()
	tb.Cleanup(func() { r.stop(tb) })
	return r
}

// stop cancels the mirror and waits for Run to return; a second call does
// nothing.
func (r *running) stop(tb testing.TB) {
	tb.Helper()
	if r.done == nil {
		return
	}
	r.cancel()
	select {
	case err := <-r.done:
		if err != nil {
			tb.Errorf("Run: %v", err)
		}
	case <-time.After(waitBound):
		tb.Fatal("Run did not return after its context ended")
	}
	r.done = nil
}

// readAll reads topic of c from the start until it holds want records or
// waitBound passes, and returns what it read.
func readAll(tb testing.TB, c *kfake.Cluster, topic string, want int) []*kgo.Record {
	tb.Helper()
	cl := mustClient(tb, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	var out []*kgo.Record
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	for len(out) < want {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			tb.Fatalf("%s: %d records after %v, want %d", topic, len(out), waitBound, want)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

// produce writes recs to c and fails the test unless all are acknowledged.
func produce(tb testing.TB, cl *kgo.Client, recs ...*kgo.Record) {
	tb.Helper()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		tb.Fatal(err)
	}
}

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMirror copies records with keys, headers, timestamps and several
// partitions from cluster a to cluster b, and compares every field; a topic
// the filter does not match and a remote topic stay behind.
func TestMirror(t *testing.T) {
	topics := processor.Topics{}
	high, status := topics.Messages("high"), topics.Status()
	a := mustCluster(t, map[string]int32{high: 3, status: 2, "other": 1, "c." + status: 1})
	b := mustCluster(t, nil)
	cl := mustClient(t, a)
	base := time.UnixMilli(1_700_000_000_000)
	var sent []*kgo.Record
	for i := range 60 {
		topic, parts := high, int32(3)
		if i%3 == 0 {
			topic, parts = status, 2
		}
		r := &kgo.Record{
			Topic: topic, Partition: int32(i) % parts,
			Key:       []byte(fmt.Sprint("account-", i%7)),
			Value:     []byte(fmt.Sprintf(`{"id":"m%03d"}`, i)),
			Headers:   []kgo.RecordHeader{{Key: "trace", Value: []byte(fmt.Sprint(i))}, {Key: "empty"}, {Key: "trace", Value: []byte("again")}},
			Timestamp: base.Add(time.Duration(i) * time.Second),
		}
		if i == 5 {
			r.Key = nil // a record without a key keeps none
		}
		sent = append(sent, r)
	}
	produce(t, cl, sent...)
	produce(t, cl, &kgo.Record{Topic: "other", Value: []byte("x")}, &kgo.Record{Topic: "c." + status, Value: []byte("remote")})
	reg := prometheus.NewRegistry()
	startMirror(t, a, b, Config{Alias: "a", Metrics: reg})

	got := map[string][]*kgo.Record{}
	got[high] = readAll(t, b, "a."+high, 40)
	got[status] = readAll(t, b, "a."+status, 20)
	for _, topic := range []string{high, status} {
		var want []*kgo.Record
		for _, r := range sent {
			if r.Topic == topic {
				want = append(want, r)
			}
		}
		if len(got[topic]) != len(want) {
			t.Fatalf("a.%s holds %d records, want %d", topic, len(got[topic]), len(want))
		}
		// In order within each partition: compare partition by partition.
		byPart := func(rs []*kgo.Record, p int32) []*kgo.Record {
			return slices.DeleteFunc(slices.Clone(rs), func(r *kgo.Record) bool { return r.Partition != p })
		}
		for p := range int32(3) {
			w, g := byPart(want, p), byPart(got[topic], p)
			if len(w) != len(g) {
				t.Errorf("a.%s partition %d: %d records, want %d", topic, p, len(g), len(w))
				continue
			}
			for i := range w {
				if msg := differ(w[i], g[i]); msg != "" {
					t.Errorf("a.%s partition %d record %d: %s", topic, p, i, msg)
				}
			}
		}
	}
	adm := mustClient(t, b)
	for _, name := range []string{"a.other", "a.c." + status, "c." + status, "a.a." + status} {
		if parts, err := partitions(adm, name); err != nil || parts != 0 {
			t.Errorf("%s exists in b (%d partitions, %v): it must not be mirrored", name, parts, err)
		}
	}
	for name, want := range map[string]int{"a." + high: 3, "a." + status: 2} {
		if parts, err := partitions(adm, name); err != nil || parts != want {
			t.Errorf("%s has %d partitions (%v), want %d as its source", name, parts, err, want)
		}
	}
	waitFor(t, "the records metric", func() bool {
		return testutil.ToFloat64(mustCounter(t, reg, high)) == 40 && testutil.ToFloat64(mustCounter(t, reg, status)) == 20
	})
}

// differ says how got differs from want, "" when it is a copy.
func differ(want, got *kgo.Record) string {
	switch {
	case !bytes.Equal(want.Key, got.Key):
		return fmt.Sprintf("key %q, want %q", got.Key, want.Key)
	case !bytes.Equal(want.Value, got.Value):
		return fmt.Sprintf("value %s, want %s", got.Value, want.Value)
	case !want.Timestamp.Equal(got.Timestamp):
		return fmt.Sprintf("timestamp %v, want %v", got.Timestamp, want.Timestamp)
	case want.Partition != got.Partition:
		return fmt.Sprintf("partition %d, want %d", got.Partition, want.Partition)
	case len(want.Headers) != len(got.Headers):
		return fmt.Sprintf("headers %v, want %v", got.Headers, want.Headers)
	}
	for i, h := range want.Headers {
		if g := got.Headers[i]; g.Key != h.Key || !bytes.Equal(g.Value, h.Value) {
			return fmt.Sprintf("header %d: %s=%q, want %s=%q", i, g.Key, g.Value, h.Key, h.Value)
		}
	}
	return ""
}

// partitions returns the partitions of topic, 0 if it does not exist.
func partitions(cl *kgo.Client, topic string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	md, err := newTargets(cl, cl, -1).tgtAdm.ListTopics(ctx, topic)
	if err != nil {
		return 0, err
	}
	if d, ok := md[topic]; ok && d.Err == nil {
		return len(d.Partitions), nil
	}
	return 0, nil
}

// mustCounter returns herald_mirror_records_total{topic} of reg.
func mustCounter(tb testing.TB, reg *prometheus.Registry, topic string) prometheus.Counter {
	tb.Helper()
	m, err := newMetrics(reg) // registered already: the same series
	if err != nil {
		tb.Fatal(err)
	}
	return m.records(topic)
}

// waitFor polls cond until it holds or waitBound passes.
func waitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(waitBound)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("%s: not after %v", what, waitBound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// values counts the distinct values of recs and the repeats among them.
func values(recs []*kgo.Record) (distinct map[string]int, repeats int) {
	distinct = map[string]int{}
	for _, r := range recs {
		distinct[string(r.Value)]++
		if distinct[string(r.Value)] > 1 {
			repeats++
		}
	}
	return distinct, repeats
}

// TestMirrorRestart stops a mirror in the middle of a backlog, produces more,
// and starts it again: every record reaches the target (repeats allowed).
func TestMirrorRestart(t *testing.T) {
	topics := processor.Topics{}
	normal := topics.Messages("normal")
	a := mustCluster(t, map[string]int32{normal: 4})
	b := mustCluster(t, nil)
	cl := mustClient(t, a)
	const first, second = 2000, 1000
	produce(t, cl, mkRecords(normal, 4, 0, first)...)
	reg := prometheus.NewRegistry()
	m := startMirror(t, a, b, Config{MaxPollRecords: 50, Metrics: reg})
	counter := mustCounter(t, reg, normal)
	waitFor(t, "a part of the backlog copied", func() bool { return testutil.ToFloat64(counter) >= 200 })
	m.stop(t)
	if _, ok := lagOf(t, reg, normal); ok {
		t.Error("herald_mirror_lag is exported after Run returned")
	}
	copied := int(testutil.ToFloat64(counter))
	if copied >= first {
		t.Logf("the whole backlog (%d) was copied before the stop: the restart copies only the second part", copied)
	}
	produce(t, cl, mkRecords(normal, 4, first, second)...)
	startMirror(t, a, b, Config{MaxPollRecords: 50, Metrics: reg})
	got := readAll(t, b, "a."+normal, first+second)
	waitFor(t, "every record copied", func() bool {
		got = readAll(t, b, "a."+normal, len(got))
		d, _ := values(got)
		return len(d) == first+second
	})
	d, repeats := values(got)
	for i := range first + second {
		if d[fmt.Sprint("m", i)] == 0 {
			t.Fatalf("m%d is missing", i)
		}
	}
	t.Logf("stopped after %d of %d; %d records in the target, %d repeats", copied, first, len(got), repeats)
}

// TestMirrorSkipsRemote mirrors every topic (.*): the remote ones are
// skipped, but committed, and no target topic is made for them.
func TestMirrorSkipsRemote(t *testing.T) {
	topics := processor.Topics{}
	remote := "c." + topics.Status()
	a := mustCluster(t, map[string]int32{topics.Status(): 1, remote: 1, "plain": 1})
	b := mustCluster(t, nil)
	produce(t, mustClient(t, a), &kgo.Record{Topic: remote, Value: []byte("r")}, &kgo.Record{Topic: topics.Status(), Value: []byte("s")},
		&kgo.Record{Topic: "plain", Value: []byte("p")})
	reg := prometheus.NewRegistry()
	startMirror(t, a, b, Config{Filter: ".*", Group: "g", Metrics: reg})
	readAll(t, b, "a."+topics.Status(), 1)
	readAll(t, b, "a.plain", 1)
	waitFor(t, "the remote topic's offset committed", func() bool { return committed(t, a, "g", remote) == 1 })
	if n, err := partitions(mustClient(t, b), "a."+remote); err != nil || n != 0 {
		t.Errorf("a.%s exists in b (%d partitions, %v)", remote, n, err)
	}
	if n := testutil.ToFloat64(mustCounter(t, reg, remote)); n != 0 {
		t.Errorf("%v records of %s counted as copied", n, remote)
	}
}

// TestMirrorCommitsAfterAck makes the target refuse every produce for a
// while: the mirror commits nothing on the source meanwhile, and copies
// everything once the target takes records again.
func TestMirrorCommitsAfterAck(t *testing.T) {
	topics := processor.Topics{}
	low := topics.Messages("low")
	a := mustCluster(t, map[string]int32{low: 2})
	b := mustCluster(t, nil)
	produce(t, mustClient(t, a), mkRecords(low, 2, 0, 300)...)
	var refuse, refused atomic.Int64
	refuse.Store(1)
	b.ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		b.KeepControl()
		if refuse.Load() == 0 {
			return nil, nil, false
		}
		refused.Add(1)
		return refusal(req.(*kmsg.ProduceRequest)), nil, true
	})
	reg := prometheus.NewRegistry()
	startMirror(t, a, b, Config{MaxPollRecords: 50, Metrics: reg, Group: "g"})
	waitFor(t, "produce attempts refused", func() bool { return refused.Load() >= 3 })
	if n := committed(t, a, "g", low); n != 0 {
		t.Fatalf("the source has %d offsets committed while the target refused every record", n)
	}
	if n, ok := lagOf(t, reg, low); !ok || n != 300 {
		t.Errorf("herald_mirror_lag{topic=%s} = %v (exported %v) while nothing is copied, want 300", low, n, ok)
	}
	errs, err := newMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	if testutil.ToFloat64(errs.errors[opProduce]) == 0 {
		t.Error("herald_mirror_errors_total{op=produce} is 0")
	}
	refuse.Store(0)
	got := readAll(t, b, "a."+low, 300)
	if d, _ := values(got); len(d) != 300 {
		t.Fatalf("%d distinct records in the target, want 300", len(d))
	}
	waitFor(t, "every offset committed", func() bool { return committed(t, a, "g", low) == 300 })
	if n, ok := lagOf(t, reg, low); !ok || n != 0 {
		t.Errorf("herald_mirror_lag{topic=%s} = %v (exported %v) once everything is copied, want 0", low, n, ok)
	}
}

// lagOf returns herald_mirror_lag{topic} of reg, and whether it is exported.
func lagOf(tb testing.TB, reg *prometheus.Registry, topic string) (float64, bool) {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metricLag {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" && l.GetValue() == topic {
					return m.GetGauge().GetValue(), true
				}
			}
		}
	}
	return 0, false
}

// TestMirrorUncommitted makes the source refuse every offset commit of a
// first mirror, as if it were killed after each produce and before each
// commit: a second mirror copies everything again, and nothing is lost.
func TestMirrorUncommitted(t *testing.T) {
	topics := processor.Topics{}
	high := topics.Messages("high")
	a := mustCluster(t, map[string]int32{high: 2})
	b := mustCluster(t, nil)
	produce(t, mustClient(t, a), mkRecords(high, 2, 0, 200)...)
	var refuse atomic.Int64
	refuse.Store(1)
	a.ControlKey(int16(kmsg.OffsetCommit), func(req kmsg.Request) (kmsg.Response, error, bool) {
		a.KeepControl()
		if refuse.Load() == 0 {
			return nil, nil, false
		}
		r := req.(*kmsg.OffsetCommitRequest)
		resp := r.ResponseKind().(*kmsg.OffsetCommitResponse)
		for _, rt := range r.Topics {
			st := kmsg.NewOffsetCommitResponseTopic()
			st.Topic = rt.Topic
			for _, rp := range rt.Partitions {
				sp := kmsg.NewOffsetCommitResponseTopicPartition()
				sp.Partition = rp.Partition
				sp.ErrorCode = kerr.OffsetMetadataTooLarge.Code
				st.Partitions = append(st.Partitions, sp)
			}
			resp.Topics = append(resp.Topics, st)
		}
		return resp, nil, true
	})
	reg := prometheus.NewRegistry()
	first := startMirror(t, a, b, Config{MaxPollRecords: 50, Metrics: reg, Group: "g"})
	readAll(t, b, "a."+high, 200)
	first.stop(t)
	if n := committed(t, a, "g", high); n != 0 {
		t.Fatalf("%d offsets committed through refusals", n)
	}
	refuse.Store(0)
	startMirror(t, a, b, Config{MaxPollRecords: 50, Metrics: reg, Group: "g"})
	got := readAll(t, b, "a."+high, 400)
	d, repeats := values(got)
	if len(d) != 200 || repeats < 200 {
		t.Fatalf("%d distinct records and %d repeats, want 200 copied twice", len(d), repeats)
	}
	waitFor(t, "every offset committed", func() bool { return committed(t, a, "g", high) == 200 })
}

// TestMirrorNewTopic creates a topic the filter matches on the source after
// the mirror started: the mirror finds it and copies it.
func TestMirrorNewTopic(t *testing.T) {
	topics := processor.Topics{}
	a := mustCluster(t, map[string]int32{topics.Status(): 1})
	b := mustCluster(t, nil)
	cl := mustClient(t, a)
	produce(t, cl, &kgo.Record{Topic: topics.Status(), Value: []byte("s")})
	startMirror(t, a, b, Config{DiscoveryInterval: 200 * time.Millisecond})
	readAll(t, b, "a."+topics.Status(), 1)
	low := topics.Messages("low")
	ctx, cancel := context.WithTimeout(context.Background(), waitBound)
	defer cancel()
	if err := processor.EnsureTopics(ctx, cl, []string{low}, processor.TopicSpec{Partitions: 5}); err != nil {
		t.Fatal(err)
	}
	produce(t, cl, mkRecords(low, 5, 0, 20)...)
	got := readAll(t, b, "a."+low, 20)
	if d, _ := values(got); len(d) != 20 {
		t.Fatalf("%d distinct records, want 20", len(d))
	}
	if n, err := partitions(mustClient(t, b), "a."+low); err != nil || n != 5 {
		t.Errorf("a.%s has %d partitions (%v), want 5", low, n, err)
	}
}

// mkRecords returns n records of topic, m<from> to m<from+n-1>, spread over
// parts partitions.
func mkRecords(topic string, parts, from, n int) []*kgo.Record {
	recs := make([]*kgo.Record, 0, n)
	for i := from; i < from+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Partition: int32(i % parts), Key: []byte(fmt.Sprint(i % 10)), Value: []byte(fmt.Sprint("m", i))})
	}
	return recs
}

// refusal answers a produce request with an error for every partition.
func refusal(req *kmsg.ProduceRequest) *kmsg.ProduceResponse {
	resp := req.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range req.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = kerr.PolicyViolation.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

// committed sums the offsets group committed on topic of c.
func committed(tb testing.TB, c *kfake.Cluster, group, topic string) int64 {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	offs, err := kadm.NewClient(mustClient(tb, c)).FetchOffsets(ctx, group)
	if err != nil {
		tb.Fatal(err)
	}
	var n int64
	for _, o := range offs[topic] {
		if o.Err == nil {
			n += o.At
		}
	}
	return n
}
