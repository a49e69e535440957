package tracing

import (
	"context"
	"net/http"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// Span attribute keys of Herald's own (the ids are validated before any span
// records them).
const (
	AccountKey = attribute.Key("herald.account")
	DeviceKey  = attribute.Key("herald.device")
	StatusKey  = attribute.Key("herald.status")
	EdgeKey    = attribute.Key("herald.edge")
)

// systemHerald is messaging.system of the hops that are Herald's own: the
// link between edges and the socket to the device.
var systemHerald = semconv.MessagingSystemKey.String("herald")

// Span names of the hops that are not Kafka's ("<operation> <destination>").
const (
	SpanLookup     = "registry lookup"
	SpanLinkSend   = "send link"
	SpanLinkRecv   = "process link"
	SpanDeliver    = "send device"
	SpanDeviceMsg  = "process msg"
	EventWritten   = "written"
	EventAcked     = "acked"
	instrumentName = "github.com/heraldpush/herald"
)

// Tracer starts the spans of one process. A nil *Tracer is tracing off: its
// methods return at once, build no attributes and start no span.
type Tracer struct {
	t    trace.Tracer
	prop propagation.TraceContext
}

// New returns the Tracer of tp, or nil (tracing off) for a nil tp.
func New(tp trace.TracerProvider) *Tracer {
	if tp == nil {
		return nil
	}
	return &Tracer{t: tp.Tracer(instrumentName)}
}

// noSpan is what the methods of a nil Tracer return: the no-op span.
var noSpan = trace.SpanFromContext(context.Background())

// traced reports whether ctx carries a span context, so that a hop's span
// joins a message's trace and never starts one of its own.
func traced(ctx context.Context) bool {
	return trace.SpanContextFromContext(ctx).IsValid()
}

// HandlerFunc wraps h, the REST endpoint route ("POST /v1/push"), in a
// SERVER span named route. A W3C traceparent header of the request is its
// parent: an authenticated backend may put its message in its own trace.
func (t *Tracer) HandlerFunc(route string, h http.HandlerFunc) http.HandlerFunc {
	if t == nil {
		return h
	}
	method, path := route, route
	for i := range len(route) {
		if route[i] == ' ' {
			method, path = route[:i], route[i+1:]
			break
		}
	}
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := t.t.Start(ctx, route, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(method), semconv.HTTPRoute(path), semconv.URLPath(r.URL.Path)))
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		h(sw, r.WithContext(ctx))
		span.SetAttributes(semconv.HTTPResponseStatusCode(sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	}
}

// statusWriter remembers the status a handler wrote.
type statusWriter struct {
	http.ResponseWriter
	status int
}

// WriteHeader implements http.ResponseWriter.
func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// Unwrap gives http.ResponseController the writer underneath.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Annotate records the message a request or a handler works on in the span
// of ctx, if it records: its id, account and device (either may be "").
func (t *Tracer) Annotate(ctx context.Context, id, account, device string) {
	if t == nil {
		return
	}
	t.doAnnotate(ctx, id, account, device)
}

// doAnnotate is Annotate with tracing on.
func (t *Tracer) doAnnotate(ctx context.Context, id, account, device string) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	attrs := make([]attribute.KeyValue, 0, 3)
	if id != "" {
		attrs = append(attrs, semconv.MessagingMessageID(id))
	}
	if account != "" {
		attrs = append(attrs, AccountKey.String(account))
	}
	if device != "" {
		attrs = append(attrs, DeviceKey.String(device))
	}
	span.SetAttributes(attrs...)
}

// Produce starts the PRODUCER span of rec, the record of message id, and
// writes its context into rec's headers, where the processor finds it. The
// caller ends the span when Kafka acknowledged the record, with EndErr.
func (t *Tracer) Produce(ctx context.Context, rec *kgo.Record, id string) trace.Span {
	if t == nil {
		return noSpan
	}
	ctx, span := t.t.Start(ctx, "send "+rec.Topic, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		semconv.MessagingSystemKafka, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
		semconv.MessagingDestinationName(rec.Topic), semconv.MessagingMessageID(id),
		semconv.MessagingKafkaMessageKey(string(rec.Key))))
	t.prop.Inject(ctx, RecordCarrier{rec})
	return span
}

// Process starts the CONSUMER span of processing rec, the record of message
// id read by consumer group, as a child of the producer's span when rec's
// headers carry its context (one trace per message), else as a new trace.
func (t *Tracer) Process(ctx context.Context, rec *kgo.Record, group, id string) (context.Context, trace.Span) {
	if t == nil || rec == nil {
		return ctx, noSpan
	}
	ctx = t.prop.Extract(ctx, RecordCarrier{rec})
	return t.t.Start(ctx, "process "+rec.Topic, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		semconv.MessagingSystemKafka, semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
		semconv.MessagingDestinationName(rec.Topic), semconv.MessagingMessageID(id),
		semconv.MessagingConsumerGroupName(group),
		semconv.MessagingDestinationPartitionID(itoa(rec.Partition)),
		semconv.MessagingKafkaOffset(int(rec.Offset))))
}

// WithSpan returns dst carrying the span of src, for work that src's
// message goes on with under another context (a wait for an ack that
// outlives the batch). Tracing off, it returns dst.
func (t *Tracer) WithSpan(dst, src context.Context) context.Context {
	if t == nil {
		return dst
	}
	sc := trace.SpanContextFromContext(src)
	if !sc.IsValid() {
		return dst
	}
	return trace.ContextWithSpan(dst, trace.SpanFromContext(src))
}

