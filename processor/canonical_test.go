package processor

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// canonicalSeeds are records as Herald writes them and near misses that the
// canonical readers must leave to encoding/json.
func canonicalSeeds(f *testing.F) {
	for _, m := range []Message{
		{ID: "01J0", Account: "a1", Device: "tv1", Type: "notification.v1", Payload: json.RawMessage(`{"title":"t","n":[1,2.5,{"x":null}]}`), From: "billing", Priority: protocol.PriorityHigh, Ack: true, CollapseKey: "c", Accepted: 1733500000000, Expires: 1733500060000},
		{ID: "01J1", Topic: "news.sports", Type: "t", Payload: json.RawMessage(`"just a string"`), Priority: protocol.PriorityLow, Accepted: 1},
		{ID: "01J2", Account: "a<&>", Type: "t", Payload: json.RawMessage(`[]`), Priority: "urgent", Accepted: -5},
		{ID: "é\u2028", Account: "a", Type: "t", Payload: json.RawMessage(`{"s":"\"q\" \\ \u00e9"}`), Accepted: 0},
	} {
		b, err := json.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, e := range []Event{
		{ID: "01J0", Account: "a1", Device: "tv1", Status: Delivered, Priority: protocol.PriorityNormal, At: 1733500000000},
		{ID: "01J0", Account: "a1", Status: Failed, Error: "unavailable: \"x\"", At: 1, Expires: 2},
		{ID: "01J0", Topic: "t", Status: Published, Published: &protocol.PublishResult{}, At: 1},
	} {
		b, err := json.Marshal(e)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		`{}`, ` {}`, `{"id":"x" }`, `{"ID":"x"}`, `{"id":"x","id":"y"}`, `{"id":null}`, `{"id":5}`,
		`{"accepted":1e3}`, `{"accepted":01}`, `{"accepted":-0}`, `{"accepted":99999999999999999999}`,
		`{"payload":{"a":"}"}}`, `{"payload":{"a":1}`, `{"payload":{"a":}}`, `{"payload":null}`, `{"payload":true}`, `{"payload":12}`,
		`{"ack":true,"ack":false}`, `{"ack":"true"}`, `{"id":"a\u0000"}`, "{\"id\":\"\xff\"}", `{"id":"x"}x`, `{"id":"x",}`, `[]`, ``,
		`{"status":"delivered","at":1,"published":{"edges":1}}`, `{"status":"nope","at":1}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecodeMessage holds decodeCanonicalMessage to encoding/json: whatever it
// accepts decodes to what json.Unmarshal makes of it.
func FuzzDecodeMessage(f *testing.F) {
	canonicalSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		var fast Message
		if !decodeCanonicalMessage(b, &fast) {
			return
		}
		var slow Message
		if err := json.Unmarshal(b, &slow); err != nil {
			t.Fatalf("canonical reader took %q, which encoding/json refuses: %v", b, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Fatalf("record %q:\ncanonical    %+v\nencoding/json %+v", b, fast, slow)
		}
	})
}

// FuzzDecodeEvent holds decodeEvent to encoding/json.
func FuzzDecodeEvent(f *testing.F) {
	canonicalSeeds(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := decodeEvent(b)
		var want Event
		wantErr := json.Unmarshal(b, &want)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("record %q: error %v, encoding/json's %v", b, err, wantErr)
		}
		if err == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("record %q:\ndecodeEvent   %+v\nencoding/json %+v", b, got, want)
		}
	})
}

// TestCanonicalTakesHeraldsRecords checks that the records Herald writes are
// read by the canonical readers, not left to encoding/json: otherwise the
// fuzz targets would pass with readers that take nothing.
func TestCanonicalTakesHeraldsRecords(t *testing.T) {
	m := &Message{ID: "01J0", Account: "a1", Device: "tv1", Type: "notification.v1", Payload: json.RawMessage(`{"title":"t"}`),
		From: "billing", Priority: protocol.PriorityHigh, Ack: true, CollapseKey: "c", Accepted: 1733500000000, Expires: 1733500060000}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	var got Message
	if !decodeCanonicalMessage(b, &got) || !reflect.DeepEqual(&got, m) {
		t.Errorf("message record %s: canonical %+v", b, got)
	}
	// A record that another tool wrote with whitespace is in the plain form
	// too.
	indented, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = Message{}
	var want Message
	if err := json.Unmarshal(indented, &want); err != nil {
		t.Fatal(err)
	}
	if !decodeCanonicalMessage(indented, &got) || !reflect.DeepEqual(got, want) {
		t.Errorf("indented message record %s: canonical %+v", indented, got)
	}
	for _, e := range []Event{
		{ID: "01J0", Account: "a1", Status: Queued, Priority: protocol.PriorityNormal, At: 1},
		{ID: "01J0", Account: "a1", Device: "tv1", Status: Failed, Error: "unavailable", Priority: protocol.PriorityLow, At: 1, Expires: 9},
	} {
		v, err := appendEvent(nil, &e)
		if err != nil {
			t.Fatal(err)
		}
		var got Event
		if !decodeCanonicalEvent(v, &got) || got != e {
			t.Errorf("status record %s: canonical %+v", v, got)
		}
	}
}

// BenchmarkDecodeRecords measures the decoding of a message record and a
// status record as Herald writes them (appendMessage, appendEvent).
func BenchmarkDecodeRecords(b *testing.B) {
	msg, err := appendMessage(nil, &Message{ID: "01JEXAMPLE0000000000000000", Account: "account-1", Device: "tv-1",
		Type: "notification.v1", Payload: json.RawMessage(`{"title":"Hello","body":"from Herald","n":[1,2.5]}`),
		From: "billing", Priority: protocol.PriorityNormal, Accepted: 1733500000000})
	if err != nil {
		b.Fatal(err)
	}
	ev, err := appendEvent(nil, &Event{ID: "01JEXAMPLE0000000000000000", Account: "account-1", Device: "tv-1",
		Status: Delivered, Priority: protocol.PriorityNormal, At: 1733500000000})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("message", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeMessage(msg); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("event", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeEvent(ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}
