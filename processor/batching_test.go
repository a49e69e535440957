package processor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// burst is how many records the batching tests send, gap apart: with a wait
// longer than the burst they gather in at most two fetches or produce
// requests (the burst may straddle the end of one wait), and without one each
// goes alone, well within the gap on kfake.
const (
	burst    = 5
	burstGap = 20 * time.Millisecond
)

// TestBatchingWaitBounds checks which fetch waits and lingers the configs
// take: 0 (off), or between the least allowed and the most.
func TestBatchingWaitBounds(t *testing.T) {
	opts := []kgo.Opt{kgo.SeedBrokers("127.0.0.1:1")}
	rec := newRecorder()
	fetchWaits := []struct {
		name string
		wait time.Duration
		ok   bool
	}{
		{"off", 0, true},
		{"negative", -time.Millisecond, false},
		{"below the least", MinFetchWait - time.Millisecond, false},
		{"least", MinFetchWait, true},
		{"most", MaxFetchWait, true},
		{"above the most", MaxFetchWait + time.Millisecond, false},
	}
	for _, tt := range fetchWaits {
		t.Run("processor "+tt.name, func(t *testing.T) {
			_, err := New(Config{Kafka: opts, Deliverer: rec, Directory: rec, FetchWait: tt.wait})
			if (err == nil) != tt.ok {
				t.Errorf("FetchWait %v: error %v, want ok %v", tt.wait, err, tt.ok)
			}
		})
		if tt.ok {
			continue // RunMaterializer with a valid config runs
		}
		t.Run("materializer "+tt.name, func(t *testing.T) {
			err := RunMaterializer(t.Context(), MaterializerConfig{Kafka: opts, Store: NewMemoryStatus(0, 0), FetchWait: tt.wait})
			if err == nil {
				t.Errorf("FetchWait %v: no error", tt.wait)
			}
		})
	}
	lingers := []struct {
		name   string
		linger time.Duration
		ok     bool
	}{
		{"off", 0, true},
		{"negative", -time.Millisecond, false},
		{"most", MaxProduceLinger, true},
		{"above the most", MaxProduceLinger + time.Millisecond, false},
	}
	for _, tt := range lingers {
		t.Run("producer "+tt.name, func(t *testing.T) {
			prod, err := NewProducer(ProducerConfig{Kafka: opts, Linger: tt.linger})
			if err == nil {
				prod.Close()
			}
			if (err == nil) != tt.ok {
				t.Errorf("Linger %v: error %v, want ok %v", tt.linger, err, tt.ok)
			}
		})
	}
}

// TestProcessorFetchWait checks that with a fetch wait the messages that
// arrive within it are delivered in one batch (or two, when they straddle the
// end of a wait), and without one each in its own.
func TestProcessorFetchWait(t *testing.T) {
	tests := []struct {
		name       string
		wait       time.Duration
		minBatches float64
		maxBatches float64
	}{
		{name: "off", wait: 0, minBatches: 3, maxBatches: burst},
		{name: "on", wait: 500 * time.Millisecond, minBatches: 1, maxBatches: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := newRecorder("a1/tv1")
			p := startPipeline(t, rec, false)
			p.adjust = func(c *Config) { c.FetchWait = tt.wait }
			p.start(t)
			// The first message is delivered once the member has joined
			// its group and fetches: the burst is then consumed as it
			// arrives.
			p.send(t, Message{Account: "a1", Device: "tv1"})
			waitFor(t, "the first delivery", func() bool { return len(rec.delivered()) == 1 })
			before := value(t, p.reg, metricBatches, "priority", "normal")
			for i := range burst {
				if i > 0 {
					time.Sleep(burstGap)
				}
				p.send(t, Message{Account: "a1", Device: "tv1"})
			}
			waitFor(t, "the burst's deliveries", func() bool { return len(rec.delivered()) == 1+burst })
			n := value(t, p.reg, metricBatches, "priority", "normal") - before
			if n < tt.minBatches || n > tt.maxBatches {
				t.Errorf("%d messages %v apart came in %v batches, want %v to %v", burst, burstGap, n, tt.minBatches, tt.maxBatches)
			}
		})
	}
}

