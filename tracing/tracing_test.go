package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// mustTracer returns a tracer that records every span into an in-memory
// exporter as it ends.
func mustTracer(tb testing.TB, ratio float64) (*Tracer, *tracetest.InMemoryExporter) {
	tb.Helper()
	exp := tracetest.NewInMemoryExporter()
	p, err := Start(context.Background(), Config{Enabled: true, SampleRatio: ratio, Roles: []string{"edge"}, EdgeID: "e1", Region: "eu", Exporter: exp, Syncer: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Shutdown(context.Background()) })
	return p.Tracer(), exp
}

func TestStartOff(t *testing.T) {
	p, err := Start(context.Background(), Config{})
	if p != nil || err != nil {
		t.Fatalf("Start(off) = %v, %v; want nil, nil", p, err)
	}
	if p.Tracer() != nil || p.Shutdown(context.Background()) != nil {
		t.Fatal("a nil Provider is not tracing off")
	}
	for _, r := range []float64{-0.1, 1.1} {
		if _, err := Start(context.Background(), Config{Enabled: true, SampleRatio: r}); err == nil {
			t.Errorf("Start with ratio %v: no error", r)
		}
	}
}

// TestNilTracer holds that tracing off starts nothing and changes no context.
func TestNilTracer(t *testing.T) {
	var tr *Tracer
	ctx := context.Background()
	rec := &kgo.Record{Topic: "t"}
	if span := tr.Produce(ctx, rec, "m1"); span.IsRecording() || len(rec.Headers) != 0 {
		t.Error("Produce off recorded or wrote headers")
	}
	if c, span := tr.Process(ctx, rec, "g", "m1"); c != ctx || span.IsRecording() {
		t.Error("Process off")
	}
	if c, span := tr.LinkReceive(ctx, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a", "d", "m"); c != ctx || span.IsRecording() {
		t.Error("LinkReceive off")
	}
	if span, tp := tr.LinkSend(ctx, "e", "a", "d", "m"); span.IsRecording() || tp != "" {
		t.Error("LinkSend off")
	}
	if c, span := tr.DeviceMsg(ctx, "a", "d", "m", "x"); c != ctx || span.IsRecording() {
		t.Error("DeviceMsg off")
	}
	if tr.Lookup(ctx, "a", "d").IsRecording() || tr.Deliver(ctx, "a", "d", "m", true).IsRecording() {
		t.Error("Lookup or Deliver off")
	}
	if tr.WithSpan(ctx, ctx) != ctx {
		t.Error("WithSpan off")
	}
	if c, span := tr.Publish(ctx, "news", "m"); c != ctx || span.IsRecording() {
		t.Error("Publish off")
	}
	if c, span := tr.PublishReceive(ctx, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "news", "m"); c != ctx || span.IsRecording() {
		t.Error("PublishReceive off")
	}
	if span, tp := tr.LinkPublish(ctx, "e", "news", "m"); span.IsRecording() || tp != "" {
		t.Error("LinkPublish off")
	}
	if tr.TopicLookup(ctx, "news").IsRecording() || tr.Subscribers(ctx, "news", "m").IsRecording() {
		t.Error("TopicLookup or Subscribers off")
	}
	h := func(http.ResponseWriter, *http.Request) {}
	if got := tr.HandlerFunc("POST /v1/push", h); got == nil {
		t.Error("HandlerFunc off returned nil")
	}
	allocs := testing.AllocsPerRun(100, func() {
		span := tr.Deliver(ctx, "a", "d", "m", true)
		Event(span, EventWritten)
		End(span, "acked", "")
		span, tp := tr.LinkSend(ctx, "e", "a", "d", "m")
		End(span, "delivered", tp)
		EndLookup(tr.Lookup(ctx, "a", "d"), "e", nil)
		tr.Annotate(ctx, "m", "a", "d")
		_, span = tr.Publish(ctx, "news", "m")
		EndTopicLookup(tr.TopicLookup(ctx, "news"), 2, nil)
		EndSubscribers(tr.Subscribers(ctx, "news", "m"), 3, 0, nil)
		link, _ := tr.LinkPublish(ctx, "e", "news", "m")
		EndSubscribers(link, 3, 0, nil)
		EndPublish(span, protocol.PublishResult{Edges: 2, Devices: 3}, nil)
	})
	if allocs != 0 {
		t.Errorf("tracing off allocates %v times", allocs)
	}
}

