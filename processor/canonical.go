package processor

import (
	"encoding/json"
	"strconv"
	"unicode/utf8"

	"github.com/heraldpush/herald/protocol"
)

// The records of the message and status topics are written by Herald with
// encoding/json (a Message) or the appender of event.go (an Event): an object
// without whitespace, strings without escapes (in the common case), numbers
// that are integers. Decoding them with encoding/json's reflection was about a
// tenth of the CPU of a processor draining a backlog. readCanonical reads that
// form directly and refuses everything else, which the caller then decodes with
// encoding/json, so that the result is always what encoding/json makes of the
// record (FuzzDecodeMessage and FuzzDecodeEvent hold it to that).

// canonicalKind is the kind of a member's value that readCanonical passes on.
type canonicalKind uint8

const (
	kindString canonicalKind = iota // val is the string's bytes, without quotes
	kindInt                         // val is an integer: -?[1-9][0-9]* or 0
	kindBool                        // val is true or false
	kindRaw                         // val is an object or an array, valid JSON
)

// readCanonical reads the JSON object b member by member and calls set with
// each one's name, value and kind, in order; set returns false for a member it
// does not take. It returns false, having stopped, when b is not in the
// canonical form: whitespace anywhere, a string with an escape, a control
// character or invalid UTF-8, a null, a number that is not an integer, a
// member set refused, or anything not JSON. A string value the caller keeps
// must be copied (string(val) does).
func readCanonical(b []byte, set func(name, val []byte, kind canonicalKind) bool) bool {
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return false
	}
	i := 1
	if b[i] == '}' {
		return i == len(b)-1
	}
	for {
		name, n := canonicalString(b, i)
		if n < 0 || n >= len(b) || b[n] != ':' {
			return false
		}
		i = n + 1
		if i >= len(b) {
			return false
		}
		var (
			val  []byte
			kind canonicalKind
		)
		switch c := b[i]; {
		case c == '"':
			val, n = canonicalString(b, i)
			kind = kindString
		case c == '-' || c >= '0' && c <= '9':
			n = i
			if b[n] == '-' {
				n++
			}
			start := n
			for n < len(b) && b[n] >= '0' && b[n] <= '9' {
				n++
			}
			if n == start || b[start] == '0' && n-start > 1 {
				return false
			}
			val, kind = b[i:n], kindInt
		case c == 't' && len(b) >= i+4 && string(b[i:i+4]) == "true":
			val, n, kind = b[i:i+4], i+4, kindBool
		case c == 'f' && len(b) >= i+5 && string(b[i:i+5]) == "false":
			val, n, kind = b[i:i+5], i+5, kindBool
		case c == '{' || c == '[':
			n = skipComposite(b, i)
			if n < 0 || !json.Valid(b[i:n]) {
				return false
			}
			val, kind = b[i:n], kindRaw
		default:
			return false
		}
		if n < 0 || n >= len(b) || !set(name, val, kind) {
			return false
		}
		switch b[n] {
		case ',':
			i = n + 1
		case '}':
			return n == len(b)-1
		default:
			return false
		}
	}
}

// canonicalString reads the string that starts at b[i] and returns its bytes
// and the index past its closing quote, or -1 when it is not a plain string
// (an escape, a control character, invalid UTF-8, no end).
func canonicalString(b []byte, i int) ([]byte, int) {
	if i >= len(b) || b[i] != '"' {
		return nil, -1
	}
	ascii := true
	for j := i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			s := b[i+1 : j]
			if !ascii && !utf8.Valid(s) {
				return nil, -1
			}
			return s, j + 1
		case c == '\\' || c < 0x20:
			return nil, -1
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return nil, -1
}

// skipComposite returns the index past the object or array that starts at
// b[i], if it is balanced, else -1; whether it is valid JSON is for the
// caller to check.
func skipComposite(b []byte, i int) int {
	depth := 0
	for j := i; j < len(b); j++ {
		switch b[j] {
		case '"':
			for j++; j < len(b) && b[j] != '"'; j++ {
				if b[j] == '\\' {
					j++
				}
			}
			if j >= len(b) {
				return -1
			}
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return j + 1
			}
		}
	}
	return -1
}

// canonicalInt parses an integer value of readCanonical, or reports that it
// is out of int64's range (which encoding/json refuses too).
func canonicalInt(val []byte) (int64, bool) {
	n, err := strconv.ParseInt(string(val), 10, 64)
	return n, err == nil
}

