package api

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/tracing"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// mustTracer returns a tracer exporting to exp: as each span ends when sync,
// else through the batch span processor.
func mustTracer(tb testing.TB, exp sdktrace.SpanExporter, sync bool) *tracing.Tracer {
	tb.Helper()
	p, err := tracing.Start(context.Background(), tracing.Config{Enabled: true, SampleRatio: 1, Exporter: exp, Syncer: sync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p.Tracer()
}

// TestTracingSyncPush follows a push with ack through the REST handler to the
// socket write and the device's ack, in the trace of the caller's
// traceparent.
func TestTracingSyncPush(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tr := mustTracer(t, exp, true)
	st := mustStackWith(t, func(c *Config) { c.Tracer = tr })
	d := st.mustDevice(t, "a1", "tv1")
	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, st.url+"/v1/push", strings.NewReader(`{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","ack":true,"payload":{"title":"t","body":"b"}}`))
		req.Header.Set("Authorization", "Bearer "+testAPIKey)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- nil
			return
		}
		_ = resp.Body.Close()
		done <- resp
	}()
	m := d.mustReadMsg(t)
	d.mustWrite(t, &protocol.Ack{ID: m.ID})
	select {
	case resp := <-done:
		if resp == nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("push: %v", resp)
		}
	case <-time.After(waitBound):
		t.Fatal("no answer to the push")
	}
	var spans []tracetest.SpanStub
	deadline := time.Now().Add(waitBound)
	for len(spans) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
		spans = exp.GetSpans()
	}
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2 (the socket write, the request)", len(spans))
	}
	write, req := spans[0], spans[1]
	if req.Name != "POST /v1/push" || write.Name != tracing.SpanDeliver {
		t.Fatalf("spans %q, %q", write.Name, req.Name)
	}
	if req.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || req.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("the request's span is not the caller's child: %v", req.Parent)
	}
	if write.Parent.SpanID() != req.SpanContext.SpanID() || write.SpanContext.TraceID() != req.SpanContext.TraceID() {
		t.Errorf("the socket write's span is not the request's child")
	}
	want := map[string]string{"herald.status": "acked", "messaging.message.id": m.ID, "herald.device": "tv1"}
	for _, kv := range write.Attributes {
		if w, ok := want[string(kv.Key)]; ok && kv.Value.String() != w {
			t.Errorf("%s = %q, want %q", kv.Key, kv.Value.String(), w)
		}
	}
	if n := len(write.Events); n != 2 || write.Events[0].Name != tracing.EventWritten || write.Events[1].Name != tracing.EventAcked {
		t.Errorf("events %+v, want written, acked", write.Events)
	}
}

// discardExporter drops the spans it is given.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkTracing measures POST /v1/push through the handler (as
// BenchmarkPush/handler) with tracing off and on (every request recorded and
// exported through the batch span processor to an exporter that drops the
// spans), in one run.
func BenchmarkTracing(b *testing.B) {
	for _, mode := range []string{"off", "on"} {
		b.Run("push/"+mode, func(b *testing.B) {
			var tr *tracing.Tracer
			if mode == "on" {
				tr = mustTracer(b, discardExporter{}, false)
			}
			st := mustStackWith(b, func(c *Config) { c.Tracer = tr })
			counts := st.mustBenchDevices(b, benchDevices)
			bodies := pushBodies(benchDevices)
			hb := st.newHandlerBench(b, "/v1/push")
			var sent int64
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
	}
}
