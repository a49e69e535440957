package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// recorder is a Deliverer that holds a set of connected devices and records what
// it delivered, acking when asked.
type recorder struct {
	mu        sync.Mutex
	online    map[string]bool // account/device
	got       []string        // ids in delivery order
	byDevice  map[string][]string
	ackDelay  time.Duration
	unavail   int // the first unavail attempts answer unavailable
	attempted int
	broken    map[string]bool // account/device whose every attempt answers unavailable
}

func newRecorder(online ...string) *recorder {
	r := &recorder{online: map[string]bool{}, byDevice: map[string][]string{}}
	for _, o := range online {
		r.online[o] = true
	}
	return r
}

func (r *recorder) Deliver(ctx context.Context, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	r.mu.Lock()
	r.attempted++
	if r.attempted <= r.unavail || r.broken[account+"/"+device] {
		r.mu.Unlock()
		return protocol.Result{Device: device, Status: protocol.StatusRejected, Error: "unavailable: test"}
	}
	if !r.online[account+"/"+device] {
		r.mu.Unlock()
		return protocol.Result{Device: device, Status: protocol.StatusOffline}
	}
	r.got = append(r.got, m.ID)
	r.byDevice[device] = append(r.byDevice[device], m.ID)
	r.mu.Unlock()
	res := protocol.Result{Device: device, Status: protocol.StatusDelivered}
	if !m.Ack {
		return res
	}
	progress(res)
	select {
	case <-time.After(r.ackDelay):
		res.Status = protocol.StatusAcked
	case <-ctx.Done():
		res.Status = protocol.StatusTimeout
	}
	return res
}

func (r *recorder) Connected(_ context.Context, account string) ([]string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for k := range r.online {
		if len(k) > len(account) && k[:len(account)+1] == account+"/" {
			out = append(out, k[len(account)+1:])
		}
	}
	return out, nil
}

func (r *recorder) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.got...)
}

// pipeline is a kfake cluster with a producer, a processor and a materializer.
type pipeline struct {
	prod   *Producer
	store  *MemoryStatus
	proc   *Processor
	rec    *recorder
	opts   []kgo.Opt
	topics Topics
	stop   func()
	// reg receives the metrics of the processor and the materializer.
	reg *prometheus.Registry
	// deliverer, when set before start, replaces rec as the Deliverer; adjust,
	// when set, changes the processor's config.
	deliverer Deliverer
	adjust    func(*Config)
	// statusMirrors and statusFetchWait, set before start, are the
	// materializer's StatusMirrors and FetchWait.
	statusMirrors   []string
	statusFetchWait time.Duration
	// materialized, when set before start, is the materializer's store in
	// place of store (a wrapper of it, say).
	materialized StatusStore
	// kafka is the pipeline's cluster.
	kafka *kfake.Cluster
}

