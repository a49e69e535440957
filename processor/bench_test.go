package processor_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
	"github.com/heraldpush/herald/scripts/testenv"
)

// The benchmarks below run the whole asynchronous path in one process: a kfake
// cluster, the Producer, a Processor, the in-memory registry as its Directory,
// one edge.Server behind edge.Router, and real WebSocket devices reading from
// that edge. Every part shares the same cores, so a figure per core is the
// throughput of the whole path divided by GOMAXPROCS, not the processor's alone.

const (
	benchDevices = 100 // one device per account
	benchSecret  = "processor-bench-secret-of-at-least-32-bytes"
)

// benchPayload is a small, valid notification.v1 payload.
var benchPayload = json.RawMessage(`{"title":"Goal","body":"2-1 in the 89th minute"}`)

// benchEnv is a kfake cluster, a producer and one edge with connected devices.
type benchEnv struct {
	topics   processor.Topics
	kafka    []kgo.Opt
	prod     *processor.Producer
	reg      *registry.Memory
	router   *edge.Router
	accounts []string
}

// mustBenchEnv starts the cluster and the edge and connects benchDevices devices
// ("acct-NNN"/"tv"); onMsg is called from the device's reader goroutine with
// every msg frame it receives. Everything stops with b's cleanups.
func mustBenchEnv(b *testing.B, onMsg func(data []byte)) *benchEnv {
	b.Helper()
	topics := processor.Topics{Prefix: "bench."}
	c := testenv.Kafka(b, 1, topics.All()...)
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	prod, err := processor.NewProducer(processor.ProducerConfig{Kafka: opts, Topics: topics})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(prod.Close)

	reg := registry.NewMemory()
	srv, hs := mustBenchEdge(b, reg)
	env := &benchEnv{topics: topics, kafka: opts, prod: prod, reg: reg, router: &edge.Router{Local: srv, Registry: reg}}
	iss, err := token.NewHS256Issuer(token.HS256Key{Secret: []byte(benchSecret)})
	if err != nil {
		b.Fatal(err)
	}
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/v1/connect"
	var readers sync.WaitGroup
	var conns []*websocket.Conn
	b.Cleanup(func() {
		for _, c := range conns {
			_ = c.CloseNow()
		}
		readers.Wait()
	})
	for i := range benchDevices {
		account := fmt.Sprintf("acct-%03d", i)
		c := mustBenchDial(b, iss, url, account, "tv")
		conns = append(conns, c)
		env.accounts = append(env.accounts, account)
		readers.Go(func() { readMsgs(c, onMsg) })
	}
	return env
}

// mustBenchEdge starts an edge on a loopback port; it shuts down with b.
func mustBenchEdge(b *testing.B, reg *registry.Memory) (*edge.Server, *httptest.Server) {
	b.Helper()
	v, err := token.NewVerifier(token.VerifierConfig{HS256: []token.HS256Key{{Secret: []byte(benchSecret)}}})
	if err != nil {
		b.Fatal(err)
	}
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		b.Fatal(err)
	}
	srv, err := edge.New(edge.Config{ID: "edge-1", Verifier: v, Registry: reg, Types: types,
		Devices: devicelist.NewMemory(), Versions: reg})
	if err != nil {
		b.Fatal(err)
	}
	hs := httptest.NewServer(srv.Handler())
	b.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			b.Errorf("edge shutdown: %v", err)
		}
		hs.Close()
	})
	return srv, hs
}

// mustBenchDial connects account/device and reads its welcome, so that the
// device is registered when it returns.
func mustBenchDial(b *testing.B, iss *token.Issuer, url, account, device string) *websocket.Conn {
	b.Helper()
	tok, err := iss.Issue(account, device, time.Hour)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + tok}},
		Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		b.Fatalf("dial %s/%s: %v", account, device, err)
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		_ = c.CloseNow()
		b.Fatalf("welcome of %s/%s: %v", account, device, err)
	}
	if f, err := protocol.Decode(data); err != nil || f == nil {
		_ = c.CloseNow()
		b.Fatalf("welcome of %s/%s: %s: %v", account, device, data, err)
	} else if _, ok := f.(*protocol.Welcome); !ok {
		_ = c.CloseNow()
		b.Fatalf("first frame of %s/%s is not a welcome: %s", account, device, data)
	}
	return c
}

// readMsgs passes every msg frame of c to onMsg until the connection ends.
func readMsgs(c *websocket.Conn, onMsg func([]byte)) {
	msg := []byte(`{"t":"msg"`)
	for {
		_, data, err := c.Read(context.Background())
		if err != nil {
			return
		}
		if bytes.HasPrefix(data, msg) {
			onMsg(data)
		}
	}
}

