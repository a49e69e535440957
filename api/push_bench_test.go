package api

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"sync/atomic"
	"testing"
	"time"
)

// The sync push benchmarks run the real API handler in front of a real edge
// with WebSocket devices connected over loopback (mustStack), as `herald serve`
// wires them. B/op and allocs/op are the whole process's: the handler, the
// edge's delivery and writer goroutine, and the devices' reads.
//
//	go test -run '^$' -bench 'Push' -benchmem ./api/

// benchDevices is how many devices the benchmarks spread their messages over,
// so that no device's send queue (64 frames by default) fills.
const benchDevices = 100

// benchNote is the payload of every benchmark message.
const benchNote = `{"title":"Hi","body":"from the benchmark"}`

// mustDrain keeps reading d's frames, discarding them, until its connection
// closes, and counts them; the test's cleanup closes the connection and waits.
func (d *device) mustDrain(tb testing.TB) *atomic.Int64 {
	tb.Helper()
	n := new(atomic.Int64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, rd, err := d.conn.Reader(context.Background())
			if err != nil {
				return
			}
			if _, err := io.Copy(io.Discard, rd); err != nil {
				return
			}
			n.Add(1)
		}
	}()
	tb.Cleanup(func() {
		_ = d.conn.CloseNow()
		<-done
	})
	return n
}

// mustBenchDevices connects n devices of account "bench", d0 to d<n-1>, each
// drained, and returns their frame counters.
func (st *stack) mustBenchDevices(tb testing.TB, n int) []*atomic.Int64 {
	tb.Helper()
	counts := make([]*atomic.Int64, n)
	for i := range n {
		counts[i] = st.mustDevice(tb, "bench", fmt.Sprintf("d%d", i)).mustDrain(tb)
	}
	return counts
}

// waitFrames waits until the devices have read want frames in all.
func waitFrames(tb testing.TB, counts []*atomic.Int64, want int64) {
	tb.Helper()
	deadline := time.Now().Add(waitBound)
	for {
		var got int64
		for _, c := range counts {
			got += c.Load()
		}
		if got >= want {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("the devices read %d frames, want %d", got, want)
		}
		time.Sleep(time.Millisecond)
	}
}

// cpuMeter measures the process's CPU time (every goroutine: the handler, the
// edge, the devices), which other load on a shared machine disturbs much less
// than the wall time that ns/op is.
type cpuMeter struct {
	start time.Duration
	ok    bool
}

func startCPU() cpuMeter {
	t, ok := cpuTime()
	return cpuMeter{t, ok}
}

// report adds cpu-ns/op, the CPU time per op since the meter started.
func (m cpuMeter) report(b *testing.B, ops int) {
	t, ok := cpuTime()
	if m.ok && ok && ops > 0 {
		b.ReportMetric(float64(t-m.start)/float64(ops), "cpu-ns/op")
	}
}

// benchWriter is a reusable http.ResponseWriter, so that the handler benchmarks
// count the handler's allocations rather than a recorder's.
type benchWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *benchWriter) Header() http.Header { return w.h }

func (w *benchWriter) WriteHeader(code int) {
	if w.code == 0 {
		w.code = code
	}
}

func (w *benchWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = http.StatusOK
	}
	return w.body.Write(b)
}

func (w *benchWriter) reset() {
	clear(w.h)
	w.code = 0
	w.body.Reset()
}

// handlerBench calls the API handler directly, reusing one request and one
// writer.
type handlerBench struct {
	h    http.Handler
	req  *http.Request
	body *bytes.Reader
	w    benchWriter
}

func (st *stack) newHandlerBench(tb testing.TB, path string) *handlerBench {
	tb.Helper()
	req, err := http.NewRequest(http.MethodPost, path, nil)
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	hb := &handlerBench{h: st.api.Handler(), req: req, body: bytes.NewReader(nil), w: benchWriter{h: http.Header{}}}
	req.Body = io.NopCloser(hb.body)
	return hb
}

// do serves one request with body; it fails unless the answer is 200.
func (hb *handlerBench) do(tb testing.TB, body []byte) {
	hb.body.Reset(body)
	hb.req.ContentLength = int64(len(body))
	hb.w.reset()
	hb.h.ServeHTTP(&hb.w, hb.req)
	if hb.w.code != http.StatusOK {
		tb.Fatalf("HTTP %d %s", hb.w.code, hb.w.body.Bytes())
	}
}

// pushBodies returns one POST /v1/push body per bench device.
func pushBodies(n int) [][]byte {
	bodies := make([][]byte, n)
	for i := range n {
		bodies[i] = fmt.Appendf(nil, `{"to":{"account":"bench","device":"d%d"},"type":"notification.v1","payload":%s,"timeout_ms":10000}`, i, benchNote)
	}
	return bodies
}