// decodeCanonicalMessage decodes a message record in the canonical form into
// m, reporting false (m then partly set) when v is not in it.
//
// The message's strings are cut from one copy of v, one allocation for all of
// them, and its payload is v's own bytes: v must not change afterwards.
func decodeCanonicalMessage(v []byte, m *Message) bool {
	var seen uint16
	text := string(v)
	// str returns val, which readCanonical cut from v, as a part of text.
	str := func(val []byte) string {
		off := cap(v) - cap(val)
		return text[off : off+len(val)]
	}
	return readCanonical(v, func(name, val []byte, kind canonicalKind) bool {
		var bit uint16
		ok := true
		switch string(name) {
		case "id":
			bit, ok = 1<<0, kind == kindString
			m.ID = str(val)
		case "account":
			bit, ok = 1<<1, kind == kindString
			m.Account = str(val)
		case "device":
			bit, ok = 1<<2, kind == kindString
			m.Device = str(val)
		case "topic":
			bit, ok = 1<<3, kind == kindString
			m.Topic = str(val)
		case "type":
			bit, ok = 1<<4, kind == kindString
			m.Type = str(val)
		case "payload":
			// Any JSON value but null, which encoding/json would keep as
			// the bytes "null" and readCanonical does not pass on.
			bit = 1 << 5
			off, end := cap(v)-cap(val), cap(v)-cap(val)+len(val)
			if kind == kindString {
				off, end = off-1, end+1 // with its quotes
			}
			m.Payload = json.RawMessage(v[off:end:end])
		case "from":
			bit, ok = 1<<6, kind == kindString
			m.From = str(val)
		case "priority":
			bit, ok = 1<<7, kind == kindString
			m.Priority = priorityOf(val)
		case "ack":
			bit, ok = 1<<8, kind == kindBool
			m.Ack = val[0] == 't'
		case "collapse_key":
			bit, ok = 1<<9, kind == kindString
			m.CollapseKey = str(val)
		case "accepted":
			bit = 1 << 10
			m.Accepted, ok = canonicalInt(val)
			ok = ok && kind == kindInt
		case "expires":
			bit = 1 << 11
			m.Expires, ok = canonicalInt(val)
			ok = ok && kind == kindInt
		default:
			return false // another member, or a name in another case
		}
		if !ok || seen&bit != 0 {
			return false // a wrong type is encoding/json's error; a second time its rule
		}
		seen |= bit
		return true
	})
}

// decodeCanonicalEvent decodes a status record in the canonical form into e,
// reporting false (e then partly set) when v is not in it; an event with
// published is left to encoding/json.
func decodeCanonicalEvent(v []byte, e *Event) bool {
	var seen uint16
	return readCanonical(v, func(name, val []byte, kind canonicalKind) bool {
		var bit uint16
		ok := kind == kindString
		switch string(name) {
		case "id":
			bit = 1 << 0
			e.ID = string(val)
		case "account":
			bit = 1 << 1
			e.Account = string(val)
		case "device":
			bit = 1 << 2
			e.Device = string(val)
		case "topic":
			bit = 1 << 3
			e.Topic = string(val)
		case "status":
			bit = 1 << 4
			e.Status = outcomeOf(val)
		case "error":
			bit = 1 << 5
			e.Error = string(val)
		case "priority":
			bit = 1 << 6
			e.Priority = priorityOf(val)
		case "at":
			bit = 1 << 7
			e.At, ok = canonicalInt(val)
			ok = ok && kind == kindInt
		case "expires":
			bit = 1 << 8
			e.Expires, ok = canonicalInt(val)
			ok = ok && kind == kindInt
		default:
			return false // published, another member, or a name in another case
		}
		if !ok || seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	})
}

// priorityOf returns the priority named val without allocating for the
// three known ones.
func priorityOf(val []byte) protocol.Priority {
	for _, p := range [...]protocol.Priority{protocol.PriorityHigh, protocol.PriorityNormal, protocol.PriorityLow} {
		if string(val) == string(p) {
			return p
		}
	}
	return protocol.Priority(val)
}

// outcomeOf returns the outcome named val without allocating for the known
// ones (metrics.go's outcomes).
func outcomeOf(val []byte) Outcome {
	for _, o := range outcomes {
		if string(val) == string(o) {
			return o
		}
	}
	return Outcome(val)
}