// TestMaterializerFetchWait checks that with a fetch wait the status events
// still reach the store, those that arrive within it in one poll (or two),
// and without one each in its own.
func TestMaterializerFetchWait(t *testing.T) {
	tests := []struct {
		name       string
		wait       time.Duration
		minBatches float64
		maxBatches float64
	}{
		{name: "off", wait: 0, minBatches: 3, maxBatches: burst},
		{name: "on", wait: 500 * time.Millisecond, minBatches: 1, maxBatches: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := startPipeline(t, newRecorder(), false)
			p.statusFetchWait = tt.wait
			p.start(t)
			report := func(id string) {
				p.prod.Report(Event{ID: id, Account: "a1", Device: "tv1", Status: Delivered, Priority: protocol.PriorityNormal})
			}
			stored := func(id string) bool {
				st, err := p.store.Get(t.Context(), id)
				return err == nil && st.Status == Delivered
			}
			report(tt.name + "-first")
			waitFor(t, "the first event stored", func() bool { return stored(tt.name + "-first") })
			before := value(t, p.reg, metricMatBatches)
			var ids []string
			for i := range burst {
				if i > 0 {
					time.Sleep(burstGap)
				}
				ids = append(ids, fmt.Sprintf("%s-%d", tt.name, i))
				report(ids[i])
			}
			waitFor(t, "the burst's events stored", func() bool {
				for _, id := range ids {
					if !stored(id) {
						return false
					}
				}
				return true
			})
			n := value(t, p.reg, metricMatBatches) - before
			if n < tt.minBatches || n > tt.maxBatches {
				t.Errorf("%d events %v apart came in %v polls, want %v to %v", burst, burstGap, n, tt.minBatches, tt.maxBatches)
			}
		})
	}
}

// TestFetchWaitIdle checks that the fetch waits cost nothing while no record
// comes: the members and the materializer then fetch about once per
// idleFetchWait, as without a wait, not once per wait.
func TestFetchWaitIdle(t *testing.T) {
	rec := newRecorder("a1/tv1")
	p := startPipeline(t, rec, false)
	const wait = 10 * time.Millisecond
	p.adjust = func(c *Config) { c.FetchWait = wait }
	p.statusFetchWait = wait
	var fetches atomic.Int64
	p.kafka.ControlKey(int16(kmsg.Fetch), func(kmsg.Request) (kmsg.Response, error, bool) {
		p.kafka.KeepControl()
		fetches.Add(1)
		return nil, nil, false
	})
	p.start(t)
	p.send(t, Message{Account: "a1", Device: "tv1"})
	waitFor(t, "the delivery", func() bool { return len(rec.delivered()) == 1 })
	time.Sleep(3 * wait) // the rests after the message's polls
	fetches.Store(0)
	const idle = time.Second
	time.Sleep(idle)
	// Four consumers (three priorities and the materializer), each fetching
	// every idleFetchWait; with the wait done by the broker it would be
	// every wait: 400.
	if n, most := fetches.Load(), int64(4*(idle/idleFetchWait+2)); n > most {
		t.Errorf("%d fetches in %v idle, want at most %d", n, idle, most)
	}
}

