package edge

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/redis/rueidis"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// The benchmarks of this file measure what store-and-forward costs an edge:
// BenchmarkConnectInbox the inbox read of every connect, BenchmarkReconnectDrain
// the delivery of stored messages to devices that connect. The Redis inbox is
// on a private redis-server, so that its CPU time (redis-cpu-ns) is the
// benchmark's alone; cpu-ns is this process's: the edge and the test's
// WebSocket clients.

// costInbox is an inbox under benchmark, and the client that reads its Redis'
// CPU time when it is on Redis.
type costInbox struct {
	box   Inbox
	redis rueidis.Client // nil: in memory
}

// costInboxes are the inboxes the benchmarks compare; new returns nil for none.
var costInboxes = []struct {
	name string
	new  func(b *testing.B) *costInbox
}{
	{"none", func(*testing.B) *costInbox { return nil }},
	{"memory", func(b *testing.B) *costInbox {
		box, err := inbox.NewMemory(inbox.Config{})
		if err != nil {
			b.Fatal(err)
		}
		return &costInbox{box: box}
	}},
	{"redis", mustPrivateRedisInbox},
}

// benchInboxTimeout bounds the benchmarks' Redis inbox calls: above the
// default 500 ms, so that a loaded machine (or -race) slows a benchmark rather
// than failing it; a failed read leaves a device's messages for its next
// connection, and BenchmarkReconnectDrain would wait for them in vain.
const benchInboxTimeout = 10 * time.Second

// mustPrivateRedisInbox returns a Redis inbox on a redis-server of its own.
func mustPrivateRedisInbox(b *testing.B) *costInbox {
	b.Helper()
	srv := testenv.StartRedis(b)
	client, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{srv.Addr}, DisableCache: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(client.Close)
	box, err := inbox.NewRedis(inbox.RedisConfig{Client: client, Timeout: benchInboxTimeout})
	if err != nil {
		b.Fatal(err)
	}
	return &costInbox{box: box, redis: client}
}

// redisCPU returns the CPU time, user and system, of the inbox's redis-server
// so far; zero in memory.
func (ci *costInbox) redisCPU(b *testing.B) time.Duration {
	b.Helper()
	if ci == nil || ci.redis == nil {
		return 0
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	info, err := ci.redis.Do(ctx, ci.redis.B().Info().Section("cpu").Build()).ToString()
	if err != nil {
		b.Fatal(err)
	}
	var sec float64
	for line := range strings.SplitSeq(info, "\r\n") {
		for _, key := range []string{"used_cpu_sys:", "used_cpu_user:"} {
			if v, ok := strings.CutPrefix(line, key); ok {
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					b.Fatal(err)
				}
				sec += f
			}
		}
	}
	return time.Duration(sec * float64(time.Second))
}

// costMeter measures the CPU time of this process and of the inbox's Redis,
// and the wall time, from its start.
type costMeter struct {
	ci        *costInbox // nil: no inbox
	cpu, rcpu time.Duration
	wall      time.Time
}

// startCost starts a costMeter for ci.
func startCost(b *testing.B, ci *costInbox) costMeter {
	return costMeter{ci: ci, cpu: cpuTime(b), rcpu: ci.redisCPU(b), wall: time.Now()}
}

// report adds cpu-ns and, on Redis, redis-cpu-ns per unit, unit naming what
// is counted (op, msg).
func (m costMeter) report(b *testing.B, n int, unit string) {
	b.Helper()
	if n <= 0 {
		return
	}
	b.ReportMetric(float64(cpuTime(b)-m.cpu)/float64(n), "cpu-ns/"+unit)
	if m.ci != nil && m.ci.redis != nil {
		b.ReportMetric(float64(m.ci.redisCPU(b)-m.rcpu)/float64(n), "redis-cpu-ns/"+unit)
	}
}