func TestRecordCarrier(t *testing.T) {
	for _, tc := range []struct {
		name    string
		headers []kgo.RecordHeader
		set     [2]string
		want    []kgo.RecordHeader
	}{
		{"no headers", nil, [2]string{"traceparent", "v"}, []kgo.RecordHeader{{Key: "traceparent", Value: []byte("v")}}},
		{"others kept", []kgo.RecordHeader{{Key: "x", Value: []byte("1")}}, [2]string{"traceparent", "v"},
			[]kgo.RecordHeader{{Key: "x", Value: []byte("1")}, {Key: "traceparent", Value: []byte("v")}}},
		{"replaced, every copy", []kgo.RecordHeader{{Key: "traceparent", Value: []byte("a")}, {Key: "x", Value: []byte("1")}, {Key: "traceparent", Value: []byte("b")}}, [2]string{"traceparent", "v"},
			[]kgo.RecordHeader{{Key: "x", Value: []byte("1")}, {Key: "traceparent", Value: []byte("v")}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := RecordCarrier{&kgo.Record{Headers: tc.headers}}
			c.Set(tc.set[0], tc.set[1])
			if len(c.R.Headers) != len(tc.want) {
				t.Fatalf("headers %+v, want %+v", c.R.Headers, tc.want)
			}
			for i, h := range tc.want {
				if c.R.Headers[i].Key != h.Key || string(c.R.Headers[i].Value) != string(h.Value) {
					t.Fatalf("headers %+v, want %+v", c.R.Headers, tc.want)
				}
			}
			if got := c.Get(tc.set[0]); got != tc.set[1] {
				t.Errorf("Get = %q", got)
			}
			if got := c.Get("missing"); got != "" {
				t.Errorf("Get(missing) = %q", got)
			}
			if keys := c.Keys(); len(keys) != len(tc.want) {
				t.Errorf("Keys = %q", keys)
			}
		})
	}
}

// TestKafkaHop holds that a record produced in a trace is processed in it,
// as a child of the producer's span.
func TestKafkaHop(t *testing.T) {
	tr, exp := mustTracer(t, 1)
	ctx, root := tr.DeviceMsg(context.Background(), "a1", "api", "m1", "x.v1")
	rec := &kgo.Record{Topic: "herald.messages.high", Key: []byte("a1")}
	prod := tr.Produce(ctx, rec, "m1")
	EndErr(prod, nil)
	root.End()
	if rec.Headers[0].Key != "traceparent" || len(rec.Headers[0].Value) != 55 {
		t.Fatalf("headers %+v", rec.Headers)
	}
	_, proc := tr.Process(context.Background(), rec, "herald.high", "m1")
	proc.End()
	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	p, c := spans[0], spans[2]
	if p.Name != "send herald.messages.high" || p.SpanKind != trace.SpanKindProducer || c.Name != "process herald.messages.high" || c.SpanKind != trace.SpanKindConsumer {
		t.Fatalf("spans %q (%v), %q (%v)", p.Name, p.SpanKind, c.Name, c.SpanKind)
	}
	if c.Parent.SpanID() != p.SpanContext.SpanID() || c.SpanContext.TraceID() != p.SpanContext.TraceID() {
		t.Errorf("the process span's parent is %v, want the producer's %v", c.Parent, p.SpanContext)
	}
	for _, want := range [][2]string{{"messaging.system", "kafka"}, {"messaging.destination.name", "herald.messages.high"}, {"messaging.operation.type", "process"}, {"messaging.consumer.group.name", "herald.high"}, {"messaging.message.id", "m1"}} {
		if got := attrOf(c, want[0]); got != want[1] {
			t.Errorf("%s = %q, want %q", want[0], got, want[1])
		}
	}
}

