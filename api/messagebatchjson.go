package api

import (
	"encoding/json"
	"strconv"

	"github.com/heraldpush/herald/plainjson"
	"github.com/heraldpush/herald/protocol"
)

// decodeBatchRequest decodes the body of POST /v1/messages/batch into req in
// one pass, as encoding/json and messageBatchFields.check do together, and
// reports whether both would take it: plainly (decodeMessageBatch) when the
// body is in the plain form, else with encoding/json and the check. texts
// are the keyed messages' own JSON texts when it was read plainly
// (decodeMessageBatch), and nil when not.
func decodeBatchRequest(body []byte, req *MessageBatchRequest) (texts [][]byte, ok bool) {
	if texts, ok := decodeMessageBatch(body, req); ok {
		return texts, true
	}
	*req = MessageBatchRequest{} // what the plain read set before it gave up
	return nil, json.Unmarshal(body, req) == nil && messageBatchFields.check(body) == nil
}

// decodeMessageBatch decodes body into req as encoding/json would, for a
// body in the plain form (package plainjson) whose members are all named
// exactly as messageBatchFields has them, once each, with no null but a
// payload's or a device's. It reports false, req then partly set, for any
// other body. texts[i] is message i's own JSON text, as encoding/json would
// give it as a json.RawMessage, for every message from the first with an
// idempotency key (what the key is bound to) on; texts is nil when no
// message has a key, and the messages before the first have none.
// FuzzDecodeMessageBatch holds it to encoding/json.
//
// Each message's payload and text are parts of body, which must not change
// while req is in use.
func decodeMessageBatch(body []byte, req *MessageBatchRequest) (texts [][]byte, ok bool) {
	r := plainjson.New(body)
	var (
		seen     bool
		lastType string
	)
	ok = r.Object(func(name []byte) bool {
		if string(name) != "messages" || seen {
			return false
		}
		seen = true
		req.Messages = make([]MessageBatchItem, 0, 8)
		return r.Array(func() bool {
			req.Messages = append(req.Messages, MessageBatchItem{})
			m := &req.Messages[len(req.Messages)-1]
			text, ok := r.Text(func() bool { return decodeBatchItem(&r, m, &lastType) })
			if !ok {
				return false
			}
			if texts == nil && m.IdempotencyKey != "" {
				texts = make([][]byte, len(req.Messages)-1, cap(req.Messages))
			}
			if texts != nil {
				texts = append(texts, text[:len(text):len(text)])
			}
			return true
		})
	})
	if !ok || !seen || !r.End() {
		return nil, false
	}
	return texts, true
}

// The members of a MessageBatchItem, as indexes of the plainjson.Seen of
// decodeBatchItem.
const (
	itemTo uint = iota
	itemType
	itemPayload
	itemAck
	itemPriority
	itemTTL
	itemCollapseKey
	itemIdempotencyKey
)

// decodeBatchItem reads one message of a batch into m. lastType is the type
// of the message before, whose string a message of the same type shares.
func decodeBatchItem(r *plainjson.Reader, m *MessageBatchItem, lastType *string) bool {
	var seen plainjson.Seen
	return r.Object(func(name []byte) bool {
		var (
			bit uint
			ok  bool
			s   []byte
		)
		switch string(name) {
		case "to":
			bit, ok = itemTo, decodeTarget(r, &m.To)
		case "type":
			bit = itemType
			if s, ok = r.String(); ok {
				if string(s) != *lastType {
					*lastType = string(s)
				}
				m.Type = *lastType
			}
		case "payload":
			bit, ok = itemPayload, true
			if !r.Null() {
				s, ok = r.Raw()
				m.Payload = jsonRaw(s[:len(s):len(s)])
			}
		case "ack":
			bit = itemAck
			var v bool
			if v, ok = r.Bool(); ok {
				m.Ack = &v
			}
		case "priority":
			bit = itemPriority
			if s, ok = r.String(); ok {
				m.Priority = protocol.PriorityOf(s)
			}
		case "ttl":
			bit = itemTTL
			var n int64
			if n, ok = r.Int(strconv.IntSize); ok {
				v := int(n)
				m.TTL = &v
			}
		case "collapse_key":
			bit = itemCollapseKey
			if s, ok = r.String(); ok {
				m.CollapseKey = string(s)
			}
		case "idempotency_key":
			bit = itemIdempotencyKey
			if s, ok = r.String(); ok {
				m.IdempotencyKey = string(s)
			}
		default:
			// A member no field takes, or a name in another case (which
			// encoding/json matches): for the slow path.
			return false
		}
		return ok && seen.First(bit)
	})
}

// decodeTarget reads the "to" of a message: an account and, maybe, a device
// (null is TargetDevice's named empty device).
func decodeTarget(r *plainjson.Reader, t *PushTarget) bool {
	var seen plainjson.Seen
	return r.Object(func(name []byte) bool {
		var bit uint
		ok := true
		switch string(name) {
		case "account":
			bit = 0
			var s []byte
			if s, ok = r.String(); ok {
				t.Account = string(s)
			}
		case "device":
			bit = 1
			t.Device = TargetDevice{Named: true}
			if !r.Null() {
				var s []byte
				if s, ok = r.String(); ok {
					t.Device.ID = string(s)
				}
			}
		default:
			return false
		}
		return ok && seen.First(bit)
	})
}