// dialWelcome connects the device of tok and reads its welcome.
func (e *testEdge) dialWelcome(ctx context.Context, tok string) (*websocket.Conn, error) {
	hdr := http.Header{"Authorization": {"Bearer " + tok}}
	c, _, err := websocket.Dial(ctx, e.wsURL(), &websocket.DialOptions{HTTPHeader: hdr, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		_ = c.CloseNow()
		return nil, fmt.Errorf("welcome: %w", err)
	}
	if f, err := protocol.Decode(data); err != nil || f.Kind() != protocol.KindWelcome {
		_ = c.CloseNow()
		return nil, fmt.Errorf("first frame %s is not a welcome", data)
	}
	return c, nil
}

// BenchmarkConnectInbox measures one connect of a device whose inbox is empty,
// from the dial to the welcome read: without an inbox, with a memory inbox and
// with a Redis inbox, where every connect reads the device's inbox (one
// Pending, a round trip and a script) before the device is registered and its
// welcome written. Each op is a new device, closed once it has its welcome;
// "serial" connects one at a time, "parallel" from 8 goroutines per core, a
// small reconnect storm.
func BenchmarkConnectInbox(b *testing.B) {
	for _, ib := range costInboxes {
		b.Run("inbox="+ib.name, func(b *testing.B) {
			ci := ib.new(b)
			e := mustEdge(b, func(c *Config) {
				if ci != nil {
					c.Inbox = ci.box
				}
			})
			ctx := context.Background()
			var next atomic.Int64
			connect := func(b *testing.B) {
				c, err := e.dialWelcome(ctx, e.token(b, "a1", "c"+strconv.FormatInt(next.Add(1), 10)))
				if err != nil {
					b.Error(err)
					return
				}
				_ = c.CloseNow()
			}
			b.Run("serial", func(b *testing.B) {
				b.ReportAllocs()
				m := startCost(b, ci)
				for b.Loop() {
					connect(b)
				}
				b.StopTimer()
				m.report(b, b.N, "op")
			})
			b.Run("parallel", func(b *testing.B) {
				b.ReportAllocs()
				b.SetParallelism(8)
				m := startCost(b, ci)
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						connect(b)
					}
				})
				b.StopTimer()
				m.report(b, b.N, "op")
			})
		})
	}
}

// countingInbox counts the messages the edge removed from its inbox (a
// drained device's last removal follows its last write, and the drain's cost
// is complete only once it is done) and keeps the calls that failed, which a
// failed round reports.
type countingInbox struct {
	Inbox
	removed atomic.Int64

	mu       sync.Mutex
	failures []error // guarded by mu: the failed Pending and Remove calls
}

// Pending reads the inbox and records a failure.
func (c *countingInbox) Pending(ctx context.Context, account, device string, after uint64, limit int) (inbox.Page, error) {
	p, err := c.Inbox.Pending(ctx, account, device, after, limit)
	c.failed(err)
	return p, err
}

func (c *countingInbox) failed(err error) {
	if err != nil {
		c.mu.Lock()
		c.failures = append(c.failures, err)
		c.mu.Unlock()
	}
}

// failuresText describes the failed calls, "" when there were none.
func (c *countingInbox) failuresText() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.failures) == 0 {
		return ""
	}
	return fmt.Sprintf("; %d inbox calls failed, the first: %v", len(c.failures), c.failures[0])
}

// Remove removes ids and counts those removed.
func (c *countingInbox) Remove(ctx context.Context, account, device string, ids ...string) (int, error) {
	n, err := c.Inbox.Remove(ctx, account, device, ids...)
	c.removed.Add(int64(n))
	c.failed(err)
	return n, err
}

// The rd names belong to BenchmarkReconnectDrain (reconnect drain).
//
// rdDevices is how many devices connect at once in BenchmarkReconnectDrain,
// rdDials how many of them dial at the same time, and rdRoundBound how
// long a round's fill and drain may take before the benchmark fails: a device
// whose inbox read failed gets its messages only on its next connection.
const (
	rdDevices    = 200
	rdDials      = 16
	rdRoundBound = time.Minute
)

// rdPayload is the payload of a stored message in BenchmarkReconnectDrain:
// a notification of about 100 bytes.
var rdPayload = []byte(`{"title":"Stored while you were away","body":"` + strings.Repeat("x", 48) + `"}`)

// BenchmarkReconnectDrain measures the reconnect drain: rdDevices devices,
// each with stored messages waiting in its inbox (memory or Redis), connect
// (rdDials dialling at a time) and read them. One op is one round: the
// inboxes are filled (not timed), then every device connects and reads its
// welcome and its stored messages, and the round ends once the edge has removed
// them all. msgs/s is the stored messages read per second of wall time, from
// the first dial to the last message read (ms-to-last); cpu-ns/msg and
// redis-cpu-ns/msg are the CPU time of the round, edge and clients and Redis,
// per message, and msgs/cpu-s the messages per second of one core they make.
//
//	go test -run '^$' -bench ReconnectDrain -benchtime 5x ./edge/
func BenchmarkReconnectDrain(b *testing.B) {
	for _, ib := range costInboxes[1:] {
		for _, stored := range []int{20, 100} {
			b.Run(fmt.Sprintf("inbox=%s/stored=%d", ib.name, stored), func(b *testing.B) {
				benchReconnectDrain(b, ib.new(b), stored)
			})
		}
	}
}