// TestLinkHop holds that a traceparent written by LinkSend parents the
// receiving side's span, and that Traceparent formats as the link checks.
func TestLinkHop(t *testing.T) {
	tr, exp := mustTracer(t, 1)
	ctx, root := tr.DeviceMsg(context.Background(), "a1", "phone1", "m1", "x.v1")
	send, tp := tr.LinkSend(ctx, "e2", "a1", "tv1", "m1")
	if tp != Traceparent(send.SpanContext()) || len(tp) != 55 || tp[:3] != "00-" || tp[53:] != "01" {
		t.Fatalf("traceparent %q", tp)
	}
	_, recv := tr.LinkReceive(context.Background(), tp, "a1", "tv1", "m1")
	recv.End()
	send.End()
	root.End()
	spans := exp.GetSpans()
	if spans[0].Parent.SpanID() != spans[1].SpanContext.SpanID() {
		t.Errorf("the receiving span's parent is %v, want %v", spans[0].Parent, spans[1].SpanContext)
	}
	if Traceparent(trace.SpanContext{}) != "" {
		t.Error("an invalid span context has a traceparent")
	}
	// A hop outside any trace starts none.
	if span, tp := tr.LinkSend(context.Background(), "e2", "a1", "tv1", "m2"); span.IsRecording() || tp != "" {
		t.Error("LinkSend outside a trace started one")
	}
}

// TestTopicHops holds that a publish's spans join the message's trace: the
// publish under the caller's span, the link's traceparent parenting the
// receiving side, the counts on each; outside a trace none starts, and a
// publish that missed an edge is an error span.
func TestTopicHops(t *testing.T) {
	tr, exp := mustTracer(t, 1)
	if _, span := tr.Publish(context.Background(), "news", "m0"); span.IsRecording() {
		t.Error("Publish outside a trace started one")
	}
	if span, tp := tr.LinkPublish(context.Background(), "e2", "news", "m0"); span.IsRecording() || tp != "" {
		t.Error("LinkPublish outside a trace started one")
	}
	ctx, root := tr.DeviceMsg(context.Background(), "a1", "backend", "m1", "x.v1")
	pctx, pub := tr.Publish(ctx, "news", "m1")
	EndTopicLookup(tr.TopicLookup(pctx, "news"), 2, nil)
	EndSubscribers(tr.Subscribers(pctx, "news", "m1"), 1, 1, nil)
	send, tp := tr.LinkPublish(pctx, "e2", "news", "m1")
	rctx, recv := tr.PublishReceive(context.Background(), tp, "news", "m1")
	EndSubscribers(tr.Subscribers(rctx, "news", "m1"), 2, 0, nil)
	recv.End()
	EndSubscribers(send, 2, 0, nil)
	EndPublish(pub, protocol.PublishResult{Edges: 2, Devices: 3, Dropped: 1, Failed: []protocol.EdgeFailure{{Edge: "region/us", Error: "no answer"}}}, nil)
	root.End()
	byName := map[string][]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		byName[s.Name] = append(byName[s.Name], s)
	}
	p := byName[SpanPublish][0]
	if p.Parent.SpanID() != byName[SpanDeviceMsg][0].SpanContext.SpanID() || attrOf(p, "herald.devices") != "3" || attrOf(p, "herald.failed") != "1" ||
		p.Status.Code != codes.Error || !strings.Contains(p.Status.Description, "region/us") {
		t.Errorf("the publish's span %+v", p)
	}
	for _, name := range []string{SpanTopicLookup, SpanLinkSend} {
		if s := byName[name][0]; s.Parent.SpanID() != p.SpanContext.SpanID() {
			t.Errorf("%q is not the publish's child", name)
		}
	}
	r := byName[SpanLinkRecv][0]
	if r.Parent.SpanID() != byName[SpanLinkSend][0].SpanContext.SpanID() || attrOf(r, "herald.topic") != "news" {
		t.Errorf("the receiving span %+v, want the link's child", r)
	}
	if subs := byName[SpanSubscribers]; len(subs) != 2 || subs[1].Parent.SpanID() != r.SpanContext.SpanID() || attrOf(subs[1], "herald.devices") != "2" {
		t.Errorf("the subscribers' spans %+v", subs)
	}
}