// TestProducerLinger checks that with a linger the messages enqueued within
// it go to Kafka in one produce request (or two), and without one each in its
// own, and that an Enqueue then waits for the linger.
func TestProducerLinger(t *testing.T) {
	tests := []struct {
		name        string
		linger      time.Duration
		minRequests int64
		maxRequests int64
	}{
		{name: "off", linger: 0, minRequests: 3, maxRequests: burst},
		{name: "on", linger: MaxProduceLinger, minRequests: 1, maxRequests: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			topics := Topics{Prefix: "t."}
			c := testenv.Kafka(t, 1, topics.All()...)
			topic := topics.Messages(protocol.PriorityNormal)
			id := topicID(t, c.ListenAddrs(), topic) // produce v13 names topics by id
			var requests atomic.Int64                // produce requests that carry messages
			c.ControlKey(int16(kmsg.Produce), func(r kmsg.Request) (kmsg.Response, error, bool) {
				c.KeepControl()
				for _, tp := range r.(*kmsg.ProduceRequest).Topics {
					if tp.Topic == topic || tp.TopicID == id {
						requests.Add(1)
						break
					}
				}
				return nil, nil, false
			})
			prod, err := NewProducer(ProducerConfig{Kafka: []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, Topics: topics, Linger: tt.linger})
			if err != nil {
				t.Fatal(err)
			}
			defer prod.Close()
			msg := func(id string) *Message {
				return &Message{ID: id, Account: "a1", Device: "tv1", Type: "notification.v1", Payload: []byte(`{}`),
					Priority: protocol.PriorityNormal, Accepted: time.Now().UnixMilli()}
			}
			// The first message connects the client; the flush sends its
			// queued event, whose linger would otherwise end the burst's.
			if err := prod.Enqueue(t.Context(), msg(tt.name+"-first")); err != nil {
				t.Fatal(err)
			}
			if err := prod.Client().Flush(t.Context()); err != nil {
				t.Fatal(err)
			}
			requests.Store(0)
			var (
				wg      sync.WaitGroup
				mu      sync.Mutex
				slowest time.Duration
			)
			for i := range burst {
				wg.Go(func() {
					time.Sleep(time.Duration(i) * burstGap)
					start := time.Now()
					if err := prod.Enqueue(context.Background(), msg(fmt.Sprintf("%s-%d", tt.name, i))); err != nil {
						t.Errorf("enqueue: %v", err)
					}
					mu.Lock()
					slowest = max(slowest, time.Since(start))
					mu.Unlock()
				})
			}
			wg.Wait()
			if n := requests.Load(); n < tt.minRequests || n > tt.maxRequests {
				t.Errorf("%d messages %v apart went in %d produce requests, want %d to %d", burst, burstGap, n, tt.minRequests, tt.maxRequests)
			}
			if slowest < tt.linger {
				t.Errorf("the slowest Enqueue took %v, less than the linger %v", slowest, tt.linger)
			}
		})
	}
}

// waitFor waits up to 15 s for done, polling every 5 ms.
func waitFor(tb testing.TB, what string, done func() bool) {
	tb.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !done() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited 15s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// topicID returns the id of topic on the cluster at addrs.
func topicID(tb testing.TB, addrs []string, topic string) [16]byte {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...))
	if err != nil {
		tb.Fatal(err)
	}
	defer cl.Close()
	details, err := kadm.NewClient(cl).ListTopics(tb.Context(), topic)
	if err == nil {
		err = details.Error()
	}
	if err != nil {
		tb.Fatalf("list topic %s: %v", topic, err)
	}
	return details[topic].ID
}

// TestBatchEventsHold holds more events than one slab takes, and one larger
// than a slab's bytes, in batches of several sizes: every held record keeps
// its own key and value, and an ended batch holds nothing more.
func TestBatchEventsHold(t *testing.T) {
	p := &Processor{}
	for _, tc := range []struct {
		name   string
		batch  int
		events int
	}{
		{"one", 1, 1},
		{"one message, many events", 1, 9},
		{"small", 20, 45},
		{"past the largest slab", 200, 150},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := p.newBatchEvents(tc.batch)
			var want [][2]string
			for i := range tc.events {
				key := fmt.Sprintf("m-%d", i)
				value := fmt.Sprintf(`{"id":%q,"status":"delivered","pad":%q}`, key, strings.Repeat("x", i%7*40))
				if i == tc.events/2 {
					value = `{"pad":"` + strings.Repeat("y", eventSlabMax*eventSlabBytes) + `"}`
				}
				kv := []byte(key + value)
				if !b.hold("herald.status", kv, len(key)) {
					t.Fatalf("event %d was not held", i)
				}
				clear(kv) // hold keeps a copy
				want = append(want, [2]string{key, value})
			}
			if len(b.held) != len(want) {
				t.Fatalf("held %d events, want %d", len(b.held), len(want))
			}
			for i, r := range b.held {
				if string(r.Key) != want[i][0] || string(r.Value) != want[i][1] || r.Topic != "herald.status" {
					t.Fatalf("event %d held as %q %q on %q, want %q %q", i, r.Key, r.Value, r.Topic, want[i][0], want[i][1])
				}
				if cap(r.Key) != len(r.Key) || cap(r.Value) != len(r.Value) {
					t.Fatalf("event %d: key or value can grow into its neighbour", i)
				}
			}
			b.held, b.ended = nil, true
			if b.hold("herald.status", []byte("late{}"), 4) {
				t.Fatal("an ended batch held an event")
			}
		})
	}
}
