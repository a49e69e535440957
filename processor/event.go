package processor

import (
	"encoding/json"
	"strconv"

	"github.com/heraldpush/herald/protocol"
)

// appendEvent appends e as JSON, byte for byte what encoding/json writes for
// it (event_test.go compares the two on every shape of Event): the processor
// writes one per outcome, and reflection was a tenth of the asynchronous
// path's CPU (BENCHMARKS.md, "Asynchronous path").
func appendEvent(dst []byte, e *Event) ([]byte, error) {
	dst = append(dst, `{"id":`...)
	dst = protocol.AppendHTMLString(dst, e.ID)
	dst = append(dst, `,"account":`...)
	dst = protocol.AppendHTMLString(dst, e.Account)
	if e.Device != "" {
		dst = append(dst, `,"device":`...)
		dst = protocol.AppendHTMLString(dst, e.Device)
	}
	if e.Topic != "" {
		dst = append(dst, `,"topic":`...)
		dst = protocol.AppendHTMLString(dst, e.Topic)
	}
	if e.Published != nil {
		// Once per message to a topic: not worth its own encoder.
		v, err := json.Marshal(e.Published)
		if err != nil {
			return dst, err
		}
		dst = append(dst, `,"published":`...)
		dst = append(dst, v...)
	}
	dst = append(dst, `,"status":`...)
	dst = protocol.AppendHTMLString(dst, string(e.Status))
	if e.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = protocol.AppendHTMLString(dst, e.Error)
	}
	if e.Priority != "" {
		dst = append(dst, `,"priority":`...)
		dst = protocol.AppendHTMLString(dst, string(e.Priority))
	}
	dst = append(dst, `,"at":`...)
	dst = strconv.AppendInt(dst, e.At, 10)
	if e.Expires != 0 {
		dst = append(dst, `,"expires":`...)
		dst = strconv.AppendInt(dst, e.Expires, 10)
	}
	return append(dst, '}'), nil
}

// eventSize is about the length of e's JSON, so that appendEvent rarely grows
// its buffer: the names and punctuation of every field, and the values.
func eventSize(e *Event) int {
	return 128 + len(e.ID) + len(e.Account) + len(e.Device) + len(e.Topic) + len(e.Error)
}
