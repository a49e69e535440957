package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// allKinds lists every kind with a zero frame of its struct.
var allKinds = []struct {
	kind  Kind
	frame Frame
}{
	{KindWelcome, &Welcome{}},
	{KindMsg, &Msg{}},
	{KindReceipt, &Receipt{}},
	{KindError, &Error{}},
	{KindPresence, &Presence{}},
	{KindReconnect, &Reconnect{}},
	{KindHello, &Hello{}},
	{KindAck, &Ack{}},
	{KindRefresh, &Refresh{}},
	{KindRefreshed, &Refreshed{}},
}

// jsonEqual reports whether a and b are the same JSON value.
func jsonEqual(tb testing.TB, a, b []byte) bool {
	tb.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		tb.Fatalf("unmarshal %s: %v", a, err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		tb.Fatalf("unmarshal %s: %v", b, err)
	}
	return reflect.DeepEqual(va, vb)
}

func TestGoldenFrames(t *testing.T) {
	for _, k := range allKinds {
		t.Run(string(k.kind), func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "frames", string(k.kind)+".json"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Decode(data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if reflect.TypeOf(f) != reflect.TypeOf(k.frame) {
				t.Fatalf("Decode returned %T, want %T", f, k.frame)
			}
			if f.Kind() != k.kind {
				t.Errorf("Kind() = %q, want %q", f.Kind(), k.kind)
			}
			out, err := Encode(f)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if !jsonEqual(t, data, out) {
				t.Errorf("re-encoded frame differs:\n got %s\nwant %s", out, bytes.TrimSpace(data))
			}
			if want := `{"t":"` + string(k.kind) + `"`; !bytes.HasPrefix(out, []byte(want)) {
				t.Errorf("encoding %s does not start with %s", out, want)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		reason DecodeReason
		kind   Kind
		field  string
		id     string
	}{
		{"empty", ``, ReasonNotObject, "", "", ""},
		{"syntax", `{"t":"ack",`, ReasonNotObject, "", "", ""},
		{"array", `[{"t":"ack","id":"x"}]`, ReasonNotObject, "", "", ""},
		{"string", `"ack"`, ReasonNotObject, "", "", ""},
		{"null", `null`, ReasonNotObject, "", "", ""},
		{"number", ` 42`, ReasonNotObject, "", "", ""},
		{"trailing garbage", `{"t":"ack","id":"x"} x`, ReasonNotObject, "", "", ""},
		{"two objects", `{"t":"ack","id":"x"}{"t":"ack","id":"y"}`, ReasonNotObject, "", "", ""},
		{"binary", "\x00\x01\x02", ReasonNotObject, "", "", ""},
		{"no t", `{"id":"m1"}`, ReasonUnknownKind, "", "t", "m1"},
		{"t not a string", `{"t":5,"id":"m1"}`, ReasonUnknownKind, "", "t", "m1"},
		{"t null", `{"t":null}`, ReasonUnknownKind, "", "t", ""},
		{"unknown t", `{"t":"subscribe","id":"m1"}`, ReasonUnknownKind, "subscribe", "t", "m1"},
		{"msg without type", `{"t":"msg","id":"m1","payload":{}}`, ReasonMissingField, KindMsg, "type", "m1"},
		{"msg with empty type", `{"t":"msg","id":"m1","type":"","payload":{}}`, ReasonMissingField, KindMsg, "type", "m1"},
		{"msg without payload", `{"t":"msg","id":"m1","type":"a.v1"}`, ReasonMissingField, KindMsg, "payload", "m1"},
		{"msg with null payload", `{"t":"msg","id":"m1","type":"a.v1","payload":null}`, ReasonMissingField, KindMsg, "payload", "m1"},
		{"msg to nobody", `{"t":"msg","id":"m1","type":"a.v1","to":{},"payload":{}}`, ReasonMissingField, KindMsg, "to", "m1"},
		{"msg to empty list", `{"t":"msg","id":"m1","type":"a.v1","to":{"devices":[]},"payload":{}}`, ReasonMissingField, KindMsg, "to", "m1"},
		{"msg to two kinds", `{"t":"msg","id":"m1","type":"a.v1","to":{"device":"tv1","siblings":true},"payload":{}}`, ReasonMissingField, KindMsg, "to", "m1"},
		{"msg ttl string", `{"t":"msg","id":"m1","type":"a.v1","ttl":"30","payload":{}}`, ReasonWrongType, KindMsg, "ttl", "m1"},
		{"msg ttl fraction", `{"t":"msg","id":"m1","type":"a.v1","ttl":1.5,"payload":{}}`, ReasonWrongType, KindMsg, "ttl", "m1"},
		{"msg ts overflow", `{"t":"msg","id":"m1","type":"a.v1","ts":1e40,"payload":{}}`, ReasonWrongType, KindMsg, "ts", "m1"},
		{"msg to devices not strings", `{"t":"msg","id":"m1","type":"a.v1","to":{"devices":[1]},"payload":{}}`, ReasonWrongType, KindMsg, "to.devices", "m1"},
		{"msg to a string", `{"t":"msg","id":"m1","type":"a.v1","to":"tv1","payload":{}}`, ReasonWrongType, KindMsg, "to", "m1"},
		{"msg id number", `{"t":"msg","id":7,"type":"a.v1","payload":{}}`, ReasonWrongType, KindMsg, "id", ""},
		{"ack without id", `{"t":"ack"}`, ReasonMissingField, KindAck, "id", ""},
		{"ack id number", `{"t":"ack","id":7}`, ReasonWrongType, KindAck, "id", ""},
		{"ack with bad unknown-to-ack field", `{"t":"ack","to":5}`, ReasonMissingField, KindAck, "id", ""},
		{"welcome without edge", `{"t":"welcome","session":"s","account":"a","device":"d"}`, ReasonMissingField, KindWelcome, "edge", ""},
		{"welcome without session", `{"t":"welcome","account":"a","device":"d","edge":"e"}`, ReasonMissingField, KindWelcome, "session", ""},
		{"receipt without id", `{"t":"receipt","results":[]}`, ReasonMissingField, KindReceipt, "id", ""},
		{"receipt without results", `{"t":"receipt","id":"m1"}`, ReasonMissingField, KindReceipt, "results", "m1"},
		{"receipt result without status", `{"t":"receipt","id":"m1","results":[{"device":"a","status":"acked"},{"device":"b"}]}`, ReasonMissingField, KindReceipt, "results.1.status", "m1"},
		{"receipt result without device", `{"t":"receipt","id":"m1","results":[{"status":"acked"}]}`, ReasonMissingField, KindReceipt, "results.0.device", "m1"},
		{"receipt results object", `{"t":"receipt","id":"m1","results":{}}`, ReasonWrongType, KindReceipt, "results", "m1"},
		{"error without code", `{"t":"error","message":"x"}`, ReasonMissingField, KindError, "code", ""},
		{"presence without device", `{"t":"presence","online":true}`, ReasonMissingField, KindPresence, "device", ""},
		{"presence online string", `{"t":"presence","device":"d","online":"yes"}`, ReasonWrongType, KindPresence, "online", ""},
		{"reconnect without reason", `{"t":"reconnect","after_ms":1}`, ReasonMissingField, KindReconnect, "reason", ""},
		{"hello device string", `{"t":"hello","device":"tv1"}`, ReasonWrongType, KindHello, "device", ""},
		{"hello capabilities", `{"t":"hello","device":{"capabilities":"x"}}`, ReasonWrongType, KindHello, "device.capabilities", ""},
		{"sub without topics", `{"t":"sub","id":"s1"}`, ReasonMissingField, KindSub, "topics", "s1"},
		{"sub with no topic", `{"t":"sub","topics":[]}`, ReasonMissingField, KindSub, "topics", ""},
		{"sub topics string", `{"t":"sub","topics":"news"}`, ReasonWrongType, KindSub, "topics", ""},
		{"unsub without topics", `{"t":"unsub"}`, ReasonMissingField, KindUnsub, "topics", ""},
		{"subs without results", `{"t":"subs","id":"s1"}`, ReasonMissingField, KindSubs, "results", "s1"},
		{"subs result without status", `{"t":"subs","results":[{"topic":"news"}]}`, ReasonMissingField, KindSubs, "results.0.status", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode([]byte(tt.in))
			if err == nil {
				t.Fatalf("Decode(%s) = %#v, want an error", tt.in, f)
			}
			if f != nil {
				t.Errorf("Decode returned a frame %#v with its error", f)
			}
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T %v is not a *DecodeError", err, err)
			}
			if de.Reason != tt.reason || de.Kind != tt.kind || de.Field != tt.field || de.ID != tt.id {
				t.Errorf("got reason=%q kind=%q field=%q id=%q, want %q %q %q %q (%v)",
					de.Reason, de.Kind, de.Field, de.ID, tt.reason, tt.kind, tt.field, tt.id, err)
			}
			if !strings.HasPrefix(err.Error(), "protocol: ") {
				t.Errorf("Error() = %q", err)
			}
		})
	}
}

func TestDecodeErrorMessage(t *testing.T) {
	_, err := Decode([]byte(`{"t":"msg","payload":{}}`))
	if got, want := err.Error(), `protocol: msg: missing field "type"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err = Decode([]byte(`{"t":"nope"}`))
	if got, want := err.Error(), `protocol: unknown frame kind "nope"`; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	_, err = Decode([]byte(`{"t":"ack","id":1}`))
	var te *json.UnmarshalTypeError
	if !errors.As(err, &te) {
		t.Errorf("wrong_type error %v does not unwrap to *json.UnmarshalTypeError", err)
	}
}

func TestDecodeValid(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		in   string
		want Frame
	}{
		{"unknown fields ignored", `{"t":"ack","id":"m1","extra":{"deep":[1,2]},"v":2}`, &Ack{ID: "m1"}},
		{"whitespace around", " \n\t{\"t\":\"ack\",\"id\":\"m1\"}\r\n", &Ack{ID: "m1"}},
		{"t not first", `{"id":"m1","t":"ack"}`, &Ack{ID: "m1"}},
		{"device msg to one", `{"t":"msg","id":"m1","type":"playback.control.v1","to":{"device":"tv1"},"ttl":30,"ack":true,"payload":{"action":"pause"}}`,
			&Msg{ID: "m1", Type: "playback.control.v1", To: &Target{Device: "tv1"}, TTL: 30, Ack: true, Payload: json.RawMessage(`{"action":"pause"}`)}},
		{"device msg to several", `{"t":"msg","type":"a.v1","to":{"devices":["tv1","tab1"]},"payload":1}`,
			&Msg{Type: "a.v1", To: &Target{Devices: []string{"tv1", "tab1"}}, Payload: json.RawMessage(`1`)}},
		{"device msg to siblings", `{"t":"msg","type":"a.v1","to":{"siblings":true},"payload":"x","unknown":null}`,
			&Msg{Type: "a.v1", To: &Target{Siblings: true}, Payload: json.RawMessage(`"x"`)}},
		{"service msg", `{"t":"msg","id":"m1","type":"a.v1","from":{"service":"billing"},"ts":5,"payload":{}}`,
			&Msg{ID: "m1", Type: "a.v1", From: &Sender{Service: "billing"}, TS: 5, Payload: json.RawMessage(`{}`)}},
		{"empty receipt", `{"t":"receipt","id":"m1","results":[]}`, &Receipt{ID: "m1", Results: []Result{}}},
		{"empty hello", `{"t":"hello"}`, &Hello{}},
		{"sub", `{"t":"sub","id":"s1","topics":["news.sports","scores.*"]}`, &Sub{ID: "s1", Topics: []string{"news.sports", "scores.*"}}},
		{"unsub", `{"t":"unsub","topics":["news.sports"]}`, &Unsub{Topics: []string{"news.sports"}}},
		{"subs", `{"t":"subs","id":"s1","results":[{"topic":"news","status":"subscribed"},{"topic":"","status":"invalid"}]}`,
			&Subs{ID: "s1", Results: []TopicResult{{Topic: "news", Status: TopicSubscribed}, {Status: TopicInvalid}}}},
		{"topic msg", `{"t":"msg","id":"m1","type":"a.v1","from":{"service":"billing"},"topic":"news.sports","ts":5,"payload":{}}`,
			&Msg{ID: "m1", Type: "a.v1", From: &Sender{Service: "billing"}, Topic: "news.sports", TS: 5, Payload: json.RawMessage(`{}`)}},
		{"hello presence only", `{"t":"hello","presence":true}`, &Hello{Presence: &yes}},
		{"rejected result", `{"t":"receipt","id":"m1","results":[{"device":"x","status":"rejected","error":"forbidden"}]}`,
			&Receipt{ID: "m1", Results: []Result{{Device: "x", Status: StatusRejected, Error: "forbidden"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.in))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode = %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	no := false
	frames := []Frame{
		&Welcome{Session: "s1", Account: "a1", Device: "tv1", Edge: "edge-1", PingMS: 30000, LifetimeMS: 1, ServerTime: 2},
		&Msg{ID: "m1", Type: "a.b.v1", From: &Sender{Device: "phone1"}, TS: 1, TTL: 2, Ack: true, Payload: json.RawMessage(`{"a":[1,"x"]}`)},
		&Msg{Type: "a.v1", To: &Target{Devices: []string{"a", "b\"c"}}, Payload: json.RawMessage(`[true,false]`)},
		&Receipt{ID: "m1", Results: []Result{{Device: "tv1", Status: StatusAcked}, {Device: "x", Status: StatusRejected, Error: "forbidden"}}},
		&Error{Re: "m1", Code: CodeSchemaInvalid, Message: "bad", Details: []Detail{{Pointer: "", Message: "root"}, {Pointer: "/a/0", Message: "x"}}},
		&Presence{Device: "tv1", Online: false, TS: 9},
		&Reconnect{AfterMS: 2500, Reason: ReasonDrain},
		&Hello{Device: &DeviceInfo{Platform: "web", Capabilities: []string{"a"}}, Presence: &no},
		&Hello{},
		&Ack{ID: "m1"},
	}
	for _, f := range frames {
		t.Run(string(f.Kind()), func(t *testing.T) {
			b, err := Encode(f)
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatalf("Decode(%s): %v", b, err)
			}
			if !reflect.DeepEqual(got, f) {
				t.Errorf("round trip of %s:\n got %#v\nwant %#v", b, got, f)
			}
			std, err := json.Marshal(f)
			if err != nil {
				t.Fatal(err)
			}
			std = append([]byte(`{"t":"`+string(f.Kind())+`",`), std[1:]...)
			if len(std) == len(`{"t":"hello",}`) {
				std = []byte(`{"t":"hello"}`)
			}
			if !jsonEqual(t, b, std) {
				t.Errorf("Encode = %s, encoding/json gives %s", b, std)
			}
		})
	}
}

func TestEncodeMsgMatchesEncodingJSON(t *testing.T) {
	strs := []string{"", "plain", "quote\" back\\slash", "ctl\x00\x01\x1f\n\r\t", "<html>&", "é✓😀", "bad\xffutf8\xc3", "line\u2028sep\u2029"}
	for _, s := range strs {
		m := &Msg{ID: s, Type: s, From: &Sender{Device: s, Service: s}, To: &Target{Device: s, Devices: []string{s, s}, Siblings: true},
			TS: -5, TTL: 7, Seq: 1<<63 + 9, Payload: json.RawMessage(" { \"k\" :\n [1, 2] } ")}
		got, err := Encode(m)
		if err != nil {
			t.Fatalf("Encode: %v", err)
		}
		std, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		std = append([]byte(`{"t":"msg",`), std[1:]...)
		if !jsonEqual(t, got, std) {
			t.Errorf("Encode(%q) = %s, encoding/json gives %s", s, got, std)
		}
		if bytes.ContainsAny(got, "\n\r") {
			t.Errorf("Encode(%q) = %q spans lines", s, got)
		}
	}
}

func TestEncodeErrors(t *testing.T) {
	tests := []struct {
		name string
		f    Frame
	}{
		{"nil", nil},
		{"nil msg", (*Msg)(nil)},
		{"nil ack", (*Ack)(nil)},
		{"nil welcome", (*Welcome)(nil)},
		{"bad payload", &Msg{Type: "a.v1", Payload: json.RawMessage(`{"a":`)}},
		{"payload followed by more", &Msg{Type: "a.v1", Payload: json.RawMessage(`{} {}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := []byte("keep")
			out, err := AppendEncode(dst, tt.f)
			if err == nil {
				t.Fatalf("AppendEncode = %s, want an error", out)
			}
			if string(out) != "keep" {
				t.Errorf("AppendEncode changed dst to %q on error", out)
			}
		})
	}
}

func TestAppendEncodeAppends(t *testing.T) {
	buf := []byte("prefix:")
	buf, err := AppendEncode(buf, &Ack{ID: "a"})
	if err != nil {
		t.Fatal(err)
	}
	buf, err = AppendEncode(buf, &Reconnect{Reason: "drain"})
	if err != nil {
		t.Fatal(err)
	}
	if want := `prefix:{"t":"ack","id":"a"}{"t":"reconnect","after_ms":0,"reason":"drain"}`; string(buf) != want {
		t.Errorf("got %s, want %s", buf, want)
	}
	if b, _ := Encode(&Msg{Type: "a.v1"}); string(b) != `{"t":"msg","type":"a.v1","payload":null}` {
		t.Errorf("Encode of a msg without payload = %s", b)
	}
}