// mustRunProcessor runs a Processor until b's cleanups stop it.
func (e *benchEnv) mustRunProcessor(b *testing.B, workers map[protocol.Priority]int, fetchWait time.Duration) *processor.Processor {
	b.Helper()
	p, err := processor.New(processor.Config{Kafka: e.kafka, Topics: e.topics, Group: "bench",
		Deliverer: e.router, Directory: e.reg, Workers: workers, SessionTimeout: time.Second, FetchWait: fetchWait})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := p.Run(ctx); err != nil {
			b.Errorf("processor: %v", err)
		}
	})
	b.Cleanup(func() { cancel(); wg.Wait() })
	return p
}

// message is message i to the whole account of device i % benchDevices, so that
// the processor asks the registry for the account's devices.
func (e *benchEnv) message(id string, i int, prio protocol.Priority, accepted time.Time) *processor.Message {
	return &processor.Message{ID: id, Account: e.accounts[i%len(e.accounts)], Type: "notification.v1",
		Payload: benchPayload, From: "bench", Priority: prio, Accepted: accepted.UnixMilli()}
}

// mustPreload produces n messages of priority prio straight to its topic, in
// batches, without the queued events that Enqueue adds.
func (e *benchEnv) mustPreload(b *testing.B, n int, prio protocol.Priority) {
	b.Helper()
	const batch = 1000
	now := time.Now()
	recs := make([]*kgo.Record, 0, batch)
	for i := range n {
		v, err := json.Marshal(e.message("t"+strconv.Itoa(i), i, prio, now))
		if err != nil {
			b.Fatal(err)
		}
		recs = append(recs, &kgo.Record{Topic: e.topics.Messages(prio), Key: []byte(e.accounts[i%len(e.accounts)]), Value: v})
		if len(recs) == batch || i == n-1 {
			if err := e.prod.Produce(context.Background(), recs...); err != nil {
				b.Fatal(err)
			}
			recs = recs[:0]
		}
	}
}

// BenchmarkProcessorThroughput measures how fast one processor drains a
// backlog: b.N normal-priority messages, spread over 100 accounts of one device
// each, are produced before the timer starts; the timer runs from starting the
// Processor (joining its groups included) until the devices have read every
// message. Each message goes kfake -> processor -> registry (the account's
// devices) -> edge.Router -> the edge's send queue -> WebSocket -> device.
// The sub-benchmarks vary the normal priority's workers (8 is the default).
func BenchmarkProcessorThroughput(b *testing.B) {
	for _, workers := range []int{1, processor.DefaultNormalWorkers, 32} {
		b.Run("workers="+strconv.Itoa(workers), func(b *testing.B) {
			var got atomic.Int64
			done := make(chan struct{})
			n := int64(b.N)
			env := mustBenchEnv(b, func([]byte) {
				if got.Add(1) == n {
					close(done)
				}
			})
			env.mustPreload(b, b.N, protocol.PriorityNormal)

			b.ResetTimer()
			start := time.Now()
			p := env.mustRunProcessor(b, map[protocol.Priority]int{protocol.PriorityNormal: workers}, 0)
			select {
			case <-done:
			case <-time.After(5 * time.Minute):
				b.Fatalf("devices read %d of %d messages; stats %+v", got.Load(), b.N, p.Stats())
			}
			elapsed := time.Since(start)
			b.StopTimer()

			// A device can read the last message before its attempt has
			// counted it: wait for the count.
			s := p.Stats()
			for wait := time.Now().Add(5 * time.Second); s.Delivered < uint64(b.N) && time.Now().Before(wait); s = p.Stats() {
				time.Sleep(time.Millisecond)
			}
			if s.Delivered < uint64(b.N) || s.Failed > 0 || s.Offline > 0 {
				b.Errorf("stats %+v, want %d delivered", s, b.N)
			}
			rate := float64(b.N) / elapsed.Seconds()
			b.ReportMetric(rate, "msgs/s")
			b.ReportMetric(rate/float64(runtime.GOMAXPROCS(0)), "msgs/s/core")
		})
	}
}

// BenchmarkEnqueueToDelivery measures the latency of the asynchronous path at a
// steady 1,000 messages a second (open loop: one Enqueue started every
// millisecond, each in its own goroutine as API requests would be): from calling
// Producer.Enqueue (Accepted is then) to the device reading the msg frame. It
// reports p50, p99 and max of that, and p50 and p99 of Enqueue alone (Kafka's
// acknowledgement with acks=all); without a fetch wait and with one of 10 ms.
// The batch sub-benchmarks keep the rate but enqueue with EnqueueBatch, as
// POST /v1/messages/batch does: a batch of 10 every 10 ms, or of 100 every
// 100 ms.
func BenchmarkEnqueueToDelivery(b *testing.B) {
	for _, c := range []struct {
		wait  time.Duration
		batch int
	}{{0, 1}, {10 * time.Millisecond, 1}, {0, 10}, {10 * time.Millisecond, 10}, {0, 100}} {
		name := "fetchwait=" + c.wait.String()
		if c.batch > 1 {
			name = "batch=" + strconv.Itoa(c.batch) + "/" + name
		}
		b.Run(name, func(b *testing.B) { enqueueToDelivery(b, c.wait, c.batch) })
	}
}

