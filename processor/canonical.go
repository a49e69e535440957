package processor

import (
	"encoding/json"

	"github.com/heraldpush/herald/plainjson"
	"github.com/heraldpush/herald/protocol"
)

// The records of the message and status topics are written by Herald with
// the appenders of messagejson.go and event.go (or, by other tools, with
// encoding/json): objects in the plain form of package plainjson. Decoding
// them with encoding/json's reflection was about a tenth of the CPU of a
// processor draining a backlog. decodeCanonicalMessage and
// decodeCanonicalEvent read that form directly and refuse everything else,
// which the caller then decodes with encoding/json, so that the result is
// always what encoding/json makes of the record (FuzzDecodeMessage and
// FuzzDecodeEvent hold them to that).

// decodeCanonicalMessage decodes a message record in the plain form into m,
// reporting false (m then partly set) when v is not in it, has a member in
// another case or twice, or a null.
//
// The message's strings are cut from one copy of v, one allocation for all of
// them, and its payload is v's own bytes: v must not change afterwards.
func decodeCanonicalMessage(v []byte, m *Message) bool {
	var seen plainjson.Seen
	text := string(v)
	r := plainjson.New(v)
	// str reads a string, which the Reader cuts from v, as a part of text.
	str := func() (string, bool) {
		val, ok := r.String()
		if !ok {
			return "", false
		}
		off := cap(v) - cap(val)
		return text[off : off+len(val)], true
	}
	ok := r.Object(func(name []byte) bool {
		var (
			bit uint
			ok  bool
			val []byte
		)
		switch string(name) {
		case "id":
			bit = 0
			m.ID, ok = str()
		case "account":
			bit = 1
			m.Account, ok = str()
		case "device":
			bit = 2
			m.Device, ok = str()
		case "topic":
			bit = 3
			m.Topic, ok = str()
		case "type":
			bit = 4
			m.Type, ok = str()
		case "payload":
			// Any JSON value but null, which encoding/json would keep as
			// the bytes "null".
			bit = 5
			if !r.Null() {
				val, ok = r.Raw()
				m.Payload = json.RawMessage(val[:len(val):len(val)])
			}
		case "from":
			bit = 6
			m.From, ok = str()
		case "priority":
			bit = 7
			val, ok = r.String()
			m.Priority = protocol.PriorityOf(val)
		case "ack":
			bit = 8
			m.Ack, ok = r.Bool()
		case "collapse_key":
			bit = 9
			m.CollapseKey, ok = str()
		case "accepted":
			bit = 10
			m.Accepted, ok = r.Int(64)
		case "expires":
			bit = 11
			m.Expires, ok = r.Int(64)
		default:
			return false // another member, or a name in another case
		}
		// A wrong type is encoding/json's error; a second time, its rule.
		return ok && seen.First(bit)
	})
	return ok && r.End()
}

// decodeCanonicalEvent decodes a status record in the plain form into e,
// reporting false (e then partly set) when v is not in it; an event with
// published is left to encoding/json.
func decodeCanonicalEvent(v []byte, e *Event) bool {
	var seen plainjson.Seen
	r := plainjson.New(v)
	ok := r.Object(func(name []byte) bool {
		var (
			bit uint
			ok  bool
			val []byte
		)
		switch string(name) {
		case "id":
			bit = 0
			val, ok = r.String()
			e.ID = string(val)
		case "account":
			bit = 1
			val, ok = r.String()
			e.Account = string(val)
		case "device":
			bit = 2
			val, ok = r.String()
			e.Device = string(val)
		case "topic":
			bit = 3
			val, ok = r.String()
			e.Topic = string(val)
		case "status":
			bit = 4
			val, ok = r.String()
			e.Status = outcomeOf(val)
		case "error":
			bit = 5
			val, ok = r.String()
			e.Error = string(val)
		case "priority":
			bit = 6
			val, ok = r.String()
			e.Priority = protocol.PriorityOf(val)
		case "at":
			bit = 7
			e.At, ok = r.Int(64)
		case "expires":
			bit = 8
			e.Expires, ok = r.Int(64)
		default:
			return false // published, another member, or a name in another case
		}
		return ok && seen.First(bit)
	})
	return ok && r.End()
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
