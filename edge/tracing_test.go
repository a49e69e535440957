package edge

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/tracing"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// mustTracers returns one tracer per edge of a test cluster, each with a
// provider of its own (its resource names the edge) exporting as each span
// ends to one in-memory exporter.
func mustTracers(tb testing.TB, n int) ([]*tracing.Tracer, *tracetest.InMemoryExporter) {
	tb.Helper()
	exp := tracetest.NewInMemoryExporter()
	var trs []*tracing.Tracer
	for i := range n {
		p, err := tracing.Start(context.Background(), tracing.Config{Enabled: true, SampleRatio: 1, EdgeID: fmt.Sprintf("edge-%d", i+1), Exporter: exp, Syncer: true})
		if err != nil {
			tb.Fatal(err)
		}
		tb.Cleanup(func() { _ = p.Shutdown(context.Background()) })
		trs = append(trs, p.Tracer())
	}
	return trs, exp
}

// traceOf waits until the exporter holds a span of every name in want and
// returns the spans by name, each name's one span.
func traceOf(tb testing.TB, exp *tracetest.InMemoryExporter, want ...string) map[string]tracetest.SpanStub {
	tb.Helper()
	var got map[string]tracetest.SpanStub
	eventually(tb, fmt.Sprintf("spans %q", want), func() bool {
		got = map[string]tracetest.SpanStub{}
		for _, s := range exp.GetSpans() {
			got[s.Name] = s
		}
		for _, name := range want {
			if _, ok := got[name]; !ok {
				return false
			}
		}
		return true
	})
	return got
}

// assertChain fails unless every span of chain is in one trace and each
// after the first is a child of the one before.
func assertChain(tb testing.TB, spans map[string]tracetest.SpanStub, chain ...string) {
	tb.Helper()
	root := spans[chain[0]]
	for i, name := range chain[1:] {
		s, parent := spans[name], spans[chain[i]]
		if s.SpanContext.TraceID() != root.SpanContext.TraceID() {
			tb.Errorf("%q is in trace %s, %q in %s", name, s.SpanContext.TraceID(), chain[0], root.SpanContext.TraceID())
		}
		if s.Parent.SpanID() != parent.SpanContext.SpanID() {
			tb.Errorf("%q's parent is %s, want %q (%s)", name, s.Parent.SpanID(), chain[i], parent.SpanContext.SpanID())
		}
	}
}