// BenchmarkPush measures POST /v1/push to one connected device: "handler" calls
// the API handler directly, one push at a time; "http" goes through an HTTP
// client and server on loopback, one at a time (a latency), and
// "http-parallel" with concurrent senders (a throughput on this machine's cores).
func BenchmarkPush(b *testing.B) {
	st := mustStack(b)
	counts := st.mustBenchDevices(b, benchDevices)
	bodies := pushBodies(benchDevices)
	client := mustBenchClient(b)
	var sent int64

	b.Run("handler", func(b *testing.B) {
		hb := st.newHandlerBench(b, "/v1/push")
		b.ReportAllocs()
		cpu := startCPU()
		for i := 0; b.Loop(); i++ {
			hb.do(b, bodies[i%len(bodies)])
			sent++
		}
		b.StopTimer()
		cpu.report(b, b.N)
		waitFrames(b, counts, sent)
	})
	b.Run("http", func(b *testing.B) {
		b.ReportAllocs()
		cpu := startCPU()
		for i := 0; b.Loop(); i++ {
			mustPushHTTP(b, client, st.url+"/v1/push", bodies[i%len(bodies)])
			sent++
		}
		b.StopTimer()
		cpu.report(b, b.N)
		waitFrames(b, counts, sent)
	})
	b.Run("http-parallel", func(b *testing.B) {
		var next atomic.Int64
		b.SetParallelism(8)
		b.ReportAllocs()
		cpu := startCPU()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				mustPushHTTP(b, client, st.url+"/v1/push", bodies[next.Add(1)%int64(len(bodies))])
			}
		})
		b.StopTimer()
		cpu.report(b, b.N)
		sent += next.Load()
		waitFrames(b, counts, sent)
		b.ReportMetric(float64(next.Load())/b.Elapsed().Seconds(), "msgs/s")
	})
}

// mustBenchClient returns an HTTP client that keeps a connection per concurrent
// sender (the default keeps two idle) and closes them when the benchmark ends.
func mustBenchClient(tb testing.TB) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 256}
	tb.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// mustPushHTTP posts body to url and fails unless the answer is 200. It may run
// on any goroutine.
func mustPushHTTP(b *testing.B, client *http.Client, url string, body []byte) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		b.Error(err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		b.Error(err)
		return
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b.Errorf("HTTP %d", resp.StatusCode)
	}
}

// batchBodies returns POST /v1/push/batch bodies of size messages each, spread
// round robin over the bench devices.
func batchBodies(size, count int) [][]byte {
	bodies := make([][]byte, count)
	next := 0
	for i := range bodies {
		b := []byte(`{"messages":[`)
		for j := range size {
			if j > 0 {
				b = append(b, ',')
			}
			b = fmt.Appendf(b, `{"to":{"account":"bench","device":"d%d"},"type":"notification.v1","payload":%s}`, next%benchDevices, benchNote)
			next++
		}
		bodies[i] = append(b, `],"timeout_ms":10000}`...)
	}
	return bodies
}

// BenchmarkPushBatch measures POST /v1/push/batch of size messages, each to
// one connected device: "handler" calls the API handler directly, "http" goes
// through an HTTP client and server on loopback, one batch at a time, and
// "http-parallel" with concurrent senders. ns/op and allocs/op are per batch;
// msgs/s is the messages delivered per second.
func BenchmarkPushBatch(b *testing.B) {
	st := mustStackWith(b, func(c *Config) { c.MaxBodyBytes = 1 << 20 })
	counts := st.mustBenchDevices(b, benchDevices)
	client := mustBenchClient(b)
	var sent int64
	for _, size := range []int{1, 10, 100, 500} {
		bodies := batchBodies(size, max(1, benchDevices/size))
		b.Run(fmt.Sprintf("handler/size=%d", size), func(b *testing.B) {
			hb := st.newHandlerBench(b, "/v1/push/batch")
			b.ReportAllocs()
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				hb.do(b, bodies[i%len(bodies)])
			}
			b.StopTimer()
			cpu.report(b, b.N)
			sent += int64(b.N * size)
			waitFrames(b, counts, sent)
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "msgs/s")
		})
		if size != 100 {
			continue
		}
		b.Run(fmt.Sprintf("http/size=%d", size), func(b *testing.B) {
			b.ReportAllocs()
			cpu := startCPU()
			for i := 0; b.Loop(); i++ {
				mustPushHTTP(b, client, st.url+"/v1/push/batch", bodies[i%len(bodies)])
			}
			b.StopTimer()
			cpu.report(b, b.N)
			sent += int64(b.N * size)
			waitFrames(b, counts, sent)
			b.ReportMetric(float64(b.N*size)/b.Elapsed().Seconds(), "msgs/s")
		})
		b.Run(fmt.Sprintf("http-parallel/size=%d", size), func(b *testing.B) {
			// One sender per core: with 100 devices and 100 messages a batch,
			// each device gets at most a few frames at once.
			var next atomic.Int64
			b.ReportAllocs()
			cpu := startCPU()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mustPushHTTP(b, client, st.url+"/v1/push/batch", bodies[next.Add(1)%int64(len(bodies))])
				}
			})
			b.StopTimer()
			cpu.report(b, b.N)
			sent += next.Load() * int64(size)
			waitFrames(b, counts, sent)
			b.ReportMetric(float64(next.Load()*int64(size))/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
