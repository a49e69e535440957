// Package tracing follows one message across Herald's processes with
// OpenTelemetry: the REST request, the Kafka record, the processor, the
// registry lookup, the link between edges, the socket write and the device's
// ack, as one trace (docs/design.md, "Tracing"); and a message published to a
// topic, from the publish through the topic directory and the links to each
// edge's subscribers (topic.go).
//
// Tracing is off unless Start is given Config.Enabled; a nil *Tracer is
// tracing off, and every method of a nil *Tracer returns at once, without
// building attributes or formatting anything, so the hot paths pay one nil
// check. With tracing on, spans follow OpenTelemetry's messaging semantic
// conventions (span names "<operation> <destination>", messaging.system,
// messaging.destination.name, messaging.operation.type,
// messaging.message.id) with Herald's own herald.account, herald.device and
// herald.status.
//
// The trace context travels as a W3C traceparent: in the headers of Kafka
// records (RecordCarrier), in the "tp" field of a link's msg frame
// (Tracer.LinkSend writes it, Tracer.LinkReceive reads it) and publish frame
// (Tracer.LinkPublish, Tracer.PublishReceive), and from a
// backend's REST request (Tracer.HandlerFunc). Devices never see it and are never asked for it.
//
// Start exports over OTLP/HTTP (protobuf), configured by the standard
// OTEL_EXPORTER_OTLP_* environment variables; a Config.Exporter replaces it
// (tests use the SDK's in-memory exporter). The batch span processor's one
// goroutine belongs to the Provider; Provider.Shutdown flushes what is still
// buffered and stops it.
package tracing
