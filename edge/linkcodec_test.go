package edge

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// linkTestMsgs are messages whose link frames the tests round-trip.
var linkTestMsgs = []*protocol.Msg{
	{ID: "m1", Type: "tiny.echo.v1", Payload: json.RawMessage(`{"text":"hi"}`)},
	{ID: "01JD2Z4X7QH8K3M5N6P7R8S9T0", Type: "playback.control.v1", From: &protocol.Sender{Device: "phone1"},
		TS: 1763884800123, TTL: 30, Ack: true, Payload: json.RawMessage(`{"action":"seek","position_ms":120000}`)},
	{ID: "e\"s\\c<a>p&e\u2028\x01é", Type: "t.v1", From: &protocol.Sender{Service: "svc"},
		Payload: json.RawMessage(`[1,-2.5e3,"x\u00e9\n",null,true,{"a":{}},[]]`)},
	{ID: "neg", Type: "t.v1", TS: -5, TTL: -1, From: &protocol.Sender{}, Payload: json.RawMessage(`"s"`)},
	{ID: "nil-payload", Type: "t.v1"},
}

// TestLinkMsgWire holds the link's msg frame to what encoding/json writes and
// reads for linkMsg, so that edges interoperate whichever codec they use.
func TestLinkMsgWire(t *testing.T) {
	var sc linkScanner
	for _, m := range linkTestMsgs {
		t.Run(m.ID, func(t *testing.T) {
			want := linkMsg{T: protocol.KindMsg, Account: "a<1>", WaitMS: 1234, Msg: *m}
			want.To = &protocol.Target{Device: "tv1"}
			got, err := appendLinkMsg(nil, "a<1>", 1234, "tv1", m)
			if err != nil {
				t.Fatal(err)
			}
			// What this edge writes, encoding/json reads as linkMsg ...
			var back linkMsg
			if err := json.Unmarshal(got, &back); err != nil {
				t.Fatalf("json.Unmarshal(%s): %v", got, err)
			}
			if m.Payload == nil {
				want.Payload = json.RawMessage("null")
			}
			if !reflect.DeepEqual(back, want) {
				t.Fatalf("encoding/json reads\n%+v\nwant\n%+v", back, want)
			}
			// ... and what encoding/json writes, this edge reads.
			std, err := json.Marshal(&want)
			if err != nil {
				t.Fatal(err)
			}
			for _, frame := range [][]byte{got, std} {
				var in inMsg
				if err := sc.decodeLinkMsg(frame, &in); err != nil {
					t.Fatalf("decodeLinkMsg(%s): %v", frame, err)
				}
				wm := want.Msg
				wm.To = nil
				if in.Account != want.Account || in.Device != "tv1" || in.WaitMS != want.WaitMS {
					t.Fatalf("decodeLinkMsg(%s) = %+v", frame, in)
				}
				gm := in.Msg
				gm.Payload = compactJSON(t, gm.Payload)
				wm.Payload = compactJSON(t, wm.Payload)
				if !reflect.DeepEqual(gm, wm) {
					t.Fatalf("decodeLinkMsg(%s).Msg =\n%+v\nwant\n%+v", frame, gm, wm)
				}
			}
		})
	}
}

// compactJSON re-encodes b, so that payloads compare by value.
func compactJSON(t *testing.T, b []byte) json.RawMessage {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("payload %s: %v", b, err)
	}
	out, _ := json.Marshal(v)
	return out
}

func TestLinkReceiptWire(t *testing.T) {
	var sc linkScanner
	for _, r := range []protocol.Result{
		{Device: "tv1", Status: protocol.StatusDelivered},
		{Device: "tv\"1\u2028", Status: protocol.StatusRejected, Error: "edge <busy> & \x00"},
		{Device: "d", Status: "some_new_status"},
	} {
		t.Run(string(r.Status), func(t *testing.T) {
			got := appendLinkReceipt(nil, "id-1", &r)
			std, err := protocol.Encode(&protocol.Receipt{ID: "id-1", Results: []protocol.Result{r}})
			if err != nil {
				t.Fatal(err)
			}
			want := protocol.Receipt{ID: "id-1", Results: []protocol.Result{r}}
			var back protocol.Receipt
			if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, want) {
				t.Fatalf("json.Unmarshal(%s) = %+v, %v", got, back, err)
			}
			jm, _ := json.Marshal(want)
			for _, frame := range [][]byte{got, std, jm} {
				var lr linkResult
				if err := sc.decodeLinkReceipt(frame, &lr); err != nil {
					t.Fatalf("decodeLinkReceipt(%s): %v", frame, err)
				}
				res := lr.Result
				res.Device = string(lr.Device)
				if string(lr.ID) != "id-1" || res != r {
					t.Fatalf("decodeLinkReceipt(%s) = %q %+v", frame, lr.ID, res)
				}
			}
		})
	}
}

