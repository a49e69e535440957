package tracing

import (
	"context"
	"strconv"

	"github.com/heraldpush/herald/protocol"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// The spans of a message published to a topic: the publish from the edge
// that routes it (Publish), the topic directory's answer (TopicLookup), the
// link to each edge or region with subscribers (LinkPublish, then
// LinkReceive on the other side) and the queueing for one edge's subscribers
// (Subscribers). A topic's subscribers get no span each: a publish reaches
// thousands of them, and each edge's span counts them.
const (
	SpanPublish     = "publish topic"
	SpanTopicLookup = "registry topic lookup"
	SpanSubscribers = "send subscribers"
)

// Attribute keys of a topic's publish.
const (
	TopicKey   = attribute.Key("herald.topic")
	EdgesKey   = attribute.Key("herald.edges")
	RegionsKey = attribute.Key("herald.regions")
	DevicesKey = attribute.Key("herald.devices")
	DroppedKey = attribute.Key("herald.dropped")
	FailedKey  = attribute.Key("herald.failed")
)

// Publish starts the PRODUCER span of message id published to topic from
// this process, within a traced message only, and returns the context its
// hops start their spans in. The caller ends it with EndPublish.
func (t *Tracer) Publish(ctx context.Context, topic, id string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noSpan
	}
	return t.doPublish(ctx, topic, id)
}

// doPublish is Publish with tracing on.
func (t *Tracer) doPublish(ctx context.Context, topic, id string) (context.Context, trace.Span) {
	if !traced(ctx) {
		return ctx, noSpan
	}
	return t.t.Start(ctx, SpanPublish, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		systemHerald, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("publish"),
		semconv.MessagingDestinationName(topic), semconv.MessagingMessageID(id), TopicKey.String(topic)))
}

// EndPublish ends a Publish span with what the publish reached (res); err,
// when not nil, is why it reached nothing (the topic's edges could not be
// looked up). A publish that some edges or regions did not answer is an error
// span naming the first of them.
func EndPublish(span trace.Span, res protocol.PublishResult, err error) {
	if span.IsRecording() {
		span.SetAttributes(EdgesKey.Int(res.Edges), RegionsKey.Int(res.Regions), DevicesKey.Int(res.Devices),
			DroppedKey.Int(res.Dropped), FailedKey.Int(len(res.Failed)))
		if err == nil && len(res.Failed) > 0 {
			f := res.Failed[0]
			span.SetStatus(codes.Error, strconv.Itoa(len(res.Failed))+" not reached: "+f.Edge+": "+f.Error)
		}
	}
	EndErr(span, err)
}

// TopicLookup starts the CLIENT span of the topic directory's lookup of
// topic's edges, within a traced message only. The caller ends it with
// EndTopicLookup.
func (t *Tracer) TopicLookup(ctx context.Context, topic string) trace.Span {
	if t == nil {
		return noSpan
	}
	return t.doTopicLookup(ctx, topic)
}

// doTopicLookup is TopicLookup with tracing on.
func (t *Tracer) doTopicLookup(ctx context.Context, topic string) trace.Span {
	if !traced(ctx) {
		return noSpan
	}
	_, span := t.t.Start(ctx, SpanTopicLookup, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(TopicKey.String(topic)))
	return span
}

// EndTopicLookup ends a TopicLookup span with the number of edges found and
// the lookup's error.
func EndTopicLookup(span trace.Span, edges int, err error) {
	if span.IsRecording() {
		span.SetAttributes(EdgesKey.Int(edges))
	}
	EndErr(span, err)
}

// LinkPublish starts the PRODUCER span of message id, published to topic,
// sent over the link to edge (an edge, or another region), within a traced
// message only, and returns it with the traceparent the publish frame
// carries ("" when there is none). The caller ends it with EndSubscribers
// and the edge's answer.
func (t *Tracer) LinkPublish(ctx context.Context, edge, topic, id string) (trace.Span, string) {
	if t == nil {
		return noSpan, ""
	}
	return t.doLinkPublish(ctx, edge, topic, id)
}

// doLinkPublish is LinkPublish with tracing on.
func (t *Tracer) doLinkPublish(ctx context.Context, edge, topic, id string) (trace.Span, string) {
	if !traced(ctx) {
		return noSpan, ""
	}
	_, span := t.t.Start(ctx, SpanLinkSend, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		systemHerald, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
		semconv.MessagingDestinationName(edge), semconv.MessagingMessageID(id), TopicKey.String(topic)))
	return span, Traceparent(span.SpanContext())
}

// PublishReceive starts the CONSUMER span of message id, published to topic,
// that came over a link with tp, the traceparent of the sender's span: its
// child. A frame without tp is not traced here.
func (t *Tracer) PublishReceive(ctx context.Context, tp, topic, id string) (context.Context, trace.Span) {
	if t == nil || tp == "" {
		return ctx, noSpan
	}
	return t.doPublishReceive(ctx, tp, topic, id)
}

// doPublishReceive is PublishReceive with tracing on and a tp.
func (t *Tracer) doPublishReceive(ctx context.Context, tp, topic, id string) (context.Context, trace.Span) {
	ctx = t.prop.Extract(ctx, traceparentCarrier(tp))
	return t.t.Start(ctx, SpanLinkRecv, trace.WithSpanKind(trace.SpanKindConsumer), trace.WithAttributes(
		systemHerald, semconv.MessagingOperationTypeProcess, semconv.MessagingOperationName("process"),
		semconv.MessagingMessageID(id), TopicKey.String(topic)))
}

// Subscribers starts the PRODUCER span of queueing message id, published to
// topic, for this edge's subscribers of it, within a traced message only.
// The caller ends it with EndSubscribers.
func (t *Tracer) Subscribers(ctx context.Context, topic, id string) trace.Span {
	if t == nil {
		return noSpan
	}
	return t.doSubscribers(ctx, topic, id)
}

// doSubscribers is Subscribers with tracing on.
func (t *Tracer) doSubscribers(ctx context.Context, topic, id string) trace.Span {
	if !traced(ctx) {
		return noSpan
	}
	_, span := t.t.Start(ctx, SpanSubscribers, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		systemHerald, semconv.MessagingOperationTypeSend, semconv.MessagingOperationName("send"),
		semconv.MessagingDestinationName("subscribers"), semconv.MessagingMessageID(id), TopicKey.String(topic)))
	return span
}

// EndSubscribers ends a Subscribers or LinkPublish span with the subscribers
// the message was queued for and those it was not, or err.
func EndSubscribers(span trace.Span, devices, dropped int, err error) {
	if span.IsRecording() {
		span.SetAttributes(DevicesKey.Int(devices), DroppedKey.Int(dropped))
	}
	EndErr(span, err)
}