func benchReconnectDrain(b *testing.B, ci *costInbox, stored int) {
	box := &countingInbox{Inbox: ci.box}
	e := mustEdge(b, func(c *Config) { c.Inbox = box })
	var (
		msgs          int
		wall, cpu, rc time.Duration
	)
	for round := 0; round < b.N; round++ {
		b.StopTimer()
		dev := "r" + strconv.Itoa(round)
		toks := make([]string, rdDevices)
		for i := range toks {
			toks[i] = e.token(b, "a"+strconv.Itoa(i), dev)
		}
		ctx, cancel := context.WithTimeout(context.Background(), rdRoundBound)
		rdFillInboxes(ctx, b, ci.box, dev, stored)
		box.removed.Store(0)
		b.StartTimer()

		m := startCost(b, ci)
		last, conns, err := rdConnectAll(ctx, b, e, toks, stored)
		cancel()
		if err != nil {
			b.Fatalf("%v%s", err, box.failuresText())
		}
		want := int64(rdDevices * stored)
		deadline := time.Now().Add(time.Minute)
		for box.removed.Load() < want {
			if time.Now().After(deadline) {
				b.Fatalf("the edge removed %d of %d stored messages%s", box.removed.Load(), want, box.failuresText())
			}
			time.Sleep(time.Millisecond)
		}
		cpu += cpuTime(b) - m.cpu
		rc += ci.redisCPU(b) - m.rcpu
		for _, c := range conns {
			_ = c.CloseNow()
		}
		wall += last.Sub(m.wall)
		msgs += int(want)
	}
	b.StopTimer()
	b.ReportMetric(float64(msgs)/wall.Seconds(), "msgs/s")
	b.ReportMetric(float64(wall.Milliseconds())/float64(b.N), "ms-to-last")
	b.ReportMetric(float64(cpu)/float64(msgs), "cpu-ns/msg")
	if ci.redis != nil {
		b.ReportMetric(float64(rc)/float64(msgs), "redis-cpu-ns/msg")
	}
	b.ReportMetric(float64(msgs)/(cpu+rc).Seconds(), "msgs/cpu-s")
}

// rdFillInboxes stores n notifications for device dev of each account a0 to
// a<rdDevices-1>, from a few goroutines.
func rdFillInboxes(ctx context.Context, b *testing.B, box Inbox, dev string, n int) {
	b.Helper()
	now := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < rdDevices; i += 8 {
				for j := range n {
					_, err := box.Put(ctx, inbox.Message{
						ID: dev + "-" + strconv.Itoa(j), Account: "a" + strconv.Itoa(i), Device: dev,
						Type: "notification.v1", From: `{"service":"backend"}`, Payload: rdPayload,
						Expires: now.Add(time.Hour), Enqueued: now,
					})
					if err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		b.Fatalf("filling the inboxes: %v", err)
	}
}

// rdConnectAll connects the devices of toks, rdDials at a time, reads each
// one's welcome and n stored messages, in their order, and returns when the
// last message was read, and the connections, still open: a device that
// closed as soon as it read its last message could end its session before the
// edge saw that message written, and the message would stay stored.
func rdConnectAll(ctx context.Context, b *testing.B, e *testEdge, toks []string, n int) (time.Time, []*websocket.Conn, error) {
	b.Helper()
	var (
		wg    sync.WaitGroup
		last  atomic.Int64
		errs  = make(chan error, len(toks))
		sem   = make(chan struct{}, rdDials)
		conns = make([]*websocket.Conn, len(toks))
	)
	b.Cleanup(func() {
		for _, c := range conns {
			if c != nil {
				_ = c.CloseNow()
			}
		}
	})
	for i, tok := range toks {
		wg.Go(func() {
			sem <- struct{}{}
			c, err := e.dialWelcome(ctx, tok)
			<-sem
			if err != nil {
				errs <- fmt.Errorf("device %d: %w", i, err)
				return
			}
			conns[i] = c
			var seq uint64
			for j := range n {
				_, data, err := c.Read(ctx)
				if err != nil {
					errs <- fmt.Errorf("device %d read %d of its %d stored messages: %w", i, j, n, err)
					return
				}
				f, err := protocol.Decode(data)
				m, ok := f.(*protocol.Msg)
				if err != nil || !ok || m.Seq <= seq {
					errs <- fmt.Errorf("device %d: frame %s, want stored message %d after seq %d", i, data, j, seq)
					return
				}
				seq = m.Seq
			}
			rdCasMax(&last, time.Now().UnixNano())
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return time.Time{}, conns, err
	}
	return time.Unix(0, last.Load()), conns, nil
}

// rdCasMax raises a to v if v is larger.
func rdCasMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if v <= old || a.CompareAndSwap(old, v) {
			return
		}
	}
}
