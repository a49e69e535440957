package api

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// strictBodies are the request types with their fields, as the handlers
// decode them.
var strictBodies = []struct {
	name   string
	fields *fields
	new    func() any
}{
	{"push", pushFields, func() any { return new(PushRequest) }},
	{"batch", batchFields, func() any { return new(PushBatchRequest) }},
	{"raw batch", rawBatchFields, func() any { return new(rawBatchBody) }},
	{"message", messageFields, func() any { return new(MessageRequest) }},
	{"device", deviceFields, func() any { return new(DeviceRequest) }},
}

func TestFieldsOf(t *testing.T) {
	tests := []struct {
		name   string
		fields *fields
		path   []string // the names of the objects down to the one checked
		want   []string
	}{
		{"push", pushFields, nil, []string{"to", "type", "payload", "ack", "ttl", "timeout_ms"}},
		{"push target", pushFields, []string{"to"}, []string{"account", "device"}},
		{"batch", batchFields, nil, []string{"messages", "timeout_ms"}},
		{"batch message", batchFields, []string{"messages", "[]"}, []string{"to", "type", "payload", "ack", "ttl", "timeout_ms"}},
		{"batch message target", batchFields, []string{"messages", "[]", "to"}, []string{"account", "device"}},
		{"raw batch", rawBatchFields, nil, []string{"messages", "timeout_ms"}},
		{"message", messageFields, nil, []string{"to", "type", "payload", "ack", "priority", "ttl", "collapse_key"}},
		{"message target", messageFields, []string{"to"}, []string{"account", "device"}},
		{"device", deviceFields, nil, []string{"platform", "name", "app_version", "capabilities", "attributes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := tt.fields
			for _, p := range tt.path {
				if p == "[]" {
					if !f.array {
						t.Fatalf("%v: not an array", tt.path)
					}
					f = f.elem
					continue
				}
				i := slices.Index(f.names, p)
				if i < 0 || f.of[i] == nil {
					t.Fatalf("%v: no object %q in %v", tt.path, p, f.names)
				}
				f = f.of[i]
			}
			if f.array || !slices.Equal(f.names, tt.want) {
				t.Errorf("names %v (array %v), want %v", f.names, f.array, tt.want)
			}
		})
	}
	t.Run("free-form values are not looked into", func(t *testing.T) {
		for _, name := range []string{"payload", "ack", "ttl", "timeout_ms", "type"} {
			if f := pushFields.of[slices.Index(pushFields.names, name)]; f != nil {
				t.Errorf("push %q has fields %+v, want none", name, f)
			}
		}
		if f := deviceFields.of[slices.Index(deviceFields.names, "attributes")]; f != nil {
			t.Errorf("device attributes have fields %+v, want none", f)
		}
		if f := rawBatchFields.of[slices.Index(rawBatchFields.names, "messages")]; f != nil {
			t.Errorf("raw batch messages have fields %+v, want none: each is checked on its own", f)
		}
	})
}

