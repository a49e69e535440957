package processor

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

func TestAppendMessageMatchesEncodingJSON(t *testing.T) {
	full := Message{ID: "01J0ID", Account: "acc", Device: "dev", Type: "chat.v1", Payload: json.RawMessage(`{"a":[1,2],"b":"x"}`),
		From: "svc", Priority: protocol.PriorityHigh, Ack: true, CollapseKey: "k", Accepted: 1700000000000, Expires: 1700000060000}
	tests := []struct {
		name string
		m    Message
	}{
		{"every field", full},
		{"only the required", Message{ID: "i", Account: "a", Type: "t", Payload: json.RawMessage(`1`), Priority: protocol.PriorityNormal, Accepted: 1}},
		{"to a topic", Message{ID: "i", Topic: "news/eu", Type: "t", Payload: json.RawMessage(`"s"`), Priority: protocol.PriorityLow, Accepted: 1}},
		{"escapes in strings", Message{ID: "<i>", Account: "a&b", Device: "d\"e", Type: "t\u2028", Payload: json.RawMessage(`{}`), From: "f\\g", Priority: "p\n", CollapseKey: "é", Accepted: -5}},
		{"payload with spaces", Message{ID: "i", Account: "a", Type: "t", Payload: json.RawMessage(`{ "a" : 1 }`), Priority: protocol.PriorityNormal, Accepted: 1}},
		{"payload with spaces in its strings", Message{ID: "i", Account: "a", Type: "t", Payload: json.RawMessage(`{"a":"2-1 in the \"89th\" minute"}`), Priority: protocol.PriorityNormal, Accepted: 1}},
		{"payload with html", Message{ID: "i", Account: "a", Type: "t", Payload: json.RawMessage(`{"a":"<b>&"}`), Priority: protocol.PriorityNormal, Accepted: 1}},
		{"payload with a line separator", Message{ID: "i", Account: "a", Type: "t", Payload: json.RawMessage("\"\u2028\""), Priority: protocol.PriorityNormal, Accepted: 1}},
		{"payload with other UTF-8", Message{ID: "i", Account: "a", Type: "t", Payload: json.RawMessage(`"€ and ü"`), Priority: protocol.PriorityNormal, Accepted: 1}},
		{"empty payload", Message{ID: "i", Account: "a", Type: "t", Priority: protocol.PriorityNormal, Accepted: 1}},
		{"zero message", Message{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want, err := json.Marshal(&tt.m)
			if err != nil {
				t.Fatal(err)
			}
			got, err := appendMessage(nil, &tt.m)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("appendMessage:\n got %s\nwant %s", got, want)
			}
		})
	}
	t.Run("plain payloads are written as they are", func(t *testing.T) {
		for _, p := range []string{`{"title":"Goal","body":"2-1 in the 89th minute"}`, `"a \" b"`, `[1,{"x":"y z"}]`} {
			if !plainPayload(json.RawMessage(p)) {
				t.Errorf("plainPayload(%s) = false", p)
			}
		}
		for _, p := range []string{`{"a": 1}`, `{"a":"<"}`, "\"\u2028\"", `{"a":`} {
			if plainPayload(json.RawMessage(p)) {
				t.Errorf("plainPayload(%s) = true", p)
			}
		}
	})
	t.Run("invalid payload", func(t *testing.T) {
		m := full
		m.Payload = json.RawMessage(`{"a":`)
		if _, err := appendMessage(nil, &m); err == nil {
			t.Error("a payload that is not JSON was encoded")
		}
	})
}

func FuzzAppendMessage(f *testing.F) {
	f.Add("01J0ID", "acc", "", "chat.v1", `{"a":1}`, "svc", "normal", false, "", int64(1), int64(0))
	f.Add("i", "", "", "t", `{ "a" : "<&>" }`, "", "high", true, "k", int64(-1), int64(9))
	f.Add("\u2029", "a", "d", "t", "\"\u2028\"", "", "low", false, "", int64(0), int64(0))
	f.Fuzz(func(t *testing.T, id, account, device, typ, payload, from, prio string, ack bool, collapse string, accepted, expires int64) {
		m := Message{ID: id, Account: account, Device: device, Type: typ, Payload: json.RawMessage(payload), From: from,
			Priority: protocol.Priority(prio), Ack: ack, CollapseKey: collapse, Accepted: accepted, Expires: expires}
		want, werr := json.Marshal(&m)
		got, gerr := appendMessage(nil, &m)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("encoding/json error %v, appendMessage error %v", werr, gerr)
		}
		if werr == nil && !bytes.Equal(got, want) {
			t.Fatalf("appendMessage:\n got %s\nwant %s", got, want)
		}
	})
}