// TestSampling holds that a ratio of 0 records no new trace, but a parent's
// sampled decision is followed across a hop.
func TestSampling(t *testing.T) {
	tr, exp := mustTracer(t, 0)
	_, root := tr.DeviceMsg(context.Background(), "a1", "phone1", "m1", "x.v1")
	root.End()
	if len(exp.GetSpans()) != 0 || root.SpanContext().IsSampled() {
		t.Fatal("a ratio of 0 sampled a new trace")
	}
	_, recv := tr.LinkReceive(context.Background(), "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "a1", "tv1", "m1")
	recv.End()
	if len(exp.GetSpans()) != 1 {
		t.Fatal("a sampled parent's child was not recorded")
	}
}

func TestHandlerFunc(t *testing.T) {
	tr, exp := mustTracer(t, 1)
	h := tr.HandlerFunc("POST /v1/push", func(w http.ResponseWriter, r *http.Request) {
		tr.Annotate(r.Context(), "m1", "a1", "tv1")
		w.WriteHeader(http.StatusServiceUnavailable)
	})
	req := httptest.NewRequest(http.MethodPost, "/v1/push", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h(httptest.NewRecorder(), req)
	s := exp.GetSpans()[0]
	if s.Name != "POST /v1/push" || s.SpanKind != trace.SpanKindServer || s.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Errorf("span %q %v in trace %s", s.Name, s.SpanKind, s.SpanContext.TraceID())
	}
	for _, want := range [][2]string{{"http.response.status_code", "503"}, {"http.route", "/v1/push"}, {"herald.account", "a1"}, {"herald.device", "tv1"}, {"messaging.message.id", "m1"}} {
		if got := attrOf(s, want[0]); got != want[1] {
			t.Errorf("%s = %q, want %q", want[0], got, want[1])
		}
	}
	var res []string
	for _, kv := range s.Resource.Attributes() {
		res = append(res, string(kv.Key)+"="+kv.Value.String())
	}
	for _, want := range []string{"service.name=herald", "herald.edge=e1", "herald.region=eu", `herald.roles=["edge"]`} {
		if !contains(res, want) {
			t.Errorf("resource %q lacks %q", res, want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func attrOf(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

var _ sdktrace.SpanExporter = (*tracetest.InMemoryExporter)(nil)

// BenchmarkHooksOff measures every hook one cross-edge delivery calls, on a
// nil Tracer: what tracing off adds to a message.
func BenchmarkHooksOff(b *testing.B) {
	var tr *Tracer
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		mctx, root := tr.DeviceMsg(ctx, "a1", "phone1", "m1", "x.v1")
		EndLookup(tr.Lookup(mctx, "a1", "tv1"), "e2", nil)
		send, tp := tr.LinkSend(mctx, "e2", "a1", "tv1", "m1")
		rctx, recv := tr.LinkReceive(mctx, tp, "a1", "tv1", "m1")
		w := tr.Deliver(rctx, "a1", "tv1", "m1", true)
		Event(w, EventWritten)
		End(w, "acked", "")
		End(recv, "acked", "")
		End(send, "acked", "")
		root.End()
	}
}