func TestUnknownField(t *testing.T) {
	to := `"to":{"account":"a1","device":"tv1"}`
	tests := []struct {
		name   string
		fields *fields
		body   string
		want   string // the dotted path of the unknown member; "" for none
		at     string // the path of the object that holds it
	}{
		{"a push", pushFields, `{` + to + `,"type":"t","payload":{"x":1},"ack":true,"timeout_ms":5}`, "", ""},
		{"a push to an account", pushFields, `{"to":{"account":"a1"},"type":"t","payload":{}}`, "", ""},
		{"names in another case", pushFields, `{"To":{"ACCOUNT":"a1","Device":"tv1"},"TYPE":"t","Payload":1}`, "", ""},
		{"an escaped name", pushFields, `{"to":{"acc\u006funt":"a1"},"\u0074ype":"t"}`, "", ""},
		{"a name encoding/json folds: long s", pushFields, `{"to":{"account":"a1"},"type":"t","payload":1,"timeout_m\u017f":5}`, "", ""},
		{"a name encoding/json folds: Kelvin sign", pushFields, `{"to":{"account":"a1"},"type":"t","payload":1,"ac\u212a":true}`, "", ""},
		{"anything in the payload", pushFields, `{"payload":{"to":{"devices":[1]},"x":[{"y":{}}],"s":"}\"{"},"type":"t"}`, "", ""},
		{"null target", pushFields, `{"to":null,"type":"t"}`, "", ""},
		{"white space everywhere", pushFields, " {\n \"to\" :\t{ \"account\" : \"a1\" } ,\r\"payload\" : [ 1 , 2 ] } ", "", ""},
		{"devices in to", pushFields, `{"to":{"account":"bc","devices":["d1"]},"type":"t","payload":{}}`, "to.devices", "to"},
		{"device_id in to", pushFields, `{"to":{"account":"bc","device_id":"d1"},"type":"t","payload":{}}`, "to.device_id", "to"},
		{"account misspelt", pushFields, `{"to":{"acount":"bc"},"type":"t","payload":{}}`, "to.acount", "to"},
		{"payload misspelt", pushFields, `{` + to + `,"type":"t","paylod":{}}`, "paylod", ""},
		{"the first of two", pushFields, `{` + to + `,"typ":"t","paylod":{}}`, "typ", ""},
		{"a name with a dot", pushFields, `{` + to + `,"to.device":"tv2"}`, "to.device", ""},
		{"a name with a non-ASCII letter", pushFields, `{` + to + `,"týpe":"t"}`, "týpe", ""},
		{"an async option on a push", pushFields, `{` + to + `,"type":"t","payload":1,"collapse_key":"k"}`, "collapse_key", ""},
		{"collapse key misspelt", messageFields, `{` + to + `,"type":"t","payload":1,"colapse_key":"k"}`, "colapse_key", ""},
		{"priority misspelt", messageFields, `{` + to + `,"type":"t","payload":1,"prio":"high"}`, "prio", ""},
		{"a push's timeout on an async send", messageFields, `{` + to + `,"type":"t","payload":1,"timeout_ms":5}`, "timeout_ms", ""},
		{"async target", messageFields, `{"to":{"account":"a1","devise":"tv1"}}`, "to.devise", "to"},
		{"a batch", batchFields, `{"messages":[{` + to + `},{"to":{"account":"a2"}}],"timeout_ms":1}`, "", ""},
		{"a batch message misspelt", batchFields, `{"messages":[{` + to + `},{"to":{"account":"a2","device_id":"x"}}]}`, "messages.1.to.device_id", "messages.1.to"},
		{"a batch misspelt", batchFields, `{"messages":[{` + to + `}],"timeout":1}`, "timeout", ""},
		{"a raw batch leaves messages alone", rawBatchFields, `{"messages":[{"zz":1},null,3],"timeout_ms":1}`, "", ""},
		{"a raw batch misspelt", rawBatchFields, `{"mesages":[]}`, "mesages", ""},
		{"device attributes are free", deviceFields, `{"platform":"tv","attributes":{"anything":"goes"},"capabilities":["a"]}`, "", ""},
		{"device capabilities misspelt", deviceFields, `{"platform":"tv","capabilites":["a"]}`, "capabilites", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, key, obj := tt.fields.unknown([]byte(tt.body))
			got := ""
			if obj != nil {
				got = joinPath(at, key)
			}
			if got != tt.want || at != tt.at {
				t.Errorf("unknown %q at %q, want %q at %q", got, at, tt.want, tt.at)
			}
			p := tt.fields.check([]byte(tt.body))
			if (p == nil) != (tt.want == "") {
				t.Fatalf("check %+v, want a problem: %v", p, tt.want != "")
			}
			if p != nil && (p.Code != protocol.CodeBadRequest || !strings.Contains(p.Detail, `"`+tt.want+`"`)) {
				t.Errorf("problem %+v, want bad_request naming %q", p, tt.want)
			}
		})
	}
}

