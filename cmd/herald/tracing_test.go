package main

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
	"github.com/heraldpush/herald/tracing"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpSpan is one span an OTLP receiver took, with the process that sent it.
type otlpSpan struct {
	*tracepb.Span
	edge string // the herald.edge of its resource ("" for a process without the edge role)
}

// otlpReceiver is an OTLP/HTTP trace receiver: what every process of a test
// exports its spans to, as a Collector would take them.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []otlpSpan // guarded by mu
}

// mustOTLPReceiver starts a receiver and points the OTEL_* environment of
// the processes the test starts at it, exporting every 50 ms.
func mustOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{}
	srv := httptest.NewServer(http.HandlerFunc(rcv.serve))
	t.Cleanup(srv.Close)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", srv.URL)
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
	return rcv
}

func (rcv *otlpReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	var req coltracepb.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &req)
	}
	if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" || err != nil {
		http.Error(w, "not an OTLP/HTTP protobuf export", http.StatusBadRequest)
		return
	}
	rcv.mu.Lock()
	for _, rs := range req.ResourceSpans {
		edge := ""
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.Key == string(tracing.EdgeKey) {
				edge = kv.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				rcv.spans = append(rcv.spans, otlpSpan{s, edge})
			}
		}
	}
	rcv.mu.Unlock()
	b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(b)
}