func startPipeline(t *testing.T, rec *recorder, start bool) *pipeline {
	t.Helper()
	topics := Topics{Prefix: "t."}
	c := testenv.Kafka(t, 1, topics.All()...)
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	prod, err := NewProducer(ProducerConfig{Kafka: opts, Topics: topics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(prod.Close)
	p := &pipeline{prod: prod, store: NewMemoryStatus(0, 0), rec: rec, opts: opts, topics: topics, reg: prometheus.NewRegistry(), kafka: c}
	if start {
		p.start(t)
	}
	return p
}

func (p *pipeline) start(t *testing.T) {
	t.Helper()
	cfg := Config{Kafka: p.opts, Topics: p.topics, Deliverer: p.rec, Directory: p.rec,
		SessionTimeout: time.Second, RetryBackoff: time.Millisecond, AckTimeout: 2 * time.Second, Metrics: p.reg}
	if p.deliverer != nil {
		cfg.Deliverer = p.deliverer
	}
	if p.adjust != nil {
		p.adjust(&cfg)
	}
	proc, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	p.proc = proc
	var store StatusStore = p.store
	if p.materialized != nil {
		store = p.materialized
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := proc.Run(ctx); err != nil {
			t.Errorf("processor: %v", err)
		}
	})
	wg.Go(func() {
		if err := RunMaterializer(ctx, MaterializerConfig{Kafka: p.opts, Topics: p.topics, Store: store, SessionTimeout: time.Second, Metrics: p.reg,
			StatusMirrors: p.statusMirrors, FetchWait: p.statusFetchWait}); err != nil {
			t.Errorf("materializer: %v", err)
		}
	})
	p.stop = func() { cancel(); wg.Wait() }
	t.Cleanup(p.stop)
}

var seq int

func (p *pipeline) send(t *testing.T, m Message) *Message {
	t.Helper()
	seq++
	if m.ID == "" {
		m.ID = fmt.Sprintf("m%05d", seq)
	}
	if m.Type == "" {
		m.Type = "notification.v1"
	}
	if m.Payload == nil {
		m.Payload = json.RawMessage(`{}`)
	}
	if m.Priority == "" {
		m.Priority = protocol.PriorityNormal
	}
	if m.Accepted == 0 {
		m.Accepted = time.Now().UnixMilli()
	}
	if err := p.prod.Enqueue(t.Context(), &m); err != nil {
		t.Fatalf("enqueue: %v", err)
	}
	return &m
}

// waitStatus waits until the message's status for device is want.
func (p *pipeline) waitStatus(t *testing.T, id, device string, want Outcome) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last *MessageStatus
	for time.Now().Before(deadline) {
		st, err := p.store.Get(t.Context(), id)
		if err == nil {
			last = st
			for _, d := range st.Devices {
				if d.Device == device && d.Status == want {
					return
				}
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("status of %s for %q never became %s; last: %+v", id, device, want, last)
}

func TestProcessorDelivers(t *testing.T) {
	rec := newRecorder("a1/tv1", "a1/phone1", "a2/tv2")
	rec.ackDelay = 20 * time.Millisecond
	p := startPipeline(t, rec, true)

	one := p.send(t, Message{Account: "a1", Device: "tv1"})
	p.waitStatus(t, one.ID, "tv1", Delivered)

	acked := p.send(t, Message{Account: "a2", Device: "tv2", Ack: true, Priority: protocol.PriorityHigh})
	p.waitStatus(t, acked.ID, "tv2", Acked)

	all := p.send(t, Message{Account: "a1", Priority: protocol.PriorityLow})
	p.waitStatus(t, all.ID, "tv1", Delivered)
	p.waitStatus(t, all.ID, "phone1", Delivered)

	off := p.send(t, Message{Account: "a1", Device: "nope"})
	p.waitStatus(t, off.ID, "nope", Offline)
	nobody := p.send(t, Message{Account: "a9"})
	p.waitStatus(t, nobody.ID, "", Offline)

	st, err := p.store.Get(t.Context(), one.ID)
	if err != nil {
		t.Fatal(err)
	}
	if st.Account != "a1" || st.Priority != protocol.PriorityNormal || st.Accepted != one.Accepted || st.Status != Delivered {
		t.Errorf("status = %+v", st)
	}
}

func TestProcessorExpiresAndCollapses(t *testing.T) {
	rec := newRecorder("a1/tv1")
	p := startPipeline(t, rec, false)
	old := time.Now().Add(-time.Minute).UnixMilli()
	expired := p.send(t, Message{Account: "a1", Device: "tv1", Accepted: old, Expires: old + 1000})
	var collapse []*Message
	for range 5 {
		collapse = append(collapse, p.send(t, Message{Account: "a1", Device: "tv1", CollapseKey: "score"}))
	}
	other := p.send(t, Message{Account: "a1", Device: "tv1", CollapseKey: "news"})
	p.start(t)

	p.waitStatus(t, expired.ID, "tv1", Expired)
	last := collapse[len(collapse)-1]
	p.waitStatus(t, last.ID, "tv1", Delivered)
	p.waitStatus(t, other.ID, "tv1", Delivered)
	for _, m := range collapse[:len(collapse)-1] {
		p.waitStatus(t, m.ID, "tv1", Collapsed)
	}
	got := rec.delivered()
	if len(got) != 2 {
		t.Errorf("delivered %v, want only %s and %s", got, last.ID, other.ID)
	}
}

func TestProcessorKeepsOrderPerDevice(t *testing.T) {
	rec := newRecorder("a1/tv1", "a2/tv1", "a3/tv1")
	p := startPipeline(t, rec, true)
	var sent []*Message
	for i := range 300 {
		sent = append(sent, p.send(t, Message{Account: fmt.Sprintf("a%d", 1+i%3), Device: "tv1"}))
	}
	p.waitStatus(t, sent[len(sent)-1].ID, "tv1", Delivered)
	for _, m := range sent {
		p.waitStatus(t, m.ID, "tv1", Delivered)
	}
	per := map[string][]string{}
	for _, m := range sent {
		per[m.Account] = append(per[m.Account], m.ID)
	}
	got := map[string][]string{}
	rec.mu.Lock()
	for _, id := range rec.got {
		for _, m := range sent {
			if m.ID == id {
				got[m.Account] = append(got[m.Account], id)
			}
		}
	}
	rec.mu.Unlock()
	for a, want := range per {
		if fmt.Sprint(got[a]) != fmt.Sprint(want) {
			t.Errorf("account %s: delivered in order %v, want %v", a, got[a], want)
		}
	}
}

func TestProcessorRetriesUnavailable(t *testing.T) {
	rec := newRecorder("a1/tv1")
	rec.unavail = 2
	p := startPipeline(t, rec, true)
	m := p.send(t, Message{Account: "a1", Device: "tv1"})
	p.waitStatus(t, m.ID, "tv1", Delivered)

	rec.mu.Lock()
	rec.unavail, rec.attempted = 100, 0
	rec.mu.Unlock()
	f := p.send(t, Message{Account: "a1", Device: "tv1"})
	p.waitStatus(t, f.ID, "tv1", Failed)
	st, _ := p.store.Get(t.Context(), f.ID)
	if st == nil || st.Devices[0].Error == "" {
		t.Errorf("failed status without an error: %+v", st)
	}
}

func TestProcessorSkipsMalformedRecords(t *testing.T) {
	rec := newRecorder("a1/tv1")
	p := startPipeline(t, rec, true)
	bad := []*kgo.Record{
		{Topic: p.topics.Messages(protocol.PriorityNormal), Key: []byte("a1"), Value: []byte("not json")},
		{Topic: p.topics.Messages(protocol.PriorityNormal), Key: []byte("a1"), Value: []byte(`{"id":"bad1","account":"a1","device":"tv1"}`)},
	}
	if err := p.prod.Produce(t.Context(), bad...); err != nil {
		t.Fatal(err)
	}
	good := p.send(t, Message{Account: "a1", Device: "tv1"})
	p.waitStatus(t, "bad1", "tv1", Failed)
	p.waitStatus(t, good.ID, "tv1", Delivered)
}

// mustProducer starts a kfake cluster with topics and returns it and a
// Producer of it with timeout, which the test's cleanup closes.
func mustProducer(tb testing.TB, timeout time.Duration, topics ...string) (*Producer, *kfake.Cluster) {
	tb.Helper()
	c := testenv.Kafka(tb, 1, topics...)
	prod, err := NewProducer(ProducerConfig{Kafka: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, Timeout: timeout})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(prod.Close)
	return prod, c
}

func TestEnqueueUnavailable(t *testing.T) {
	prod, c := mustProducer(t, time.Second, Topics{}.All()...)
	c.Close()
	m := &Message{ID: "x", Account: "a1", Type: "t", Payload: json.RawMessage(`{}`), Priority: protocol.PriorityHigh, Accepted: 1}
	if err := prod.Enqueue(t.Context(), m); err == nil {
		t.Fatal("enqueue with Kafka down succeeded")
	}
}

// TestEnqueueBatch enqueues a batch with one invalid message: the others are
// written, each with its queued event, and only the invalid one has an error;
// with Kafka down every message has one that wraps ErrUnavailable.
func TestEnqueueBatch(t *testing.T) {
	prod, c := mustProducer(t, time.Second, Topics{}.All()...)
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	ms := []*Message{
		{ID: "b1", Account: "a1", Device: "tv1", Type: "t", Payload: json.RawMessage(`{}`), Priority: protocol.PriorityHigh, Accepted: 1},
		{ID: "b2", Account: "a1", Payload: json.RawMessage(`{}`), Priority: protocol.PriorityNormal, Accepted: 1}, // no type
		{ID: "b3", Account: "a2", Type: "t", Payload: json.RawMessage(`{}`), Priority: protocol.PriorityLow, Accepted: 1},
	}
	errs := prod.EnqueueBatch(t.Context(), ms)
	if len(errs) != 3 || errs[0] != nil || errs[1] == nil || errs[2] != nil {
		t.Fatalf("errors %v, want only the second", errs)
	}
	if errors.Is(errs[1], ErrUnavailable) {
		t.Errorf("an invalid message's error wraps ErrUnavailable: %v", errs[1])
	}

	var topics Topics
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.ConsumeTopics(topics.All()...), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	got := map[string][]string{} // topic -> ids (message records) or id/status (events)
	n := 0
	deadline := time.Now().Add(10 * time.Second)
	for n < 4 && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		fetches := cl.PollFetches(ctx)
		cancel()
		for _, r := range fetches.Records() {
			if r.Topic == topics.Status() {
				var e Event
				if err := json.Unmarshal(r.Value, &e); err != nil {
					t.Fatal(err)
				}
				got[r.Topic] = append(got[r.Topic], e.ID+"/"+string(e.Status))
			} else {
				var m Message
				if err := json.Unmarshal(r.Value, &m); err != nil {
					t.Fatal(err)
				}
				got[r.Topic] = append(got[r.Topic], m.ID)
			}
			n++
		}
	}
	want := map[string][]string{
		topics.Messages(protocol.PriorityHigh): {"b1"},
		topics.Messages(protocol.PriorityLow):  {"b3"},
		topics.Status():                        {"b1/queued", "b3/queued"},
	}
	for _, ids := range got {
		slices.Sort(ids)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records %v, want %v", got, want)
	}

	c.Close()
	errs = prod.EnqueueBatch(t.Context(), []*Message{ms[0], ms[2]})
	for i, err := range errs {
		if !errors.Is(err, ErrUnavailable) {
			t.Errorf("with Kafka down, message %d: %v, want ErrUnavailable", i, err)
		}
	}
}

// TestEnqueueBatchPartlyAnswered: a batch of which Kafka answers some records
// and not others within the timeout (here, a topic that does not exist)
// reports the answered ones as written and the rest as unavailable.
func TestEnqueueBatchPartlyAnswered(t *testing.T) {
	var topics Topics
	prod, _ := mustProducer(t, time.Second, topics.Messages(protocol.PriorityHigh), topics.Status())
	ms := []*Message{
		{ID: "p1", Account: "a1", Type: "t", Payload: json.RawMessage(`{}`), Priority: protocol.PriorityHigh, Accepted: 1},
		{ID: "p2", Account: "a2", Type: "t", Payload: json.RawMessage(`{}`), Priority: protocol.PriorityLow, Accepted: 1}, // no such topic
		{ID: "p3", Account: "a3", Type: "t", Payload: json.RawMessage(`{}`), Priority: protocol.PriorityHigh, Accepted: 1},
	}
	errs := prod.EnqueueBatch(t.Context(), ms)
	if errs[0] != nil || errs[2] != nil {
		t.Errorf("the records of an existing topic: %v, %v, want nil", errs[0], errs[2])
	}
	if !errors.Is(errs[1], ErrUnavailable) || !strings.Contains(errs[1].Error(), "p2") {
		t.Errorf("the record of a missing topic: %v, want ErrUnavailable naming p2", errs[1])
	}
}