// TestUnknownFieldProblem checks the detail names the field and lists the
// names its object takes.
func TestUnknownFieldProblem(t *testing.T) {
	tests := []struct {
		fields *fields
		body   string
		want   string
	}{
		{pushFields, `{"to":{"account":"a","devices":["d1"]}}`,
			`unknown field "to.devices": the fields of "to" are "account", "device"`},
		{pushFields, `{"paylod":1}`,
			`unknown field "paylod": the body's fields are "to", "type", "payload", "ack", "ttl", "timeout_ms"`},
		{pushFields, `{"x\ny":1}`, `unknown field "x\ny": the body's fields are`},
		{pushFields, `{"` + strings.Repeat("k", 1000) + `":1}`, `unknown field "` + strings.Repeat("k", 200) + `": the body's`},
	}
	for _, tt := range tests {
		p := tt.fields.check([]byte(tt.body))
		if p == nil || !strings.HasPrefix(p.Detail, tt.want) {
			t.Errorf("%s: problem %+v, want a detail starting %q", tt.body, p, tt.want)
		}
	}
}

// FuzzUnknownField checks fields.unknown against encoding/json: for a body
// that decodes into a request type, it finds an unknown member exactly when a
// decoder that disallows unknown fields refuses the body. On any other input it
// must end without a panic.
func FuzzUnknownField(f *testing.F) {
	addSeeds(f, malformedSeeds...)
	addSeeds(f,
		`{"to":{"account":"a1","device":"tv1"},"type":"t","payload":{"x":[1,{"y":"}"}]},"ack":true,"timeout_ms":5}`,
		`{"to":{"account":"bc","devices":["d1"]},"type":"t","payload":{}}`,
		`{"To":{"Account":"a","DEVICE":"d"},"tYpE":"t"}`,
		`{"to":{"acc\u006funt":"a1"},"timeout_m\u017f":1,"ac\u212a":false}`,
		`{"messages":[{"to":{"account":"a"}},{"to":{"device_id":"x"}},null],"timeout_ms":1}`,
		`{"messages":[{"zz":1},3],"timeout":1}`,
		`{"priority":"high","ttl":1,"collapse_key":"k","colapse_key":"k"}`,
		`{"platform":"tv","attributes":{"a":"b"},"capabilities":["x"],"capabilites":[]}`,
		"{\"\xff\":1}", `{"\ud800":1}`, `{"":1}`,
	)
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, sb := range strictBodies {
			_, key, obj := sb.fields.unknown(b) // ends on any input
			if json.Unmarshal(b, sb.new()) != nil {
				continue
			}
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			err := dec.Decode(sb.new())
			if (obj != nil) != (err != nil) {
				t.Fatalf("%s %q: unknown member %q (found: %v), encoding/json: %v", sb.name, b, key, obj != nil, err)
			}
		}
	})
}

// BenchmarkUnknownField measures the check of a push body without unknown
// members, the cost every push pays.
func BenchmarkUnknownField(b *testing.B) {
	body := []byte(`{"to":{"account":"bench","device":"d1"},"type":"notification.v1","payload":` + benchNote + `,"timeout_ms":10000}`)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, _, obj := pushFields.unknown(body); obj != nil {
			b.Fatal("unknown member")
		}
	}
}

// A misspelt member, an empty or null "to.device", or an invalid target id
// (issue 14, defect 6): each gets 400 naming the field, on every route that
// sends, and sends nothing.

// typoMsg is the type and payload of the typo tests' pushes.
const typoMsg = `"type":"notification.v1","payload":{"title":"typo"}`

