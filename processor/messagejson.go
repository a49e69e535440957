package processor

import (
	"encoding/json"
	"strconv"

	"github.com/heraldpush/herald/protocol"
)

// appendMessage appends m as JSON, byte for byte what encoding/json writes for
// it (messagejson_test.go compares the two on every shape of Message, and
// FuzzAppendMessage on any): the API writes one record per accepted message,
// and reflection was most of the producer's CPU. A payload that
// encoding/json would rewrite (whitespace to take out, or <, >, & and the
// line separators it escapes) goes through encoding/json, as does one that is
// not valid JSON (which encoding/json refuses).
func appendMessage(dst []byte, m *Message) ([]byte, error) {
	if !plainPayload(m.Payload) {
		v, err := json.Marshal(m)
		if err != nil {
			return dst, err
		}
		return append(dst, v...), nil
	}
	dst = append(dst, `{"id":`...)
	dst = protocol.AppendHTMLString(dst, m.ID)
	if m.Account != "" {
		dst = append(dst, `,"account":`...)
		dst = protocol.AppendHTMLString(dst, m.Account)
	}
	if m.Device != "" {
		dst = append(dst, `,"device":`...)
		dst = protocol.AppendHTMLString(dst, m.Device)
	}
	if m.Topic != "" {
		dst = append(dst, `,"topic":`...)
		dst = protocol.AppendHTMLString(dst, m.Topic)
	}
	dst = append(dst, `,"type":`...)
	dst = protocol.AppendHTMLString(dst, m.Type)
	dst = append(dst, `,"payload":`...)
	dst = append(dst, m.Payload...)
	if m.From != "" {
		dst = append(dst, `,"from":`...)
		dst = protocol.AppendHTMLString(dst, m.From)
	}
	dst = append(dst, `,"priority":`...)
	dst = protocol.AppendHTMLString(dst, string(m.Priority))
	if m.Ack {
		dst = append(dst, `,"ack":true`...)
	}
	if m.CollapseKey != "" {
		dst = append(dst, `,"collapse_key":`...)
		dst = protocol.AppendHTMLString(dst, m.CollapseKey)
	}
	dst = append(dst, `,"accepted":`...)
	dst = strconv.AppendInt(dst, m.Accepted, 10)
	if m.Expires != 0 {
		dst = append(dst, `,"expires":`...)
		dst = strconv.AppendInt(dst, m.Expires, 10)
	}
	return append(dst, '}'), nil
}

// plainPayload reports whether encoding/json writes p as it is: valid JSON
// with no whitespace outside its strings, no <, > or &, and no U+2028 or
// U+2029 (whose UTF-8 starts with 0xE2, refused here with every other
// character that starts so).
func plainPayload(p json.RawMessage) bool {
	if len(p) == 0 {
		return false
	}
	inString := false
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '<' || c == '>' || c == '&' || c == 0xe2:
			return false
		case inString && c == '\\':
			i++ // the escaped byte, which may be a quote
		case c == '"':
			inString = !inString
		case !inString && (c == ' ' || c == '\t' || c == '\r' || c == '\n'):
			return false
		}
	}
	return json.Valid(p)
}

// messageSize is about the length of m's JSON, so that appendMessage rarely
// grows its buffer.
func messageSize(m *Message) int {
	return 160 + len(m.ID) + len(m.Account) + len(m.Device) + len(m.Topic) + len(m.Type) +
		len(m.Payload) + len(m.From) + len(m.CollapseKey)
}
