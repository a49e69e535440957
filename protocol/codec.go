package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// DecodeReason classifies why Decode refused a frame. Every reason is answered with
// an error frame of code bad_frame; only ReasonNotObject counts toward closing the
// connection after three in a row.
type DecodeReason string

// The reasons of a DecodeError.
const (
	// ReasonNotObject means the data is not valid JSON, or is valid JSON that is not
	// one object (an array, a string, null, or an object followed by more data).
	ReasonNotObject DecodeReason = "not_object"
	// ReasonUnknownKind means "t" is missing, is not a string, or names no kind.
	ReasonUnknownKind DecodeReason = "unknown_kind"
	// ReasonMissingField means a required field is absent, null or an empty string,
	// or a msg's "to" does not name exactly one of device, devices and siblings.
	ReasonMissingField DecodeReason = "missing_field"
	// ReasonWrongType means a field holds the wrong JSON type, or a number that does
	// not fit its Go type.
	ReasonWrongType DecodeReason = "wrong_type"
)

// DecodeError is the error of Decode. It carries what the edge needs to answer with
// an error frame: the frame's id for "re" and the offending field for the message.
type DecodeError struct {
	Reason DecodeReason
	// Kind is the frame's "t" when it could be read as a string, even an unknown one.
	Kind Kind
	// Field is the offending field as a dotted path ("to.devices", "results.1.status");
	// "" when no single field is at fault.
	Field string
	// ID is the frame's "id" when it was a string, for the "re" of the error frame.
	ID string
	// Err is the underlying error, if any.
	Err error
}

// Error describes the problem as, for example, `protocol: msg: missing field "type"`.
func (e *DecodeError) Error() string {
	prefix := "protocol: "
	if e.Kind != "" && e.Reason != ReasonUnknownKind {
		prefix += string(e.Kind) + ": "
	}
	var s string
	switch e.Reason {
	case ReasonNotObject:
		s = prefix + "frame is not a JSON object"
	case ReasonUnknownKind:
		if e.Kind == "" {
			s = prefix + `frame has no string field "t"`
		} else {
			s = prefix + "unknown frame kind " + strconv.Quote(string(e.Kind))
		}
	case ReasonMissingField:
		s = prefix + "missing field " + strconv.Quote(e.Field)
	case ReasonWrongType:
		s = prefix + "wrong type for field " + strconv.Quote(e.Field)
	default:
		s = prefix + "bad frame (" + string(e.Reason) + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying error.
func (e *DecodeError) Unwrap() error { return e.Err }

// errTargetCount is the Err of a msg whose "to" names no target or several kinds.
var errTargetCount = errors.New(`"to" needs exactly one of "device", "devices" and "siblings"`)

// head is the first and, for msg and ack, the only decoding pass: the kind plus
// every field of a msg, so that the hot path parses the data once.
type head struct {
	T string `json:"t"`
	Msg
}

// Decode parses data as exactly one frame and returns it as a pointer to its struct
// (*Msg, *Ack, ...). It is strict about the frame's shape (see DecodeReason), ignores
// unknown fields, and never panics. Field names match case-insensitively, as with
// encoding/json. A returned error is always a *DecodeError.
func Decode(data []byte) (Frame, error) {
	if !isObjectStart(data) {
		return nil, &DecodeError{Reason: ReasonNotObject}
	}
	var h head
	err := json.Unmarshal(data, &h)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return nil, &DecodeError{Reason: ReasonNotObject, Err: err}
	}
	kind := Kind(h.T)
	switch kind {
	case KindMsg:
		m := &h.Msg
		if err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				// Hide head, which embeds Msg, from the path and the message.
				te.Struct, te.Field = "Msg", strings.TrimPrefix(te.Field, "Msg.")
			}
			return nil, typeError(kind, m.ID, err)
		}
		if err := checkMsg(m); err != nil {
			return nil, err
		}
		return m, nil
	case KindAck:
		if err == nil {
			if h.ID == "" {
				return nil, missing(kind, h.ID, "id")
			}
			return &Ack{ID: h.ID}, nil
		}
		return decodeAs(kind, h.ID, data, &Ack{})
	case KindWelcome:
		return decodeAs(kind, h.ID, data, &Welcome{})
	case KindReceipt:
		return decodeAs(kind, h.ID, data, &Receipt{})
	case KindError:
		return decodeAs(kind, h.ID, data, &Error{})
	case KindPresence:
		return decodeAs(kind, h.ID, data, &Presence{})
	case KindReconnect:
		return decodeAs(kind, h.ID, data, &Reconnect{})
	case KindHello:
		return decodeAs(kind, h.ID, data, &Hello{})
	case KindSub:
		return decodeAs(kind, h.ID, data, &Sub{})
	case KindUnsub:
		return decodeAs(kind, h.ID, data, &Unsub{})
	case KindSubs:
		return decodeAs(kind, h.ID, data, &Subs{})
	case KindRefresh:
		return decodeAs(kind, h.ID, data, &Refresh{})
	case KindRefreshed:
		return decodeAs(kind, h.ID, data, &Refreshed{})
	}
	return nil, &DecodeError{Reason: ReasonUnknownKind, Kind: kind, Field: "t", ID: h.ID}
}

