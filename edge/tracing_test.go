package edge

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/link"
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

// mustTracedRegions returns two regions, eu and us, each of one edge whose
// edge, router and region links trace (eu as edge-1, us as edge-2), into one
// exporter.
func mustTracedRegions(t *testing.T) (map[string]*regionEdge, *tracetest.InMemoryExporter) {
	trs, exp := mustTracers(t, 2)
	byRegion := map[string]*tracing.Tracer{"eu": trs[0], "us": trs[1]}
	rs := mustRegions(t, []string{"eu", "us"}, func(c *RegionsConfig) { c.Tracer = byRegion[c.Region] })
	for name, re := range rs {
		// Set before any message: the edge and its routers trace as the
		// region's links do. As serve's, the router that region links
		// deliver and publish through is a copy of the region's router,
		// tracer included.
		re.srv.cfg.Tracer, re.router.Tracer = byRegion[name], byRegion[name]
		re.srv.cfg.RegionRouter.(*Router).Tracer = byRegion[name]
	}
	return rs, exp
}

// TestTracingAcrossRegions follows a device's msg to a device in another
// region: the region link carries the trace context as an edge link does.
func TestTracingAcrossRegions(t *testing.T) {
	rs, exp := mustTracedRegions(t)
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

// spansNamed returns the exported spans named name.
func spansNamed(exp *tracetest.InMemoryExporter, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// childrenOf returns the spans whose parent is s, by the edge that recorded
// them and their name ("edge-2/send subscribers").
func childrenOf(exp *tracetest.InMemoryExporter, s tracetest.SpanStub) map[string]tracetest.SpanStub {
	out := map[string]tracetest.SpanStub{}
	for _, c := range exp.GetSpans() {
		if c.Parent.SpanID() == s.SpanContext.SpanID() && c.SpanContext.TraceID() == s.SpanContext.TraceID() {
			out[edgeOf(c)+"/"+c.Name] = c
		}
	}
	return out
}

// TestTracingPublish follows a message published to a topic with
// subscribers on two edges: the publish, the topic directory's lookup, the
// local subscribers, and the link to the other edge with its subscribers,
// each counting what it reached.
func TestTracingPublish(t *testing.T) {
	trs, exp := mustTracers(t, 2)
	n := 0
	edges, _ := mustCluster(t, 2, func(c *Config) { c.Topics = c.Registry.(TopicDirectory); c.Tracer = trs[n]; n++ })
	for i, e := range edges {
		e.router.Topics, e.router.Tracer = e.reg, trs[i]
	}
	var devs []*device
	for i, d := range []struct {
		e            int
		account, dev string
	}{{0, "a1", "tv1"}, {1, "a2", "tv2"}, {1, "a3", "tv3"}} {
		dev := edges[d.e].mustDialTopics(t, d.account, d.dev, "news.*")
		if r := dev.sub(false, fmt.Sprint("s", i), "news.sports"); r[0].Status != protocol.TopicSubscribed {
			t.Fatalf("sub answered %+v", r)
		}
		devs = append(devs, dev)
	}
	// Untraced, the publish leaves no span.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if res, err := edges[0].router.Publish(ctx, "news.sports", &protocol.Msg{ID: "u1", Type: "tiny.echo.v1", Payload: payload(map[string]any{})}); err != nil || res.Devices != 3 {
		t.Fatalf("untraced publish: %+v, %v", res, err)
	}
	for _, d := range devs {
		d.readMsg()
	}
	if spans := exp.GetSpans(); len(spans) != 0 {
		t.Fatalf("an untraced publish left spans: %+v", spans)
	}
	tctx, root := trs[0].DeviceMsg(ctx, "a0", "backend", "n1", "tiny.echo.v1")
	res, err := edges[0].router.Publish(tctx, "news.sports", &protocol.Msg{ID: "n1", Type: "tiny.echo.v1", Payload: payload(map[string]any{})})
	root.End()
	if err != nil || res.Edges != 2 || res.Devices != 3 {
		t.Fatalf("publish: %+v, %v", res, err)
	}
	for _, d := range devs {
		if m := d.readMsg(); m.ID != "n1" {
			t.Fatalf("subscriber got %+v", m)
		}
	}
	spans := traceOf(t, exp, tracing.SpanDeviceMsg, tracing.SpanPublish, tracing.SpanTopicLookup, tracing.SpanLinkSend, tracing.SpanLinkRecv)
	eventually(t, "both edges' subscriber spans", func() bool { return len(spansNamed(exp, tracing.SpanSubscribers)) == 2 })
	assertChain(t, spans, tracing.SpanDeviceMsg, tracing.SpanPublish, tracing.SpanLinkSend, tracing.SpanLinkRecv)
	pub := spans[tracing.SpanPublish]
	for key, want := range map[string]string{"herald.topic": "news.sports", "messaging.message.id": "n1", "herald.edges": "2", "herald.devices": "3", "herald.dropped": "0", "herald.failed": "0"} {
		if got := attr(pub, key); got != want {
			t.Errorf("the publish's %s = %q, want %q", key, got, want)
		}
	}
	kids := childrenOf(exp, pub)
	for _, name := range []string{"edge-1/" + tracing.SpanTopicLookup, "edge-1/" + tracing.SpanSubscribers, "edge-1/" + tracing.SpanLinkSend} {
		if _, ok := kids[name]; !ok {
			t.Errorf("the publish has no child %q: %v", name, kids)
		}
	}
	if s := kids["edge-1/"+tracing.SpanTopicLookup]; attr(s, "herald.edges") != "2" {
		t.Errorf("the lookup's span %+v, want 2 edges", s)
	}
	if s := kids["edge-1/"+tracing.SpanSubscribers]; attr(s, "herald.devices") != "1" {
		t.Errorf("edge-1's subscribers span %+v, want 1 device", s)
	}
	if s := kids["edge-1/"+tracing.SpanLinkSend]; attr(s, "messaging.destination.name") != "edge-2" || attr(s, "herald.devices") != "2" {
		t.Errorf("the link's span %+v, want to edge-2 with 2 devices", s)
	}
	recv := spans[tracing.SpanLinkRecv]
	if edgeOf(recv) != "edge-2" || attr(recv, "herald.topic") != "news.sports" {
		t.Errorf("the receiving span %+v", recv)
	}
	if s, ok := childrenOf(exp, recv)["edge-2/"+tracing.SpanSubscribers]; !ok || attr(s, "herald.devices") != "2" {
		t.Errorf("edge-2's subscribers span %+v, want 2 devices under the link's", s)
	}
}

// TestTracingPublishAcrossRegions follows a publish to a subscriber in
// another region: the region link carries the trace context, and the other
// region's own publish is a child of its receipt.
func TestTracingPublishAcrossRegions(t *testing.T) {
	rs, exp := mustTracedRegions(t)
	eu, us := rs["eu"], rs["us"]
	far := us.mustDialTopics(t, "a2", "tv2", "news.*")
	far.sub(false, "s2", "news.sports")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tctx, root := eu.router.Tracer.DeviceMsg(ctx, "a0", "backend", "n1", "tiny.echo.v1")
	res, err := eu.router.Publish(tctx, "news.sports", &protocol.Msg{ID: "n1", Type: "tiny.echo.v1", Payload: payload(map[string]any{})})
	root.End()
	if err != nil || res.Regions != 1 || res.Devices != 1 {
		t.Fatalf("publish: %+v, %v", res, err)
	}
	if m := far.readMsg(); m.ID != "n1" {
		t.Fatalf("subscriber got %+v", m)
	}
	eventually(t, "a publish span in each region", func() bool { return len(spansNamed(exp, tracing.SpanPublish)) == 2 })
	var euPub, usPub tracetest.SpanStub
	for _, s := range spansNamed(exp, tracing.SpanPublish) {
		if edgeOf(s) == "edge-1" {
			euPub = s
		} else {
			usPub = s
		}
	}
	send, ok := childrenOf(exp, euPub)["edge-1/"+tracing.SpanLinkSend]
	if !ok || attr(send, "messaging.destination.name") != "us" || attr(send, "herald.devices") != "1" {
		t.Fatalf("eu's publish has no region link span to us with 1 device: %v", childrenOf(exp, euPub))
	}
	recv, ok := childrenOf(exp, send)["edge-2/"+tracing.SpanLinkRecv]
	if !ok {
		t.Fatalf("the region link's span has no receiving child: %v", childrenOf(exp, send))
	}
	if usPub.Parent.SpanID() != recv.SpanContext.SpanID() || attr(usPub, "herald.devices") != "1" {
		t.Errorf("us's publish %+v, want a child of the link's receipt with 1 device", usPub)
	}
}

// TestLinkPublishTraceparentByProtocol holds that an edge reads a publish's
// tp on a link of herald.link.v2 and refuses it on one of herald.link.v1, as
// an edge that speaks only v1 does; a publish without tp is read on both.
func TestLinkPublishTraceparentByProtocol(t *testing.T) {
	edges, _ := mustCluster(t, 1, func(c *Config) { c.Topics = c.Registry.(TopicDirectory) })
	e := edges[0]
	sub := e.mustDialTopics(t, "a1", "tv1", "news")
	sub.sub(false, "s1", "news")
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	for _, tc := range []struct {
		subprotocol string
		tpRead      bool
	}{{protocol.LinkSubprotocol, false}, {protocol.LinkSubprotocolV2, true}} {
		t.Run(tc.subprotocol, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c := e.dialLink(t, ctx, tc.subprotocol)
			if c.Subprotocol() != tc.subprotocol {
				t.Fatalf("the edge chose %q, want %q", c.Subprotocol(), tc.subprotocol)
			}
			withTP := `{"t":"publish","wait_ms":1000,"tp":"` + tp + `","id":"p1-` + tc.subprotocol + `","type":"tiny.echo.v1","topic":"news","payload":{}}`
			plain := `{"t":"publish","wait_ms":1000,"id":"p2-` + tc.subprotocol + `","type":"tiny.echo.v1","topic":"news","payload":{}}`
			for _, frame := range []string{withTP, plain} {
				if err := c.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
					t.Fatal(err)
				}
			}
			var want []string
			if tc.tpRead {
				want = append(want, "p1-"+tc.subprotocol)
			}
			want = append(want, "p2-"+tc.subprotocol)
			// The publishes of a link fan out concurrently: in any order. A
			// link's message may carry several frames, one a line.
			var got, answered []string
			for range want {
				got = append(got, sub.readMsg().ID)
			}
			for len(answered) < len(want) {
				_, data, err := c.Read(ctx)
				if err != nil {
					t.Fatalf("reading the answers: %v", err)
				}
				for _, frame := range bytes.Split(data, []byte("\n")) {
					var p link.Published
					var sc link.Scanner
					if !readPublished(&sc, frame, &p) || p.Devices != 1 {
						t.Fatalf("the answer %s, want published to 1 device", frame)
					}
					answered = append(answered, p.ID)
				}
			}
			slices.Sort(got)
			slices.Sort(answered)
			if !slices.Equal(got, want) || !slices.Equal(answered, want) {
				t.Fatalf("the subscriber got %q and the link answered %q, want %q", got, answered, want)
			}
		})
	}
}