// Lookup starts the CLIENT span of a registry lookup of the device, within a
// traced message only. The caller ends it with EndLookup.
func (t *Tracer) Lookup(ctx context.Context, account, device string) trace.Span {
	if t == nil {
		return noSpan
	}
	return t.doLookup(ctx, account, device)
}

// doLookup is Lookup with tracing on.
func (t *Tracer) doLookup(ctx context.Context, account, device string) trace.Span {
	if !traced(ctx) {
		return noSpan
	}
	_, span := t.t.Start(ctx, SpanLookup, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		AccountKey.String(account), DeviceKey.String(device)))
	return span
}

// EndLookup ends a Lookup span with the edge the registry named ("" when
// none) and the lookup's error.
func EndLookup(span trace.Span, edge string, err error) {
	if span.IsRecording() {
		if edge != "" {
			span.SetAttributes(EdgeKey.String(edge))
		}
		if err != nil {
			span.SetAttributes(StatusKey.String(err.Error()))
		}
	}
	span.End()
}

// LinkSend starts the PRODUCER span of message id sent over the link to
// edge, within a traced message only, and returns it with the traceparent
// the link's msg frame carries ("" when there is none).
func (t *Tracer) LinkSend(ctx context.Context, edge, account, device, id string) (trace.Span, string) {
	if t == nil {
		return noSpan, ""
	}
	return t.doLinkSend(ctx, edge, account, device, id)
}

// doLinkSend is LinkSend with tracing on.
func (t *Tracer) doLinkSend(ctx context.Context, edge, account, device, id string) (trace.Span, string) {
	if !traced(ctx) {
		return noSpan, ""
	}
	_, span := t.t.Start(ctx, SpanLinkSend, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		systemHerald, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
		semconv.MessagingDestinationName(edge), semconv.MessagingMessageID(id),
		AccountKey.String(account), DeviceKey.String(device)))
	return span, Traceparent(span.SpanContext())
}

// LinkReceive starts the CONSUMER span of message id that came over a link
// with tp, the traceparent of the sender's span: its child. A frame without
// tp is not traced here (the sending process does not trace it).
func (t *Tracer) LinkReceive(ctx context.Context, tp, account, device, id string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noSpan
	}
	return t.doLinkReceive(ctx, tp, account, device, id)
}

// doLinkReceive is LinkReceive with tracing on.
func (t *Tracer) doLinkReceive(ctx context.Context, tp, account, device, id string) (context.Context, trace.Span) {
	if tp == "" {
		return ctx, noSpan
	}
	ctx = t.prop.Extract(ctx, traceparentCarrier(tp))
	return t.t.Start(ctx, SpanLinkRecv, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		systemHerald, semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
		semconv.MessagingMessageID(id), AccountKey.String(account), DeviceKey.String(device)))
}

// Deliver starts the PRODUCER span of the write of message id to the
// device's socket, within a traced message only. Written marks the write,
// Acked the device's ack; the caller ends it with End and the outcome.
func (t *Tracer) Deliver(ctx context.Context, account, device, id string, ack bool) trace.Span {
	if t == nil {
		return noSpan
	}
	return t.doDeliver(ctx, account, device, id, ack)
}

// doDeliver is Deliver with tracing on.
func (t *Tracer) doDeliver(ctx context.Context, account, device, id string, ack bool) trace.Span {
	if !traced(ctx) {
		return noSpan
	}
	_, span := t.t.Start(ctx, SpanDeliver, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		systemHerald, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
		semconv.MessagingDestinationName("device"), semconv.MessagingMessageID(id),
		AccountKey.String(account), DeviceKey.String(device), attribute.Bool("herald.ack", ack)))
	return span
}

// DeviceMsg starts the CONSUMER span of a device's msg frame of type typ on
// its edge: the root of a device-to-device message's trace (devices never
// send trace context).
func (t *Tracer) DeviceMsg(ctx context.Context, account, device, id, typ string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noSpan
	}
	return t.doDeviceMsg(ctx, account, device, id, typ)
}

// doDeviceMsg is DeviceMsg with tracing on.
func (t *Tracer) doDeviceMsg(ctx context.Context, account, device, id, typ string) (context.Context, trace.Span) {
	return t.t.Start(ctx, SpanDeviceMsg, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		systemHerald, semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
		semconv.MessagingMessageID(id), AccountKey.String(account), DeviceKey.String(device),
		attribute.String("herald.type", typ)))
}

// Event adds the event name to span if it records.
func Event(span trace.Span, name string) {
	if span.IsRecording() {
		span.AddEvent(name)
	}
}

// End ends span with status, a delivery status (herald.status), and, for a
// rejected message, its error.
func End(span trace.Span, status, errText string) {
	if span.IsRecording() {
		span.SetAttributes(StatusKey.String(status))
		if status == "rejected" {
			span.SetStatus(codes.Error, errText)
		}
	}
	span.End()
}

// EndErr ends span, marking it failed with err when err is not nil.
func EndErr(span trace.Span, err error) {
	if err != nil && span.IsRecording() {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// itoa formats a partition number.
func itoa(n int32) string {
	if n == 0 {
		return "0"
	}
	var b [11]byte
	i := len(b)
	neg := n < 0
	u := int64(n)
	if neg {
		u = -u
	}
	for u > 0 {
		i--
		b[i] = byte('0' + u%10)
		u /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