// isObjectStart reports whether the first non-space byte of data opens an object.
// json.Unmarshal checks the rest: syntax, and that nothing follows the object.
func isObjectStart(data []byte) bool {
	for _, c := range data {
		switch c {
		case ' ', '\t', '\n', '\r':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// decodeAs is the second pass for the kinds that head does not cover.
func decodeAs[F interface {
	Frame
	*Welcome | *Receipt | *Error | *Presence | *Reconnect | *Hello | *Ack | *Sub | *Unsub | *Subs | *Refresh | *Refreshed
}](kind Kind, id string, data []byte, f F) (Frame, error) {
	if err := json.Unmarshal(data, f); err != nil {
		return nil, typeError(kind, id, err)
	}
	if err := checkRequired(f, id); err != nil {
		return nil, err
	}
	return f, nil
}

// typeError turns an Unmarshal error of valid JSON into a DecodeError.
func typeError(kind Kind, id string, err error) *DecodeError {
	de := &DecodeError{Reason: ReasonWrongType, Kind: kind, ID: id, Err: err}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		de.Field = te.Field
	}
	return de
}

func missing(kind Kind, id, field string) *DecodeError {
	return &DecodeError{Reason: ReasonMissingField, Kind: kind, Field: field, ID: id}
}

// checkMsg checks a msg's required fields: type, payload (JSON null counts as
// missing), and, when present, a "to" that names exactly one kind of target.
func checkMsg(m *Msg) error {
	if m.Type == "" {
		return missing(KindMsg, m.ID, "type")
	}
	if len(m.Payload) == 0 || string(m.Payload) == "null" {
		return missing(KindMsg, m.ID, "payload")
	}
	if m.To != nil {
		n := 0
		if m.To.Device != "" {
			n++
		}
		if len(m.To.Devices) > 0 {
			n++
		}
		if m.To.Siblings {
			n++
		}
		if n != 1 {
			de := missing(KindMsg, m.ID, "to")
			de.Err = errTargetCount
			return de
		}
	}
	return nil
}

// checkRequired checks the required fields of the kinds other than msg.
func checkRequired(f Frame, id string) error {
	k := f.Kind()
	need := func(v, field string) error {
		if v == "" {
			return missing(k, id, field)
		}
		return nil
	}
	switch f := f.(type) {
	case *Welcome:
		for _, fv := range [...][2]string{
			{f.Session, "session"}, {f.Account, "account"}, {f.Device, "device"}, {f.Edge, "edge"},
		} {
			if err := need(fv[0], fv[1]); err != nil {
				return err
			}
		}
	case *Receipt:
		if err := need(f.ID, "id"); err != nil {
			return err
		}
		if f.Results == nil {
			return missing(k, id, "results")
		}
		for i, r := range f.Results {
			p := "results." + strconv.Itoa(i) + "."
			if err := need(r.Device, p+"device"); err != nil {
				return err
			}
			if err := need(string(r.Status), p+"status"); err != nil {
				return err
			}
		}
	case *Error:
		return need(string(f.Code), "code")
	case *Presence:
		return need(f.Device, "device")
	case *Reconnect:
		return need(f.Reason, "reason")
	case *Ack:
		return need(f.ID, "id")
	case *Refresh:
		if err := need(f.ID, "id"); err != nil {
			return err
		}
		return need(f.Token, "token")
	case *Refreshed:
		return need(f.ID, "id")
	case *Sub:
		if len(f.Topics) == 0 {
			return missing(k, id, "topics")
		}
	case *Unsub:
		if len(f.Topics) == 0 {
			return missing(k, id, "topics")
		}
	case *Subs:
		if f.Results == nil {
			return missing(k, id, "results")
		}
		for i, r := range f.Results {
			if err := need(string(r.Status), "results."+strconv.Itoa(i)+".status"); err != nil {
				return err
			}
		}
	}
	return nil
}

// Encode returns the frame's JSON object with "t" as its first field, e.g.
// {"t":"ack","id":"x"}. It does not check required fields: it encodes what it is
// given, with a nil msg payload as null.
func Encode(f Frame) ([]byte, error) {
	return AppendEncode(nil, f)
}

// AppendEncode appends the encoding of f (see Encode) to dst and returns the
// extended buffer, so that hot paths can reuse one buffer. On error dst is returned
// unchanged.
func AppendEncode(dst []byte, f Frame) ([]byte, error) {
	switch f := f.(type) {
	case *Msg:
		if f == nil {
			break
		}
		return appendMsg(dst, f)
	case *Receipt:
		if f == nil {
			break
		}
		return AppendReceipt(dst, f), nil
	case *Ack:
		if f == nil {
			break
		}
		out := append(dst, `{"t":"ack","id":`...)
		out = AppendString(out, f.ID)
		return append(out, '}'), nil
	case *Welcome, *Error, *Presence, *Reconnect, *Hello, *Sub, *Unsub, *Subs, *Refresh, *Refreshed:
		return appendGeneric(dst, f)
	}
	return dst, fmt.Errorf("protocol: encode: not a frame: %T", f)
}

// appendGeneric encodes f with encoding/json and splices "t" in front.
func appendGeneric(dst []byte, f Frame) ([]byte, error) {
	if isNilFrame(f) {
		return dst, fmt.Errorf("protocol: encode: nil %T", f)
	}
	b, err := json.Marshal(f)
	if err != nil {
		return dst, fmt.Errorf("protocol: encode %s: %w", f.Kind(), err)
	}
	out := append(dst, `{"t":"`...)
	out = append(out, f.Kind()...)
	out = append(out, '"')
	if len(b) > 2 { // b is "{...}"; "{}" has no fields
		out = append(out, ',')
	}
	return append(out, b[1:]...), nil
}

func isNilFrame(f Frame) bool {
	switch f := f.(type) {
	case *Welcome:
		return f == nil
	case *Error:
		return f == nil
	case *Presence:
		return f == nil
	case *Reconnect:
		return f == nil
	case *Hello:
		return f == nil
	case *Sub:
		return f == nil
	case *Unsub:
		return f == nil
	case *Subs:
		return f == nil
	case *Refresh:
		return f == nil
	case *Refreshed:
		return f == nil
	}
	return false
}

// AppendReceipt appends r as a receipt frame, as AppendEncode does, without
// reflection: receipts answer every message a device sends and every delivery
// over an edge link. A nil Results is written as null.
func AppendReceipt(dst []byte, r *Receipt) []byte {
	dst = append(dst, `{"t":"receipt","id":`...)
	dst = AppendString(dst, r.ID)
	dst = append(dst, `,"results":`...)
	if r.Results == nil {
		return append(dst, "null}"...)
	}
	dst = append(dst, '[')
	for i := range r.Results {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = AppendResult(dst, &r.Results[i])
	}
	return append(dst, "]}"...)
}

// AppendResult appends r as the JSON object of one result, with the field
// names and omitempty rule of its struct tags.
func AppendResult(dst []byte, r *Result) []byte {
	dst = append(dst, `{"device":`...)
	dst = AppendString(dst, r.Device)
	dst = append(dst, `,"status":`...)
	dst = AppendString(dst, string(r.Status))
	if r.Error != "" {
		dst = append(dst, `,"error":`...)
		dst = AppendString(dst, r.Error)
	}
	return append(dst, '}')
}

// msgSize estimates the encoding of m, so that Encode allocates once.
func msgSize(m *Msg) int {
	n := 64 + len(m.ID) + len(m.Type) + len(m.Topic) + len(m.Payload)
	if m.From != nil {
		n += 32 + len(m.From.Device) + len(m.From.Service)
	}
	if m.To != nil {
		n += 32 + len(m.To.Device)
		for _, d := range m.To.Devices {
			n += 3 + len(d)
		}
	}
	return n + n/8 // room for a few escapes
}

// appendMsg is the hot path: it writes the fields of Msg in struct order with the
// same omitempty rules as encoding/json, without reflection.
func appendMsg(dst []byte, m *Msg) ([]byte, error) {
	if need := msgSize(m); cap(dst)-len(dst) < need {
		dst = append(make([]byte, 0, len(dst)+need), dst...)
	}
	out, err := AppendMsgFields(append(dst, `{"t":"msg"`...), m)
	if err != nil {
		return dst, err
	}
	return out, nil
}

// AppendMsgFields appends the fields of m's msg frame that follow "t", each
// preceded by a comma, and the closing brace. A frame that carries fields of its
// own, such as a msg on an edge link, writes its opening brace, "t" and those
// fields and then calls it. On error dst is returned unchanged.
func AppendMsgFields(dst []byte, m *Msg) ([]byte, error) {
	payload := []byte(m.Payload)
	if len(payload) == 0 {
		payload = []byte("null")
	} else if !m.payloadValid && !json.Valid(payload) {
		return dst, errors.New("protocol: encode msg: payload is not valid JSON")
	}
	out := dst
	if m.ID != "" {
		out = append(out, `,"id":`...)
		out = AppendString(out, m.ID)
	}
	out = append(out, `,"type":`...)
	out = AppendString(out, m.Type)
	if m.From != nil {
		out = append(out, `,"from":{`...)
		sep := false
		if m.From.Device != "" {
			out = append(out, `"device":`...)
			out = AppendString(out, m.From.Device)
			sep = true
		}
		if m.From.Service != "" {
			if sep {
				out = append(out, ',')
			}
			out = append(out, `"service":`...)
			out = AppendString(out, m.From.Service)
		}
		out = append(out, '}')
	}
	if m.To != nil {
		out = append(out, `,"to":{`...)
		sep := false
		if m.To.Device != "" {
			out = append(out, `"device":`...)
			out = AppendString(out, m.To.Device)
			sep = true
		}
		if len(m.To.Devices) > 0 {
			if sep {
				out = append(out, ',')
			}
			out = append(out, `"devices":[`...)
			for i, d := range m.To.Devices {
				if i > 0 {
					out = append(out, ',')
				}
				out = AppendString(out, d)
			}
			out = append(out, ']')
			sep = true
		}
		if m.To.Siblings {
			if sep {
				out = append(out, ',')
			}
			out = append(out, `"siblings":true`...)
		}
		out = append(out, '}')
	}
	if m.Topic != "" {
		out = append(out, `,"topic":`...)
		out = AppendString(out, m.Topic)
	}
	if m.TS != 0 {
		out = append(out, `,"ts":`...)
		out = strconv.AppendInt(out, m.TS, 10)
	}
	if m.TTL != 0 {
		out = append(out, `,"ttl":`...)
		out = strconv.AppendInt(out, int64(m.TTL), 10)
	}
	if m.Ack {
		out = append(out, `,"ack":true`...)
	}
	if m.Seq != 0 {
		out = append(out, `,"seq":`...)
		out = strconv.AppendUint(out, m.Seq, 10)
	}
	out = append(out, `,"payload":`...)
	if bytes.ContainsAny(payload, " \t\r\n") {
		// Keep frames on one line (SSE data lines) and small.
		buf := bytes.NewBuffer(out)
		if err := json.Compact(buf, payload); err != nil {
			return dst, fmt.Errorf("protocol: encode msg: %w", err)
		}
		out = buf.Bytes()
	} else {
		out = append(out, payload...)
	}
	return append(out, '}'), nil
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// with encoding/json; U+2028 and U+2029 are escaped so the output is safe in
// JavaScript. Unlike encoding/json it leaves <, > and & alone, as the frames of
// this package do.
func AppendString(dst []byte, s string) []byte { return appendString(dst, s, false) }

// AppendHTMLString is AppendString that also escapes <, > and &, so that the
// output is byte for byte what encoding/json writes for s.
func AppendHTMLString(dst []byte, s string) []byte { return appendString(dst, s, true) }

func appendString(dst []byte, s string, html bool) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && (!html || c != '<' && c != '>' && c != '&') {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