// enqueueToDelivery is BenchmarkEnqueueToDelivery with the processor's
// Config.FetchWait at fetchWait, enqueueing batch messages every batch
// milliseconds (Enqueue when batch is 1, EnqueueBatch otherwise).
func enqueueToDelivery(b *testing.B, fetchWait time.Duration, batch int) {
	const warmup = benchDevices
	n := b.N
	sent := make([]time.Time, n)
	enqueued := make([]time.Duration, n)
	recv := make([]atomic.Int64, n) // unix nanoseconds of the first read
	var left, warm atomic.Int64
	left.Store(int64(n))
	warm.Store(warmup)
	done, warmed := make(chan struct{}), make(chan struct{})
	env := mustBenchEnv(b, func(data []byte) {
		at := time.Now().UnixNano()
		// The id is read without decoding the frame, as the backlog
		// benchmark's devices decode nothing: the allocations per message
		// are then Herald's in both.
		id, ok := frameID(data)
		if !ok {
			b.Errorf("no id in %s", data)
			return
		}
		if rest, ok := strings.CutPrefix(id, "w"); ok && rest != "" {
			if warm.Add(-1) == 0 {
				close(warmed)
			}
			return
		}
		i, err := strconv.Atoi(strings.TrimPrefix(id, "l"))
		if err != nil || i < 0 || i >= n {
			b.Errorf("unexpected message id %q", id)
			return
		}
		if recv[i].CompareAndSwap(0, at) && left.Add(-1) == 0 {
			close(done)
		}
	})
	p := env.mustRunProcessor(b, nil, fetchWait)
	prio := protocol.PriorityNormal
	ctx := context.Background()

	// Warm up: the groups joined, every device reached once.
	for i := range warmup {
		if err := env.prod.Enqueue(ctx, env.message("w"+strconv.Itoa(i), i, prio, time.Now())); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-warmed:
	case <-time.After(30 * time.Second):
		b.Fatalf("warm-up: %d of %d messages read; stats %+v", warmup-warm.Load(), warmup, p.Stats())
	}

	// The messages are made before the timer starts, as the backlog
	// benchmark's are: the allocations per message are then the path's.
	all := make([]*processor.Message, n)
	for i := range all {
		all[i] = env.message("l"+strconv.Itoa(i), i, prio, time.Now())
	}
	b.ResetTimer()
	var senders sync.WaitGroup
	tick := time.NewTicker(time.Duration(batch) * time.Millisecond)
	for first := 0; first < n; first += batch {
		<-tick.C
		now := time.Now()
		ms := all[first:min(first+batch, n)]
		for i := first; i < min(first+batch, n); i++ {
			sent[i] = now
			all[i].Accepted = now.UnixMilli()
		}
		senders.Go(func() {
			var errs []error
			if len(ms) == 1 {
				errs = []error{env.prod.Enqueue(ctx, ms[0])}
			} else {
				errs = env.prod.EnqueueBatch(ctx, ms)
			}
			took := time.Since(now)
			for j, err := range errs {
				if err != nil {
					b.Errorf("enqueue: %v", err)
				}
				enqueued[first+j] = took
			}
		})
	}
	tick.Stop()
	senders.Wait()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		b.Fatalf("devices read %d of %d messages; stats %+v", int64(n)-left.Load(), n, p.Stats())
	}
	b.StopTimer()

	lat := make([]time.Duration, n)
	for i := range n {
		lat[i] = time.Unix(0, recv[i].Load()).Sub(sent[i])
	}
	slices.Sort(lat)
	slices.Sort(enqueued)
	pct := func(d []time.Duration, p float64) float64 { return float64(d[int(p*float64(len(d)-1))].Microseconds()) }
	b.ReportMetric(pct(lat, 0.50), "p50-µs")
	b.ReportMetric(pct(lat, 0.99), "p99-µs")
	b.ReportMetric(float64(lat[n-1].Microseconds()), "max-µs")
	b.ReportMetric(pct(enqueued, 0.50), "enqueue-p50-µs")
	b.ReportMetric(pct(enqueued, 0.99), "enqueue-p99-µs")
}

// frameID returns the id of a msg frame as Herald writes it ("id" a plain
// string right after "t"), without decoding the rest.
func frameID(data []byte) (string, bool) {
	rest, ok := bytes.CutPrefix(data, []byte(`{"t":"msg","id":"`))
	if !ok {
		return "", false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 {
		return "", false
	}
	return string(rest[:end]), true
}