// readPublished reads data, one published frame, into p.
func readPublished(sc *link.Scanner, data []byte, p *link.Published) bool {
	kind, err := sc.Kind(data)
	return err == nil && kind == link.KindPublished && sc.ReadPublished(p) == nil
}

// TestTracingPublishToAnOlderEdge holds that a traced publish over a link to
// an edge that speaks only herald.link.v1 carries no tp, which such an edge
// would refuse: the publish reaches it, and its span still counts the answer.
func TestTracingPublishToAnOlderEdge(t *testing.T) {
	trs, exp := mustTracers(t, 1)
	edges, book := mustCluster(t, 1, func(c *Config) { c.Tracer = trs[0] })
	frames := make(chan string, 1)
	old := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{protocol.LinkSubprotocol}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		_, data, err := c.Read(r.Context())
		if err != nil {
			return
		}
		frames <- string(data)
		var p struct {
			ID string `json:"id"`
		}
		_ = json.Unmarshal(data, &p)
		_ = c.Write(r.Context(), websocket.MessageText, []byte(`{"t":"published","id":"`+p.ID+`","devices":1,"dropped":0}`))
		_, _, _ = c.Read(r.Context()) // until the link closes
	}))
	t.Cleanup(old.Close)
	book.mu.Lock()
	book.addrs["edge-old"] = old.URL
	book.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	tctx, root := trs[0].DeviceMsg(ctx, "a0", "backend", "n1", "tiny.echo.v1")
	c, err := edges[0].links.Publish(tctx, "edge-old", &protocol.Msg{ID: "n1", Type: "tiny.echo.v1", Topic: "news", Payload: payload(map[string]any{})})
	root.End()
	if err != nil || c.Devices != 1 {
		t.Fatalf("publish to the older edge: %+v, %v", c, err)
	}
	if f := <-frames; strings.Contains(f, `"tp"`) || !strings.Contains(f, `"t":"publish"`) {
		t.Fatalf("the older edge got %s, want a publish without tp", f)
	}
	if s := traceOf(t, exp, tracing.SpanLinkSend)[tracing.SpanLinkSend]; attr(s, "messaging.destination.name") != "edge-old" || attr(s, "herald.devices") != "1" {
		t.Errorf("the link's span %+v", s)
	}
}