// targetTypos are pushes to account bc, whose devices d1 and d2 are connected,
// that must be refused, each with the substrings its problem's detail names.
var targetTypos = []struct {
	name   string
	body   string
	detail []string
}{
	{"devices in to", `{"to":{"account":"bc","devices":["d1"]},` + typoMsg + `}`, []string{`"to.devices"`, `"account", "device"`}},
	{"an empty devices list", `{"to":{"account":"bc","devices":[]},` + typoMsg + `}`, []string{`"to.devices"`}},
	{"device_id in to", `{"to":{"account":"bc","device_id":"d1"},` + typoMsg + `}`, []string{`"to.device_id"`}},
	{"device misspelt", `{"to":{"account":"bc","devise":"d1"},` + typoMsg + `}`, []string{`"to.devise"`}},
	{"an empty device", `{"to":{"account":"bc","device":""},` + typoMsg + `}`, []string{`"to.device"`, "empty"}},
	{"a null device", `{"to":{"account":"bc","device":null},` + typoMsg + `}`, []string{`"to.device"`, "null"}},
	{"an empty device after a named one", `{"to":{"account":"bc","device":"d1","Device":""},` + typoMsg + `}`, []string{`"to.device"`, "empty"}},
	{"the device beside to", `{"to":{"account":"bc"},"device":"d1",` + typoMsg + `}`, []string{`"device"`, `"to", "type"`}},
	{"no target", `{"to":{},` + typoMsg + `}`, []string{`"to.account"`, "required"}},
	{"an account id with a space", `{"to":{"account":"b c","device":"d1"},` + typoMsg + `}`, []string{`"to.account"`, "characters other than"}},
	{"an account id over 128 bytes", `{"to":{"account":"` + strings.Repeat("b", 129) + `"},` + typoMsg + `}`, []string{`"to.account"`, "longer than 128"}},
	{"a device id with a slash", `{"to":{"account":"bc","device":"d1/x"},` + typoMsg + `}`, []string{`"to.device"`, "characters other than"}},
	{"a device id with a newline", `{"to":{"account":"bc","device":"d1\nd2"},` + typoMsg + `}`, []string{`"to.device"`, "characters other than"}},
	{"a device id of the wrong type", `{"to":{"account":"bc","device":1},` + typoMsg + `}`, []string{`"to.device"`, "string"}},
	{"payload misspelt", `{"to":{"account":"bc","device":"d1"},"type":"notification.v1","paylod":{"title":"typo"}}`, []string{`"paylod"`}},
	{"type misspelt", `{"to":{"account":"bc","device":"d1"},"typ":"notification.v1","payload":{"title":"typo"}}`, []string{`"typ"`}},
}

// TestPushRefusesTypos pushes each of targetTypos, and misspelt push options,
// to an account with two connected devices: each is refused, neither device
// receives anything, and a correct push reaches only the device it names.
func TestPushRefusesTypos(t *testing.T) {
	st := mustStack(t)
	d1 := st.mustDevice(t, "bc", "d1")
	d2 := st.mustDevice(t, "bc", "d2")
	tests := append(slices.Clone(targetTypos), []struct {
		name   string
		body   string
		detail []string
	}{
		{"timeout_ms misspelt", `{"to":{"account":"bc"},` + typoMsg + `,"timeout":100}`, []string{`"timeout"`, `"timeout_ms"`}},
		{"an async option", `{"to":{"account":"bc"},` + typoMsg + `,"collapse_key":"k"}`, []string{`"collapse_key"`}},
		{"ack misspelt", `{"to":{"account":"bc"},` + typoMsg + `,"acks":true}`, []string{`"acks"`}},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := st.push(t, tt.body)
			p := checkProblem(t, resp, b, http.StatusBadRequest, protocol.CodeBadRequest)
			for _, s := range tt.detail {
				if !strings.Contains(p.Detail, s) {
					t.Errorf("detail %q does not mention %s", p.Detail, s)
				}
			}
			if strings.Contains(p.Detail, "d1/x") || strings.Contains(p.Detail, "b c") {
				t.Errorf("detail %q quotes the id", p.Detail)
			}
		})
	}
	t.Run("a correct push reaches only the named device", func(t *testing.T) {
		pr := st.mustPushOK(t, note("bc", "d1", "only d1", `,"timeout_ms":10000`))
		if want := []protocol.Result{{Device: "d1", Status: protocol.StatusDelivered}}; !slices.Equal(pr.Results, want) {
			t.Errorf("results %+v, want %+v", pr.Results, want)
		}
		checkNextMsg(t, d1, pr.ID, "only d1") // nothing refused came before it
		st.checkNothingMore(t, d2)
	})
}