// trace waits until the receiver holds a span of each name in want carrying
// the message id (messaging.message.id) and returns them by name.
func (rcv *otlpReceiver) trace(t *testing.T, id string, want ...string) map[string]otlpSpan {
	t.Helper()
	var got map[string]otlpSpan
	waitFor(t, "the spans of "+id, func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		got = map[string]otlpSpan{}
		for _, s := range rcv.spans {
			if spanAttr(s.Span, "messaging.message.id") == id {
				got[s.Name] = s
			}
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

func spanAttr(s *tracepb.Span, key string) string {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			if v := kv.GetValue(); v.GetStringValue() != "" {
				return v.GetStringValue()
			}
			return kv.GetValue().String()
		}
	}
	return ""
}

// chain fails unless the spans of names are of one trace, each a child of
// the one before it.
func chain(t *testing.T, spans map[string]otlpSpan, names ...string) {
	t.Helper()
	root := spans[names[0]]
	for i, name := range names[1:] {
		s, parent := spans[name], spans[names[i]]
		if hex.EncodeToString(s.TraceId) != hex.EncodeToString(root.TraceId) {
			t.Errorf("%q is in trace %x, %q in %x", name, s.TraceId, names[0], root.TraceId)
		}
		if hex.EncodeToString(s.ParentSpanId) != hex.EncodeToString(parent.SpanId) {
			t.Errorf("%q's parent is %x, want %q (%x)", name, s.ParentSpanId, names[i], parent.SpanId)
		}
	}
}

// spanInt returns the integer attribute key of s, -1 when it has none.
func spanInt(s *tracepb.Span, key string) int64 {
	for _, kv := range s.Attributes {
		if kv.Key == key {
			return kv.GetValue().GetIntValue()
		}
	}
	return -1
}

func hasSpanEvent(s *tracepb.Span, name string) bool {
	for _, e := range s.Events {
		if e.Name == name {
			return true
		}
	}
	return false
}

// TestTracingCluster runs separate edge, API and processor processes that
// export over OTLP/HTTP to a receiver in the test (tracing on because
// OTEL_EXPORTER_OTLP_ENDPOINT is set), and follows one asynchronous push, one
// device-to-device message and one asynchronous publish to a topic, each as
// one trace, across them.
func TestTracingCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts processes")
	}
	rcv := mustOTLPReceiver(t)
	topics := processor.Topics{Prefix: "trace-test."}
	kafka := testenv.Kafka(t, 1, topics.All()...)
	pg := testenv.Postgres(t)
	rd := testenv.StartRedis(t)
	common := []string{"--postgres-url", pg, "--redis-addr", rd.Addr, "--redis-prefix", "trace:", "--cluster-key", clusterKey,
		"--kafka-brokers", strings.Join(kafka.ListenAddrs(), ","), "--kafka-topic-prefix", topics.Prefix, "--kafka-session-timeout", "2s"}
	edgeArgs := []string{"--roles=edge", "--internal-addr", "127.0.0.1:0", "--token-secret", clusterSecret}
	e1 := startProc(t, "edge-1", append(append([]string{"--edge-id", "edge-1"}, edgeArgs...), common...)...)
	e2 := startProc(t, "edge-2", append(append([]string{"--edge-id", "edge-2"}, edgeArgs...), common...)...)
	api := startProc(t, "api", append([]string{"--roles=api", "--edge-id", "api-1", "--api-keys", clusterAPIKey}, common...)...).addr
	startProc(t, "processor", append([]string{"--roles=processor", "--edge-id", "processor-1"}, common...)...)
	phone := dialDevice(t, e1.addr, "a1", "phone1")
	tv := dialDevice(t, e2.addr, "a1", "tv1")

	t.Run("an asynchronous push with ack", func(t *testing.T) {
		id := mustSend(t, api, asyncBody("a1", "tv1", `,"ack":true,"priority":"high"`))
		if m := nextOf[*protocol.Msg](t, tv); m.ID != id {
			t.Fatalf("tv got %+v", m)
		}
		tv.send(t, &protocol.Ack{ID: id})
		waitOutcome(t, api, id, "tv1", processor.Acked)
		topic := topics.Messages(protocol.PriorityHigh)
		names := []string{"POST /v1/messages", "send " + topic, "process " + topic, tracing.SpanLinkSend, tracing.SpanLinkRecv, tracing.SpanDeliver}
		spans := rcv.trace(t, id, names...)
		chain(t, spans, names...)
		// The lookup carries no message id: it is the process span's other child.
		lookup := rcv.childOf(t, spans["process "+topic], tracing.SpanLookup)
		if spanAttr(lookup, "herald.edge") != "edge-2" {
			t.Errorf("the lookup found %q, want edge-2", spanAttr(lookup, "herald.edge"))
		}
		if d := spans[tracing.SpanDeliver]; d.edge != "edge-2" || !hasSpanEvent(d.Span, tracing.EventWritten) || !hasSpanEvent(d.Span, tracing.EventAcked) || spanAttr(d.Span, "herald.status") != "acked" {
			t.Errorf("the socket write's span (edge %q) %v, want acked on edge-2", d.edge, d.Span)
		}
		if s := spans["send "+topic]; spanAttr(s.Span, "messaging.system") != "kafka" || s.Kind != tracepb.Span_SPAN_KIND_PRODUCER {
			t.Errorf("the produce span %v", s.Span)
		}
		if s := spans["process "+topic]; spanAttr(s.Span, "messaging.system") != "kafka" || s.Kind != tracepb.Span_SPAN_KIND_CONSUMER || s.edge != "" {
			t.Errorf("the process span %v", s.Span)
		}
	})

	t.Run("a device's message with ack across two edges", func(t *testing.T) {
		phone.send(t, &protocol.Msg{ID: "d2d1", Type: "playback.control.v1", To: &protocol.Target{Device: "tv1"}, Ack: true, Payload: []byte(`{"action":"pause"}`)})
		if m := nextOf[*protocol.Msg](t, tv); m.ID != "d2d1" {
			t.Fatalf("tv got %+v", m)
		}
		nextOf[*protocol.Receipt](t, phone)
		tv.send(t, &protocol.Ack{ID: "d2d1"})
		if r := nextOf[*protocol.Receipt](t, phone); r.Results[0].Status != protocol.StatusAcked {
			t.Fatalf("second receipt %+v", r)
		}
		names := []string{tracing.SpanDeviceMsg, tracing.SpanLinkSend, tracing.SpanLinkRecv, tracing.SpanDeliver}
		spans := rcv.trace(t, "d2d1", names...)
		chain(t, spans, names...)
		rcv.childOf(t, spans[tracing.SpanDeviceMsg], tracing.SpanLookup)
		if spans[tracing.SpanDeviceMsg].edge != "edge-1" || spans[tracing.SpanDeliver].edge != "edge-2" || len(spans[tracing.SpanDeviceMsg].ParentSpanId) != 0 {
			t.Errorf("the msg's span on %q (parent %x), the write's on %q", spans[tracing.SpanDeviceMsg].edge, spans[tracing.SpanDeviceMsg].ParentSpanId, spans[tracing.SpanDeliver].edge)
		}
		if !hasSpanEvent(spans[tracing.SpanDeliver].Span, tracing.EventAcked) {
			t.Error("the socket write's span has no acked event")
		}
	})

	t.Run("an asynchronous publish to a topic", func(t *testing.T) {
		// Subscribers on both edges: the processor's publish, one link to
		// each edge and each edge's subscribers.
		devs := []*clusterDevice{
			dialTopics(t, e1.addr, "t1", "tv1", []string{"news.*"}, "news.sports"),
			dialTopics(t, e2.addr, "t2", "tv2", []string{"news.*"}, "news.sports"),
			dialTopics(t, e2.addr, "t3", "tv3", []string{"news.*"}, "news.sports"),
		}
		code, body := apiCall(t, api, http.MethodPost, "/v1/topics/news.sports/messages", `{"type":"notification.v1","payload":{"title":"kick-off"},"async":true}`)
		var acc struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal([]byte(body), &acc); code != http.StatusAccepted || err != nil || acc.ID == "" {
			t.Fatalf("async publish: %d %s", code, body)
		}
		for _, d := range devs {
			if m := nextOf[*protocol.Msg](t, d); m.ID != acc.ID {
				t.Fatalf("subscriber got %+v, want %s", m, acc.ID)
			}
		}
		// A publish goes at high priority unless the request says otherwise.
		topic := topics.Messages(protocol.PriorityHigh)
		names := []string{"POST /v1/topics/{topic}/messages", "send " + topic, "process " + topic, tracing.SpanPublish}
		spans := rcv.trace(t, acc.ID, names...)
		chain(t, spans, names...)
		pub := spans[tracing.SpanPublish]
		if spanInt(pub.Span, "herald.edges") != 2 || spanInt(pub.Span, "herald.devices") != 3 || spanAttr(pub.Span, "herald.topic") != "news.sports" {
			t.Errorf("the publish's span %v, want 2 edges and 3 devices of news.sports", pub.Span)
		}
		rcv.childOf(t, pub, tracing.SpanTopicLookup)
		// One link to each edge, each with the edge's receipt and its
		// subscribers under it.
		devices := map[string]int64{"edge-1": 1, "edge-2": 2}
		var sends []otlpSpan
		waitFor(t, "a link span to each edge", func() bool {
			rcv.mu.Lock()
			defer rcv.mu.Unlock()
			sends = sends[:0]
			for _, s := range rcv.spans {
				if s.Name == tracing.SpanLinkSend && hex.EncodeToString(s.ParentSpanId) == hex.EncodeToString(pub.SpanId) {
					sends = append(sends, s)
				}
			}
			return len(sends) == 2
		})
		for _, send := range sends {
			to := spanAttr(send.Span, "messaging.destination.name")
			if spanInt(send.Span, "herald.devices") != devices[to] {
				t.Errorf("the link to %q counted %d devices, want %d", to, spanInt(send.Span, "herald.devices"), devices[to])
			}
			recv := otlpSpan{rcv.childOf(t, send, tracing.SpanLinkRecv), to}
			subs := rcv.childOf(t, recv, tracing.SpanSubscribers)
			if spanInt(subs, "herald.devices") != devices[to] {
				t.Errorf("%s's subscribers span counted %d devices, want %d", to, spanInt(subs, "herald.devices"), devices[to])
			}
		}
	})
}

// childOf waits for the span named name whose parent is parent.
func (rcv *otlpReceiver) childOf(t *testing.T, parent otlpSpan, name string) *tracepb.Span {
	t.Helper()
	var found *tracepb.Span
	waitFor(t, name+" under "+parent.Name, func() bool {
		rcv.mu.Lock()
		defer rcv.mu.Unlock()
		for _, s := range rcv.spans {
			if s.Name == name && hex.EncodeToString(s.ParentSpanId) == hex.EncodeToString(parent.SpanId) && hex.EncodeToString(s.TraceId) == hex.EncodeToString(parent.TraceId) {
				found = s.Span
				return true
			}
		}
		return false
	})
	return found
}