// attr returns the value of a span's attribute key, "" if it has none.
func attr(s tracetest.SpanStub, key string) string {
	for _, kv := range s.Attributes {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// hasEvent reports whether the span has an event of that name.
func hasEvent(s tracetest.SpanStub, name string) bool {
	for _, e := range s.Events {
		if e.Name == name {
			return true
		}
	}
	return false
}

// edgeOf returns the herald.edge of the span's resource.
func edgeOf(s tracetest.SpanStub) string {
	for _, kv := range s.Resource.Attributes() {
		if kv.Key == tracing.EdgeKey {
			return kv.Value.String()
		}
	}
	return ""
}

// TestTracingDeviceToDevice follows a device's msg with ack from one edge to
// a device on another: one trace from the sender's msg frame through the
// registry lookup, the link and the socket write to the target's ack.
func TestTracingDeviceToDevice(t *testing.T) {
	trs, exp := mustTracers(t, 2)
	n := 0
	edges, _ := mustCluster(t, 2, func(c *Config) { c.Tracer = trs[n]; n++ })
	phone := edges[0].mustDial(t, "a1", "phone1")
	tv := edges[1].mustDial(t, "a1", "tv1")
	phone.send(&protocol.Msg{ID: "x1", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Ack: true,
		Payload: payload(map[string]any{"action": "pause"})})
	if m := tv.readMsg(); m.ID != "x1" {
		t.Fatalf("tv got %+v", m)
	}
	phone.readReceipt()
	tv.send(&protocol.Ack{ID: "x1"})
	if r := phone.readReceipt(); r.Results[0].Status != protocol.StatusAcked {
		t.Fatalf("second receipt %+v", r)
	}
	spans := traceOf(t, exp, tracing.SpanDeviceMsg, tracing.SpanLookup, tracing.SpanLinkSend, tracing.SpanLinkRecv, tracing.SpanDeliver)
	if len(exp.GetSpans()) != 5 {
		t.Errorf("%d spans, want 5: %+v", len(exp.GetSpans()), exp.GetSpans())
	}
	assertChain(t, spans, tracing.SpanDeviceMsg, tracing.SpanLookup)
	assertChain(t, spans, tracing.SpanDeviceMsg, tracing.SpanLinkSend, tracing.SpanLinkRecv, tracing.SpanDeliver)
	for name, want := range map[string]string{tracing.SpanDeviceMsg: "edge-1", tracing.SpanLookup: "edge-1", tracing.SpanLinkSend: "edge-1", tracing.SpanLinkRecv: "edge-2", tracing.SpanDeliver: "edge-2"} {
		if got := edgeOf(spans[name]); got != want {
			t.Errorf("%q was recorded by %q, want %q", name, got, want)
		}
	}
	if d := spans[tracing.SpanDeliver]; !hasEvent(d, tracing.EventWritten) || !hasEvent(d, tracing.EventAcked) || attr(d, "herald.status") != "acked" || attr(d, "herald.device") != "tv1" {
		t.Errorf("the socket write's span %+v, want written, acked", d)
	}
	if s := spans[tracing.SpanLinkSend]; attr(s, "messaging.destination.name") != "edge-2" || attr(s, "messaging.message.id") != "x1" || s.SpanKind != trace.SpanKindProducer {
		t.Errorf("the link's span %+v", s)
	}
	if s := spans[tracing.SpanDeviceMsg]; s.Parent.IsValid() || attr(s, "herald.device") != "phone1" || !hasEvent(s, "receipt") {
		t.Errorf("the device msg's span %+v, want a root with a receipt", s)
	}
}

// TestTracingPush follows a push from a traced caller through the router of
// one edge to a device on the other.
func TestTracingPush(t *testing.T) {
	trs, exp := mustTracers(t, 2)
	n := 0
	edges, _ := mustCluster(t, 2, func(c *Config) { c.Tracer = trs[n]; n++ })
	tv := edges[1].mustDial(t, "a1", "tv1")
	ctx, root := trs[0].DeviceMsg(context.Background(), "a1", "backend", "p1", "tiny.echo.v1")
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res := edges[0].router.Deliver(ctx, "a1", "tv1", &protocol.Msg{ID: "p1", Type: "tiny.echo.v1", Payload: payload(map[string]any{})}, nil)
	root.End()
	if res.Status != protocol.StatusDelivered {
		t.Fatalf("push: %+v", res)
	}
	tv.readMsg()
	spans := traceOf(t, exp, tracing.SpanDeviceMsg, tracing.SpanLookup, tracing.SpanLinkSend, tracing.SpanLinkRecv, tracing.SpanDeliver)
	assertChain(t, spans, tracing.SpanDeviceMsg, tracing.SpanLinkSend, tracing.SpanLinkRecv, tracing.SpanDeliver)
	if d := spans[tracing.SpanDeliver]; attr(d, "herald.status") != "delivered" || hasEvent(d, tracing.EventAcked) {
		t.Errorf("the socket write's span %+v", d)
	}
}

// TestTracingOffUntraced holds that a message outside any trace leaves no
// span on the hops that join traces, and that an edge without a tracer sends
// no tp.
func TestTracingOffUntraced(t *testing.T) {
	trs, exp := mustTracers(t, 1)
	edges, _ := mustCluster(t, 2, func(c *Config) {
		if c.ID == "edge-2" {
			c.Tracer = trs[0]
		}
	})
	tv := edges[1].mustDial(t, "a1", "tv1")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	// Edge 1 does not trace: its frame has no tp, and edge 2 starts no trace.
	if res := edges[0].router.Deliver(ctx, "a1", "tv1", &protocol.Msg{ID: "u1", Type: "tiny.echo.v1", Payload: payload(map[string]any{})}, nil); res.Status != protocol.StatusDelivered {
		t.Fatalf("push: %+v", res)
	}
	tv.readMsg()
	// Edge 2 traces, but the push is in no trace: no span either.
	if res := edges[1].router.Deliver(ctx, "a1", "tv1", &protocol.Msg{ID: "u2", Type: "tiny.echo.v1", Payload: payload(map[string]any{})}, nil); res.Status != protocol.StatusDelivered {
		t.Fatalf("push: %+v", res)
	}
	tv.readMsg()
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Fatalf("spans %+v, want none", spans)
	}
}

var _ sdktrace.SpanExporter = (*tracetest.InMemoryExporter)(nil)

// TestTracingAcrossRegions follows a device's msg to a device in another
// region: the region link carries the trace context as an edge link does.
func TestTracingAcrossRegions(t *testing.T) {
	trs, exp := mustTracers(t, 2)
	byRegion := map[string]*tracing.Tracer{"eu": trs[0], "us": trs[1]}
	rs := mustRegions(t, []string{"eu", "us"}, func(c *RegionsConfig) { c.Tracer = byRegion[c.Region] })
	for name, re := range rs {
		// Set before any message: the edge and its router trace as the
		// region's links do.
		re.srv.cfg.Tracer, re.router.Tracer = byRegion[name], byRegion[name]
	}
	eu, us := rs["eu"], rs["us"]
	tv := us.mustDial(t, "a1", "tv1")
	phone := eu.mustDial(t, "a1", "phone1")
	phone.send(&protocol.Msg{ID: "r1", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Ack: true,
		Payload: payload(map[string]any{"action": "pause"})})
	if m := tv.readMsg(); m.ID != "r1" {
		t.Fatalf("tv got %+v", m)
	}
	phone.readReceipt()
	tv.send(&protocol.Ack{ID: "r1"})
	if r := phone.readReceipt(); r.Results[0].Status != protocol.StatusAcked {
		t.Fatalf("second receipt %+v", r)
	}
	spans := traceOf(t, exp, tracing.SpanDeviceMsg, tracing.SpanLinkSend, tracing.SpanLinkRecv, tracing.SpanDeliver)
	assertChain(t, spans, tracing.SpanDeviceMsg, tracing.SpanLinkSend, tracing.SpanLinkRecv, tracing.SpanDeliver)
	if got := edgeOf(spans[tracing.SpanDeliver]); got != "edge-2" {
		t.Errorf("the socket write was recorded by %q, want us's tracer (edge-2)", got)
	}
	if s := spans[tracing.SpanLinkSend]; attr(s, "messaging.destination.name") != "us" {
		t.Errorf("the region link's span goes to %q, want us", attr(s, "messaging.destination.name"))
	}
}