// TestPushBatchRefusesTypos checks that a batch message with a misspelt
// member or an invalid target gets its own problem while the others are
// sent, and that a misspelt member of the batch itself refuses the batch.
func TestPushBatchRefusesTypos(t *testing.T) {
	st := mustStack(t)
	d1 := st.mustDevice(t, "bc", "d1")
	d2 := st.mustDevice(t, "bc", "d2")
	for _, tt := range targetTypos {
		t.Run(tt.name, func(t *testing.T) {
			br := st.mustBatchOK(t, batchOf(10000, note("bc", "d1", "first", ""), tt.body, note("bc", "d2", "last", "")), 3)
			p := checkItemProblem(t, br.Results[1], http.StatusBadRequest, protocol.CodeBadRequest)
			for _, s := range tt.detail {
				if !strings.Contains(p.Detail, s) {
					t.Errorf("detail %q does not mention %s", p.Detail, s)
				}
			}
			checkNextMsg(t, d1, checkSent(t, br.Results[0], protocol.Result{Device: "d1", Status: protocol.StatusDelivered}), "first")
			checkNextMsg(t, d2, checkSent(t, br.Results[2], protocol.Result{Device: "d2", Status: protocol.StatusDelivered}), "last")
		})
	}
	t.Run("a misspelt batch member refuses the batch", func(t *testing.T) {
		for _, body := range []string{
			`{"messages":[` + note("bc", "d1", "x", "") + `],"timeout":100}`,
			`{"message":[` + note("bc", "d1", "x", "") + `]}`,
		} {
			resp, b := st.postBatch(t, body)
			p := checkProblem(t, resp, b, http.StatusBadRequest, protocol.CodeBadRequest)
			if !strings.Contains(p.Detail, `unknown field`) || !strings.Contains(p.Detail, `"messages", "timeout_ms"`) {
				t.Errorf("detail %q names no unknown field", p.Detail)
			}
		}
		st.checkNothingMore(t, d1)
		st.checkNothingMore(t, d2)
	})
}

// TestSendMessageRefusesTypos checks POST /v1/messages refuses each of
// targetTypos and misspelt options without enqueueing anything.
func TestSendMessageRefusesTypos(t *testing.T) {
	a := mustAsyncAPI(t)
	to := `"to":{"account":"bc","device":"d1"}`
	tests := append(slices.Clone(targetTypos), []struct {
		name   string
		body   string
		detail []string
	}{
		{"collapse_key misspelt", `{` + to + `,` + typoMsg + `,"colapse_key":"k"}`, []string{`"colapse_key"`, `"collapse_key"`}},
		{"priority misspelt", `{` + to + `,` + typoMsg + `,"prority":"high"}`, []string{`"prority"`}},
		{"ttl misspelt", `{` + to + `,` + typoMsg + `,"ttl_s":60}`, []string{`"ttl_s"`}},
		{"a push's timeout_ms", `{` + to + `,` + typoMsg + `,"timeout_ms":100}`, []string{`"timeout_ms"`}},
	}...)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := a.postMessage(t, testAPIKey, "", tt.body)
			p := checkProblem(t, resp, b, http.StatusBadRequest, protocol.CodeBadRequest)
			for _, s := range tt.detail {
				if !strings.Contains(p.Detail, s) {
					t.Errorf("detail %q does not mention %s", p.Detail, s)
				}
			}
		})
	}
	if n, _ := a.queue.calls(); n != 0 {
		t.Errorf("%d messages enqueued, want none", n)
	}
	t.Run("a correct send names its device", func(t *testing.T) {
		a.mustSend(t, "", `{`+to+`,`+typoMsg+`,"collapse_key":"k"}`)
		if _, msgs := a.queue.calls(); len(msgs) != 1 || msgs[0].Account != "bc" || msgs[0].Device != "d1" {
			t.Errorf("enqueued %+v, want one message to bc/d1", msgs)
		}
	})
}