// TestLinkMalformedFrames checks that bad input on a link is an error, never a
// panic or a frame.
func TestLinkMalformedFrames(t *testing.T) {
	good := `{"t":"msg","account":"a1","wait_ms":5,"id":"m","type":"x.v1","to":{"device":"tv1"},"payload":{}}`
	var sc linkScanner
	var in inMsg
	if err := sc.decodeLinkMsg([]byte(good), &in); err != nil {
		t.Fatalf("good frame: %v", err)
	}
	for _, tc := range []struct{ name, msg string }{
		{"empty", ``},
		{"not an object", `[1]`},
		{"truncated", good[:len(good)-1]},
		{"trailing data", good + `{}`},
		{"wrong kind", strings.Replace(good, `"t":"msg"`, `"t":"ack"`, 1)},
		{"no id", strings.Replace(good, `"id":"m",`, ``, 1)},
		{"no device", strings.Replace(good, `"device":"tv1"`, `"devices":["tv1"]`, 1)},
		{"wait_ms a string", strings.Replace(good, `5`, `"5"`, 1)},
		{"wait_ms a fraction", strings.Replace(good, `5`, `5.5`, 1)},
		{"wait_ms overflows", strings.Replace(good, `5`, `9223372036854775808`, 1)},
		{"ttl overflows", strings.Replace(good, `"wait_ms":5`, `"ttl":99999999999999999999`, 1)},
		{"ack not a bool", strings.Replace(good, `"wait_ms":5`, `"ack":1`, 1)},
		{"bad escape", strings.Replace(good, `"m"`, `"\x"`, 1)},
		{"short unicode escape", strings.Replace(good, `"m"`, `"\u12"`, 1)},
		{"control character", strings.Replace(good, `"m"`, "\"\x01\"", 1)},
		{"unterminated payload", strings.Replace(good, `{}}`, `{"a":[1,2}}`, 1)},
		{"payload bad literal", strings.Replace(good, `{}}`, `nul}`, 1)},
		{"payload bad number", strings.Replace(good, `{}}`, `-}`, 1)},
		{"missing colon", strings.Replace(good, `"type":`, `"type"`, 1)},
		{"deep payload", strings.Replace(good, `{}}`, strings.Repeat("[", maxLinkDepth+1)+"}", 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var in inMsg
			if err := sc.decodeLinkMsg([]byte(tc.msg), &in); err == nil {
				t.Fatalf("decodeLinkMsg(%.80q) = %+v, want an error", tc.msg, in)
			}
		})
	}
	for _, tc := range []struct{ name, receipt string }{
		{"empty", ``},
		{"no results", `{"t":"receipt","id":"m"}`},
		{"null results", `{"t":"receipt","id":"m","results":null}`},
		{"two results", `{"t":"receipt","id":"m","results":[{"device":"a","status":"acked"},{"device":"b","status":"acked"}]}`},
		{"zero results", `{"t":"receipt","id":"m","results":[]}`},
		{"result not an object", `{"t":"receipt","id":"m","results":[1]}`},
		{"status a number", `{"t":"receipt","id":"m","results":[{"device":"a","status":1}]}`},
		{"truncated", `{"t":"receipt","id":"m","results":[{"device":"a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lr linkResult
			if err := sc.decodeLinkReceipt([]byte(tc.receipt), &lr); err == nil {
				t.Fatalf("decodeLinkReceipt(%q) = %+v, want an error", tc.receipt, lr)
			}
		})
	}
}

// FuzzLinkFrame checks that the link decoders never panic, accept only what
// encoding/json accepts as linkMsg, and read it as encoding/json does.
func FuzzLinkFrame(f *testing.F) {
	for _, m := range linkTestMsgs {
		b, _ := appendLinkMsg(nil, "a1", 10, "tv1", m)
		f.Add(b)
	}
	f.Add(appendLinkReceipt(nil, "m", &protocol.Result{Device: "tv1", Status: protocol.StatusAcked}))
	f.Add([]byte(`{"t":"msg","id":"\ud800\udc00\ud800x","to":{"device":"d"},"payload":[{"a":[{}]}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var sc linkScanner
		var lr linkResult
		_ = sc.decodeLinkReceipt(data, &lr)
		var in inMsg
		if err := sc.decodeLinkMsg(data, &in); err != nil {
			return
		}
		var std linkMsg
		if err := json.Unmarshal(data, &std); err != nil {
			if strings.Contains(err.Error(), "cannot unmarshal") {
				return // a field this decoder skips holds the wrong type
			}
			t.Fatalf("decodeLinkMsg accepted %q, which encoding/json refuses: %v", data, err)
		}
		if std.Account != in.Account || std.WaitMS != in.WaitMS || std.ID != in.Msg.ID || std.Type != in.Msg.Type ||
			std.TS != in.Msg.TS || std.TTL != in.Msg.TTL || std.Ack != in.Msg.Ack {
			t.Fatalf("%q: decodeLinkMsg = %+v, encoding/json = %+v", data, in, std)
		}
		if (std.From == nil) != (in.Msg.From == nil) || std.From != nil && *std.From != *in.Msg.From {
			t.Fatalf("%q: from %+v, encoding/json %+v", data, in.Msg.From, std.From)
		}
	})
}
