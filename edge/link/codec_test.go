package link

import (
	"bytes"
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
// reads for Msg, so that edges interoperate whichever codec they use.
func TestLinkMsgWire(t *testing.T) {
	var sc Scanner
	for _, m := range linkTestMsgs {
		t.Run(m.ID, func(t *testing.T) {
			want := Msg{T: protocol.KindMsg, Account: "a<1>", WaitMS: 1234, Msg: *m}
			want.To = &protocol.Target{Device: "tv1"}
			got, err := AppendMsg(nil, "a<1>", 1234, "tv1", "", m)
			if err != nil {
				t.Fatal(err)
			}
			// What this edge writes, encoding/json reads as Msg ...
			var back Msg
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
				var in InMsg
				if err := sc.DecodeMsg(frame, &in); err != nil {
					t.Fatalf("DecodeMsg(%s): %v", frame, err)
				}
				wm := want.Msg
				wm.To = nil
				if in.Account != want.Account || in.Device != "tv1" || in.WaitMS != want.WaitMS {
					t.Fatalf("DecodeMsg(%s) = %+v", frame, in)
				}
				gm := in.Msg
				gm.Payload = compactJSON(t, gm.Payload)
				wm.Payload = compactJSON(t, wm.Payload)
				if !reflect.DeepEqual(gm, wm) {
					t.Fatalf("DecodeMsg(%s).Msg =\n%+v\nwant\n%+v", frame, gm, wm)
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
	var sc Scanner
	for _, r := range []protocol.Result{
		{Device: "tv1", Status: protocol.StatusDelivered},
		{Device: "tv\"1\u2028", Status: protocol.StatusRejected, Error: "edge <busy> & \x00"},
		{Device: "d", Status: "some_new_status"},
	} {
		t.Run(string(r.Status), func(t *testing.T) {
			got := AppendReceipt(nil, "id-1", &r)
			std, err := protocol.Encode(&protocol.Receipt{ID: "id-1", Results: []protocol.Result{r}})
			if err != nil {
				t.Fatal(err)
			}
			want := protocol.Receipt{ID: "id-1", Results: []protocol.Result{r}}
			var back protocol.Receipt
			if err := json.Unmarshal(got, &back); err != nil || !reflect.DeepEqual(back, want) {
				t.Fatalf("json.Unmarshal(%s) = %+v, %v", got, back, err)
			}
			for _, frame := range [][]byte{got, std} {
				var lr Result
				if err := sc.DecodeReceipt(frame, &lr); err != nil {
					t.Fatalf("DecodeReceipt(%s): %v", frame, err)
				}
				res := lr.Result
				res.Device = string(lr.Device)
				if string(lr.ID) != "id-1" || res != r {
					t.Fatalf("DecodeReceipt(%s) = %q %+v", frame, lr.ID, res)
				}
			}
		})
	}
}

// TestLinkMalformedFrames checks that bad input on a link is an error, never a
// panic or a frame.
func TestLinkMalformedFrames(t *testing.T) {
	good := `{"t":"msg","account":"a1","wait_ms":5,"id":"m","type":"x.v1","to":{"device":"tv1"},"payload":{}}`
	var sc Scanner
	var in InMsg
	if err := sc.DecodeMsg([]byte(good), &in); err != nil {
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
			var in InMsg
			if err := sc.DecodeMsg([]byte(tc.msg), &in); err == nil {
				t.Fatalf("DecodeMsg(%.80q) = %+v, want an error", tc.msg, in)
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
			var lr Result
			if err := sc.DecodeReceipt([]byte(tc.receipt), &lr); err == nil {
				t.Fatalf("DecodeReceipt(%q) = %+v, want an error", tc.receipt, lr)
			}
		})
	}
}

// decodedLink is what a link frame of any kind means, as the link decoder
// reads it.
type decodedLink struct {
	kind     string
	msg      InMsg
	receipt  protocol.Receipt // with one result
	replace  Replace
	presence Presence
	nudge    Nudge
	topics   Topics
	late     Late
	pub      Published
	count    Count
	counted  Counted
	locate   Locate
	handover Handover
	changed  Changed
}

// decodeAnyLink decodes data, a link frame of any kind, as the edges do.
func decodeAnyLink(sc *Scanner, data []byte) (*decodedLink, error) {
	kind, err := sc.Kind(data)
	if err != nil {
		return nil, err
	}
	d := &decodedLink{kind: kind}
	switch kind {
	case string(protocol.KindMsg):
		err = sc.ReadMsg(&d.msg)
	case string(protocol.KindReceipt):
		var lr Result
		err = sc.ReadReceipt(&lr)
		r := lr.Result
		r.Device = string(lr.Device)
		d.receipt = protocol.Receipt{ID: string(lr.ID), Results: []protocol.Result{r}}
	case KindReplace:
		err = sc.ReadReplace(&d.replace)
	case string(protocol.KindPresence):
		err = sc.ReadPresence(&d.presence)
	case KindNudge:
		err = sc.ReadNudge(&d.nudge)
	case KindTopics:
		err = sc.ReadTopics(&d.topics)
	case KindLate:
		err = sc.ReadLate(&d.late)
	case KindPublish:
		err = sc.ReadPublish(&d.msg)
	case KindPublished:
		err = sc.ReadPublished(&d.pub)
	case KindCount:
		err = sc.ReadCount(&d.count)
	case KindCounted:
		err = sc.ReadCounted(&d.counted)
	case KindLocate:
		err = sc.ReadLocate(&d.locate)
	case KindHandover:
		err = sc.ReadHandover(&d.handover)
	case KindChanged:
		err = sc.ReadChanged(&d.changed)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// encodeLink encodes d with the encoder of its kind, as the sending side does.
func encodeLink(t *testing.T, d *decodedLink) []byte {
	t.Helper()
	var b []byte
	var err error
	switch d.kind {
	case string(protocol.KindMsg):
		b, err = AppendMsg(nil, d.msg.Account, d.msg.WaitMS, d.msg.Device, d.msg.TP, &d.msg.Msg)
	case string(protocol.KindReceipt):
		b = AppendReceipt(nil, d.receipt.ID, &d.receipt.Results[0])
	case KindReplace:
		b, err = json.Marshal(d.replace)
	case string(protocol.KindPresence):
		b, err = json.Marshal(d.presence)
	case KindNudge:
		b, err = json.Marshal(d.nudge)
	case KindTopics:
		b, err = json.Marshal(d.topics)
	case KindLate:
		b, err = json.Marshal(d.late)
	case KindPublish:
		b, err = AppendPublish(nil, d.msg.WaitMS, d.msg.TP, &d.msg.Msg)
	case KindPublished:
		b = AppendPublished(nil, &d.pub)
	case KindCount:
		b = AppendCount(nil, &d.count)
	case KindCounted:
		b = AppendCounted(nil, &d.counted)
	case KindLocate:
		b = AppendLocate(nil, &d.locate)
	case KindHandover:
		b = AppendHandover(nil, &d.handover)
	case KindChanged:
		b = AppendChanged(nil, &d.changed)
	}
	if err != nil {
		t.Fatalf("encoding %+v: %v", d, err)
	}
	return b
}

// sameLink reports whether a and b mean the same. Payloads are compared
// without white space (the encoder compacts them), and no payload is a null
// one (the encoder writes null for it).
func sameLink(a, b *decodedLink) bool {
	if a.kind != b.kind || !reflect.DeepEqual(a.receipt, b.receipt) || a.replace != b.replace || a.presence != b.presence || a.nudge != b.nudge || a.topics != b.topics || a.late != b.late || a.pub != b.pub ||
		a.count != b.count || a.counted != b.counted || a.locate != b.locate || a.handover != b.handover || a.changed != b.changed {
		return false
	}
	am, bm := a.msg, b.msg
	if (am.Msg.From == nil) != (bm.Msg.From == nil) || am.Msg.From != nil && *am.Msg.From != *bm.Msg.From {
		return false
	}
	am.Msg.From, bm.Msg.From, am.from, bm.from = nil, nil, protocol.Sender{}, protocol.Sender{}
	ap, aok := compactPayload(am.Msg.Payload)
	bp, bok := compactPayload(bm.Msg.Payload)
	if !aok || !bok || ap != bp {
		return false
	}
	am.Msg.Payload, bm.Msg.Payload = nil, nil
	return reflect.DeepEqual(am, bm)
}

// compactPayload returns p without white space, "null" for no payload, and
// false if p is not JSON.
func compactPayload(p json.RawMessage) (string, bool) {
	if p == nil {
		return "null", true
	}
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return "", false
	}
	return b.String(), true
}

// TestLinkFrameRule holds the link decoder to its rule (decode.go): "t"
// first, exact field names, no known field twice, unknown fields skipped,
// required fields present, for every kind of frame.
func TestLinkFrameRule(t *testing.T) {
	const (
		to      = `"to":{"device":"tv1"}`
		payload = `"payload":{}`
	)
	msg := func(fields string) string {
		return `{"t":"msg","account":"a1","id":"m1","type":"x.v1",` + fields + `}`
	}
	tests := []struct {
		name  string
		frame string
		want  func(*decodedLink) bool // nil: the frame is refused
	}{
		{"msg", msg(to + `,` + payload), func(d *decodedLink) bool { return d.msg.Account == "a1" && d.msg.Device == "tv1" }},
		{"unknown fields are skipped", msg(to + `,"extra":{"t":"replace","a":[1,null]},"x":null,` + payload), func(d *decodedLink) bool { return d.msg.Device == "tv1" }},
		{"a key in other case is not the field", `{"t":"msg","ACCount":"a1","id":"m1","type":"x.v1",` + to + `}`, nil},
		{"a key in other case beside the field is skipped", msg(`"ACCOUNT":"a2","tYpe":"y.v1","To":{"device":"tv2"},` + to), func(d *decodedLink) bool {
			return d.msg.Account == "a1" && d.msg.Msg.Type == "x.v1" && d.msg.Device == "tv1"
		}},
		{"T is not t", `{"T":"msg","account":"a1","id":"m1",` + to + `}`, nil},
		{"t not first", `{"account":"a1","t":"msg","id":"m1",` + to + `}`, nil},
		{"t twice", msg(to + `,"t":"replace"`), nil},
		{"t twice with one value", msg(to + `,"t":"msg"`), nil},
		{"unknown kind", `{"t":"ack","id":"m1"}`, nil},
		{"t not a string", `{"t":1,"id":"m1"}`, nil},
		{"a field twice", msg(to + `,"account":"a2"`), nil},
		{"a field twice, once null", msg(to + `,"account":null`), nil},
		{"payload twice", msg(to + `,` + payload + `,` + payload), nil},
		{"to.device twice", msg(`"to":{"device":"tv1","device":"tv2"}`), nil},
		{"from.device twice", msg(to + `,"from":{"device":"p1","device":"p2"}`), nil},
		{"msg without account", `{"t":"msg","id":"m1",` + to + `}`, nil},
		{"msg with an empty account", `{"t":"msg","account":"","id":"m1",` + to + `}`, nil},
		{"msg without id", `{"t":"msg","account":"a1",` + to + `}`, nil},
		{"replace", `{"t":"replace","account":"a1","device":"tv1","session":"s1","code":4005}`, func(d *decodedLink) bool {
			return d.replace == Replace{T: KindReplace, Account: "a1", Device: "tv1", Session: "s1", Code: 4005}
		}},
		{"replace without session", `{"t":"replace","account":"a1","device":"tv1"}`, nil},
		{"replace with Session", `{"t":"replace","account":"a1","device":"tv1","Session":"s1"}`, nil},
		{"replace with device twice", `{"t":"replace","account":"a1","device":"tv1","session":"s1","device":"tv2"}`, nil},
		{"replace with a fractional code", `{"t":"replace","account":"a1","device":"tv1","session":"s1","code":4000.5}`, nil},
		{"nudge", `{"t":"nudge","account":"a1","device":"tv1","session":"s1","later":[1]}`, func(d *decodedLink) bool {
			return d.nudge == Nudge{T: KindNudge, Account: "a1", Device: "tv1", Session: "s1"}
		}},
		{"nudge without session", `{"t":"nudge","account":"a1","device":"tv1"}`, nil},
		{"topics", `{"t":"topics","account":"a1","device":"tv1","session":"s1","later":[1]}`, func(d *decodedLink) bool {
			return d.topics == Topics{T: KindTopics, Account: "a1", Device: "tv1", Session: "s1"}
		}},
		{"topics without device", `{"t":"topics","account":"a1","session":"s1"}`, nil},
		{"topics with session twice", `{"t":"topics","account":"a1","device":"tv1","session":"s1","session":"s2"}`, nil},
		{"late", `{"t":"late","account":"a1","device":"phone1","id":"m1","from":"tv1","status":"acked","later":1}`, func(d *decodedLink) bool {
			return d.late == Late{T: KindLate, Account: "a1", Device: "phone1", ID: "m1", From: "tv1", Status: protocol.StatusAcked}
		}},
		{"publish", `{"t":"publish","wait_ms":50,"id":"m1","type":"a.v1","from":{"service":"news"},"topic":"news.sports","seq":7,"payload":{"x":1}}`, func(d *decodedLink) bool {
			m := d.msg.Msg
			return d.msg.WaitMS == 50 && m.ID == "m1" && m.Topic == "news.sports" && m.Seq == 7 && m.From != nil && m.From.Service == "news" && string(m.Payload) == `{"x":1}`
		}},
		{"msg with a traceparent", msg(to + `,"tp":"` + testTP + `"`), func(d *decodedLink) bool { return d.msg.TP == testTP }},
		{"msg with a null traceparent", msg(to + `,"tp":null`), func(d *decodedLink) bool { return d.msg.TP == "" }},
		{"msg with an empty traceparent", msg(to + `,"tp":""`), nil},
		{"msg with an uppercase traceparent", msg(to + `,"tp":"` + strings.ToUpper(testTP) + `"`), nil},
		{"msg with a traceparent of version 01", msg(to + `,"tp":"01` + testTP[2:] + `"`), nil},
		{"msg with a traceparent too long", msg(to + `,"tp":"` + testTP + `-x"`), nil},
		{"msg with a traceparent twice", msg(to + `,"tp":"` + testTP + `","tp":"` + testTP + `"`), nil},
		{"msg with TP", msg(to + `,"TP":"x"`), func(d *decodedLink) bool { return d.msg.TP == "" }},
		{"msg with a traceparent as a number", msg(to + `,"tp":1`), nil},
		{"publish with a traceparent", `{"t":"publish","id":"m1","type":"a.v1","topic":"news","tp":"` + testTP + `","payload":{}}`, func(d *decodedLink) bool {
			return d.msg.TP == testTP && d.msg.Msg.Topic == "news"
		}},
		{"publish with an empty traceparent", `{"t":"publish","id":"m1","type":"a.v1","topic":"news","tp":"","payload":{}}`, nil},
		{"publish with an uppercase traceparent", `{"t":"publish","id":"m1","type":"a.v1","topic":"news","tp":"` + strings.ToUpper(testTP) + `","payload":{}}`, nil},
		{"publish with a traceparent twice", `{"t":"publish","id":"m1","type":"a.v1","topic":"news","tp":"` + testTP + `","tp":"` + testTP + `","payload":{}}`, nil},
		{"publish with a negative seq", `{"t":"publish","id":"m1","type":"a.v1","topic":"news","seq":-1,"payload":{}}`, nil},
		{"publish without topic", `{"t":"publish","id":"m1","type":"a.v1","payload":{}}`, nil},
		{"publish with an invalid topic", `{"t":"publish","id":"m1","type":"a.v1","topic":"news..x","payload":{}}`, nil},
		{"publish with an account", `{"t":"publish","account":"a1","id":"m1","type":"a.v1","topic":"news","payload":{}}`, nil},
		{"publish with a target", `{"t":"publish","id":"m1","type":"a.v1","topic":"news","to":{"device":"tv1"},"payload":{}}`, nil},
		{"publish without id", `{"t":"publish","type":"a.v1","topic":"news","payload":{}}`, nil},
		{"published", `{"t":"published","id":"m1","devices":3,"dropped":1}`, func(d *decodedLink) bool {
			return d.pub == Published{ID: "m1", Devices: 3, Dropped: 1}
		}},
		{"published negative", `{"t":"published","id":"m1","devices":-3}`, nil},
		{"published without id", `{"t":"published","devices":3}`, nil},
		{"count", `{"t":"count","id":"c1","topic":"news.sports","later":{"x":[1]}}`, func(d *decodedLink) bool {
			return d.count == Count{T: KindCount, ID: "c1", Topic: "news.sports"}
		}},
		{"locate", `{"t":"locate","id":"l1","account":"a1","device":"tv1","later":1}`, func(d *decodedLink) bool {
			return d.locate == Locate{T: KindLocate, ID: "l1", Account: "a1", Device: "tv1"}
		}},
		{"locate without device", `{"t":"locate","id":"l1","account":"a1"}`, nil},
		{"locate with an invalid account", `{"t":"locate","id":"l1","account":"a 1","device":"tv1"}`, nil},
		{"locate with an id that breaks lines", `{"t":"locate","id":"l\n1","account":"a1","device":"tv1"}`, nil},
		{"locate with device twice", `{"t":"locate","id":"l1","account":"a1","device":"tv1","device":"tv2"}`, nil},
		{"handover", `{"t":"handover","account":"a1","device":"tv1","region":"us-east"}`, func(d *decodedLink) bool {
			return d.handover == Handover{T: KindHandover, Account: "a1", Device: "tv1", Region: "us-east"}
		}},
		{"handover without region", `{"t":"handover","account":"a1","device":"tv1"}`, nil},
		{"handover with a region that is no name", `{"t":"handover","account":"a1","device":"tv1","region":"US.east"}`, nil},
		{"handover with an invalid device", `{"t":"handover","account":"a1","device":"tv\n1","region":"us"}`, nil},
		{"changed", `{"t":"changed","account":"a1"}`, func(d *decodedLink) bool {
			return d.changed == Changed{T: KindChanged, Account: "a1"}
		}},
		{"changed with a removed device", `{"t":"changed","account":"a1","removed":"tv1"}`, func(d *decodedLink) bool {
			return d.changed == Changed{T: KindChanged, Account: "a1", Removed: "tv1"}
		}},
		{"changed without account", `{"t":"changed","removed":"tv1"}`, nil},
		{"changed with an invalid removed device", `{"t":"changed","account":"a1","removed":"tv 1"}`, nil},
		{"count without topic", `{"t":"count","id":"c1"}`, nil},
		{"count with an invalid topic", `{"t":"count","id":"c1","topic":"news.*"}`, nil},
		{"count with an id that breaks lines", `{"t":"count","id":"c\n1","topic":"news"}`, nil},
		{"count without id", `{"t":"count","topic":"news"}`, nil},
		{"count with topic twice", `{"t":"count","id":"c1","topic":"news","topic":"sports"}`, nil},
		{"count with Topic", `{"t":"count","id":"c1","Topic":"news"}`, nil},
		{"counted", `{"t":"counted","id":"c1","subscribers":7}`, func(d *decodedLink) bool {
			return d.counted == Counted{T: KindCounted, ID: "c1", Subscribers: 7}
		}},
		{"counted zero", `{"t":"counted","id":"c1","subscribers":0}`, func(d *decodedLink) bool {
			return d.counted == Counted{T: KindCounted, ID: "c1"}
		}},
		{"counted negative", `{"t":"counted","id":"c1","subscribers":-1}`, nil},
		{"counted fractional", `{"t":"counted","id":"c1","subscribers":1.5}`, nil},
		{"counted without id", `{"t":"counted","subscribers":1}`, nil},
		{"late without from", `{"t":"late","account":"a1","device":"phone1","id":"m1","status":"acked"}`, nil},
		{"late of another status", `{"t":"late","account":"a1","device":"phone1","id":"m1","from":"tv1","status":"delivered"}`, nil},
		{"late with an invalid device", `{"t":"late","account":"a1","device":"phone 1","id":"m1","from":"tv1","status":"acked"}`, nil},
		{"late with an id that breaks lines", `{"t":"late","account":"a1","device":"phone1","id":"m\n1","from":"tv1","status":"acked"}`, nil},
		{"nudge with an empty device", `{"t":"nudge","account":"a1","device":"","session":"s1"}`, nil},
		{"nudge with session twice", `{"t":"nudge","account":"a1","device":"tv1","session":"s1","session":"s2"}`, nil},
		{"nudge with Account", `{"t":"nudge","Account":"a1","device":"tv1","session":"s1"}`, nil},
		{"nudge with a number for a session", `{"t":"nudge","account":"a1","device":"tv1","session":1}`, nil},
		{"nudge with trailing bytes", `{"t":"nudge","account":"a1","device":"tv1","session":"s1"}x`, nil},
		{"presence", `{"t":"presence","account":"a1","device":"tv1","online":true,"platform":"ios","ts":5}`, func(d *decodedLink) bool {
			return d.presence == Presence{T: protocol.KindPresence, Account: "a1", Presence: protocol.Presence{Device: "tv1", Online: true, Platform: "ios", TS: 5}}
		}},
		{"presence without device", `{"t":"presence","account":"a1","online":true}`, nil},
		{"presence with online twice", `{"t":"presence","account":"a1","device":"tv1","online":true,"online":false}`, nil},
		{"presence with Device", `{"t":"presence","account":"a1","Device":"tv1"}`, nil},
		{"receipt", `{"t":"receipt","id":"m1","results":[{"device":"tv1","status":"acked"}]}`, func(d *decodedLink) bool {
			return d.receipt.ID == "m1" && d.receipt.Results[0] == protocol.Result{Device: "tv1", Status: protocol.StatusAcked}
		}},
		{"receipt without t", `{"id":"m1","results":[{"device":"tv1","status":"acked"}]}`, nil},
		{"receipt without id", `{"t":"receipt","results":[{"device":"tv1","status":"acked"}]}`, nil},
		{"receipt with status twice", `{"t":"receipt","id":"m1","results":[{"device":"tv1","status":"acked","status":"offline"}]}`, nil},
		{"receipt with results twice", `{"t":"receipt","id":"m1","results":[{"device":"tv1","status":"acked"}],"results":[{"device":"tv2","status":"acked"}]}`, nil},
	}
	var sc Scanner
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := decodeAnyLink(&sc, []byte(tt.frame))
			if tt.want == nil {
				if err == nil {
					t.Fatalf("%s accepted as %+v", tt.frame, d)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tt.frame, err)
			}
			if !tt.want(d) {
				t.Fatalf("%s decoded as %+v", tt.frame, d)
			}
		})
	}
}

// FuzzLinkFrame holds the link decoder to its rule whatever the input: it never
// panics, it accepts nothing but JSON, and what it accepts means one thing:
// encoded again by the encoder of its kind, as the sending side writes it, it
// decodes to the same frame, and that encoding is a fixed point.
func FuzzLinkFrame(f *testing.F) {
	for _, m := range linkTestMsgs {
		b, _ := AppendMsg(nil, "a1", 10, "tv1", "", m)
		f.Add(b)
	}
	if b, err := AppendMsg(nil, "a1", 10, "tv1", testTP, linkTestMsgs[0]); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"t":"msg","account":"a1","id":"m","tp":"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01","to":{"device":"d"}}`))
	f.Add(AppendReceipt(nil, "m", &protocol.Result{Device: "tv1", Status: protocol.StatusAcked}))
	f.Add(AppendReceipt(nil, "m", &protocol.Result{Device: "tv1", Status: protocol.StatusRejected, Error: "edge busy"}))
	f.Add([]byte(`{"t":"msg","account":"a","id":"\ud800\udc00\ud800x","to":{"device":"d"},"payload":[{"a":[{}]}]}`))
	for _, v := range []any{
		Replace{T: KindReplace, Account: "a1", Device: "tv1", Session: "s1"},
		Replace{T: KindReplace, Account: "a1", Device: "tv1", Session: "s1", Code: 4003}, // edge.CloseRemoved
		Presence{T: protocol.KindPresence, Account: "a1", Presence: protocol.Presence{Device: "tv1", Online: true, Platform: "ios", TS: 1}},
		Nudge{T: KindNudge, Account: "a1", Device: "tv1", Session: "s1"},
		Topics{T: KindTopics, Account: "a1", Device: "tv1", Session: "s1"},
		Late{T: KindLate, Account: "a1", Device: "phone1", ID: "m1", From: "tv1", Status: protocol.StatusAcked},
	} {
		b, _ := json.Marshal(v)
		f.Add(b)
	}
	f.Add([]byte(`{"t":"msg","ACCount":"00","account":"a1","id":"m","tYpe":"x","to":{"device":"d"},"payload":null}`))
	if b, err := AppendPublish(nil, 5, testTP, &protocol.Msg{ID: "m1", Type: "a.v1", Topic: "news.sports", From: &protocol.Sender{Service: "news"}, Payload: []byte(`{}`)}); err == nil {
		f.Add(b)
	}
	f.Add(AppendPublished(nil, &Published{ID: "m1", Devices: 2, Dropped: 1}))
	f.Add(AppendCount(nil, &Count{ID: "c1", Topic: "news.sports"}))
	f.Add(AppendCounted(nil, &Counted{ID: "c1", Subscribers: 12}))
	f.Add(AppendLocate(nil, &Locate{ID: "l1", Account: "a1", Device: "tv1"}))
	f.Add(AppendHandover(nil, &Handover{Account: "a1", Device: "tv1", Region: "us"}))
	f.Add(AppendChanged(nil, &Changed{Account: "a1", Removed: "tv1"}))
	f.Fuzz(func(t *testing.T, data []byte) {
		var sc Scanner
		d, err := decodeAnyLink(&sc, data)
		if err != nil {
			return
		}
		if !json.Valid(data) {
			t.Fatalf("accepted %q, which is not JSON", data)
		}
		e1 := encodeLink(t, d)
		d2, err := decodeAnyLink(&sc, e1)
		if err != nil {
			t.Fatalf("%q decodes to %+v, whose encoding %q does not decode: %v", data, d, e1, err)
		}
		if !sameLink(d, d2) {
			t.Fatalf("%q decodes to\n%+v\nbut its encoding %q to\n%+v", data, d, e1, d2)
		}
		if e2 := encodeLink(t, d2); !bytes.Equal(e1, e2) {
			t.Fatalf("%q: encoding again gives %q, not %q", data, e2, e1)
		}
	})
}

// testTP is a valid traceparent, the W3C specification's example.
const testTP = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestValidTraceparent holds the link's traceparent rule: version 00, lowercase
// hex, ids not all zeros, exactly 55 characters.
func TestValidTraceparent(t *testing.T) {
	for _, tc := range []struct {
		name string
		tp   string
		want bool
	}{
		{"the example", testTP, true},
		{"not sampled", testTP[:53] + "00", true},
		{"empty", "", false},
		{"version ff", "ff" + testTP[2:], false},
		{"version 01", "01" + testTP[2:], false},
		{"uppercase", strings.ToUpper(testTP), false},
		{"a trace id of zeros", "00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"a span id of zeros", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"too short", testTP[:54], false},
		{"too long", testTP + "0", false},
		{"a dash moved", "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01", false},
		{"not hex", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bg-01", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidTraceparent(tc.tp); got != tc.want {
				t.Errorf("ValidTraceparent(%q) = %v, want %v", tc.tp, got, tc.want)
			}
		})
	}
}
