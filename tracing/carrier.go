package tracing

import (
	"encoding/hex"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// RecordCarrier carries trace context in the headers of a Kafka record, as
// the W3C propagator's traceparent and tracestate headers.
type RecordCarrier struct {
	R *kgo.Record
}

var _ propagation.TextMapCarrier = RecordCarrier{}

// Get returns the value of the record's header key, the last one when there
// are several.
func (c RecordCarrier) Get(key string) string {
	v := ""
	for _, h := range c.R.Headers {
		if h.Key == key {
			v = string(h.Value)
		}
	}
	return v
}

// Set replaces the record's headers named key with one of value.
func (c RecordCarrier) Set(key, value string) {
	hs := c.R.Headers[:0]
	for _, h := range c.R.Headers {
		if h.Key != key {
			hs = append(hs, h)
		}
	}
	c.R.Headers = append(hs, kgo.RecordHeader{Key: key, Value: []byte(value)})
}

// Keys returns the keys of the record's headers.
func (c RecordCarrier) Keys() []string {
	keys := make([]string, 0, len(c.R.Headers))
	for _, h := range c.R.Headers {
		keys = append(keys, h.Key)
	}
	return keys
}

// traceparentCarrier carries one traceparent, a link frame's tp.
type traceparentCarrier string

// Get implements propagation.TextMapCarrier.
func (c traceparentCarrier) Get(key string) string {
	if key == "traceparent" {
		return string(c)
	}
	return ""
}

// Set implements propagation.TextMapCarrier; the carrier is read only.
func (traceparentCarrier) Set(string, string) {}

// Keys implements propagation.TextMapCarrier.
func (traceparentCarrier) Keys() []string { return []string{"traceparent"} }

// Traceparent formats sc as a W3C traceparent of version 00, the value of a
// link msg frame's tp; "" for a span context that is not valid.
func Traceparent(sc trace.SpanContext) string {
	if !sc.IsValid() {
		return ""
	}
	var b [55]byte
	copy(b[:], "00-")
	tid, sid := sc.TraceID(), sc.SpanID()
	hex.Encode(b[3:35], tid[:])
	b[35] = '-'
	hex.Encode(b[36:52], sid[:])
	b[52] = '-'
	hex.Encode(b[53:55], []byte{byte(sc.TraceFlags())})
	return string(b[:])
}