// TestPutDeviceRefusesTypos checks a device-list body with a misspelt member
// is refused and changes nothing.
func TestPutDeviceRefusesTypos(t *testing.T) {
	st := mustAPI(t, nil)
	resp, b := st.do(t, http.MethodPut, "/v1/accounts/bc/devices/d1", testAPIKey, []byte(`{"platform":"tv","capabilites":["playback"]}`))
	p := checkProblem(t, resp, b, http.StatusBadRequest, protocol.CodeBadRequest)
	if !strings.Contains(p.Detail, `"capabilites"`) {
		t.Errorf("detail %q does not name the field", p.Detail)
	}
	resp, b = st.do(t, http.MethodGet, "/v1/accounts/bc/devices", testAPIKey, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(string(b), "d1") {
		t.Errorf("device list: HTTP %d %s, want no d1", resp.StatusCode, b)
	}
	resp, b = st.do(t, http.MethodPut, "/v1/accounts/bc/devices/d1", testAPIKey, []byte(`{"platform":"tv","capabilities":["playback"],"attributes":{"any":"key"}}`))
	if resp.StatusCode != http.StatusCreated {
		t.Errorf("correct PUT: HTTP %d %s, want 201", resp.StatusCode, b)
	}
}

// TestPathIDsAreChecked: an account, device or message id in a route's path is
// checked by its rule before it reaches a store, a log line or the answer; an
// invalid one is 400 and is not quoted back.
func TestPathIDsAreChecked(t *testing.T) {
	st := mustAPI(t, nil)
	a := mustAsyncAPI(t)
	long := strings.Repeat("x", 129)
	tests := []struct {
		name, method, path, body string
		async                    bool
	}{
		{"list: account with a quote", http.MethodGet, "/v1/accounts/a%22b/devices", "", false},
		{"list: account too long", http.MethodGet, "/v1/accounts/" + long + "/devices", "", false},
		{"put: device with a space", http.MethodPut, "/v1/accounts/a1/devices/d%20x", `{"platform":"tv"}`, false},
		{"put: account with a newline", http.MethodPut, "/v1/accounts/a%0Ab/devices/d1", `{"platform":"tv"}`, false},
		{"delete: device with a control character", http.MethodDelete, "/v1/accounts/a1/devices/d%01", "", false},
		{"delete: device too long", http.MethodDelete, "/v1/accounts/a1/devices/" + long, "", false},
		{"status: id with a newline", http.MethodGet, "/v1/messages/x%0Ay", "", true},
		{"status: id too long", http.MethodGet, "/v1/messages/" + long, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body []byte
			if tt.body != "" {
				body = []byte(tt.body)
			}
			do := st.do
			if tt.async {
				do = a.do
			}
			resp, b := do(t, tt.method, tt.path, testAPIKey, body)
			p := checkProblem(t, resp, b, http.StatusBadRequest, protocol.CodeBadRequest)
			if strings.Contains(p.Detail, "xxxxxxxx") || strings.ContainsAny(p.Detail, "\"\n\x01") && !strings.Contains(p.Detail, "printable") {
				t.Errorf("detail %q quotes the id", p.Detail)
			}
		})
	}
}
