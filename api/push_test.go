package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// compact returns the compact form of a JSON text, for comparing payloads.
func compact(tb testing.TB, s []byte) string {
	tb.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, s); err != nil {
		tb.Fatalf("compact %s: %v", s, err)
	}
	return b.String()
}

func TestPushDelivery(t *testing.T) {
	st := mustStack(t)

	t.Run("connected device gets the msg", func(t *testing.T) {
		tv := st.mustDevice(t, "a1", "tv1")
		payload := `{"title":"Hi","body":"from the backend"}`
		pr := st.mustPushOK(t, `{"to":{"account":"a1","device":"tv1"},"type":"notification.v1","payload":`+payload+`,"timeout_ms":10000}`)
		want := []protocol.Result{{Device: "tv1", Status: protocol.StatusDelivered}}
		if !slices.Equal(pr.Results, want) {
			t.Errorf("results %+v, want %+v", pr.Results, want)
		}
		m := tv.mustReadMsg(t)
		if m.ID != pr.ID {
			t.Errorf("msg id %q, response id %q", m.ID, pr.ID)
		}
		if m.From == nil || m.From.Service != testKeyName || m.From.Device != "" {
			t.Errorf("msg from %+v, want service %q", m.From, testKeyName)
		}
		if m.Type != "notification.v1" {
			t.Errorf("msg type %q, want notification.v1", m.Type)
		}
		if got, want := compact(t, m.Payload), compact(t, []byte(payload)); got != want {
			t.Errorf("msg payload %s, want %s", got, want)
		}
		if m.Ack {
			t.Errorf("msg asks for an ack; notification.v1 does not by default")
		}
	})

	t.Run("unconnected device is offline", func(t *testing.T) {
		pr := st.mustPushOK(t, `{"to":{"account":"a1","device":"tv9"},"type":"notification.v1","payload":{"title":"Hi"}}`)
		want := []protocol.Result{{Device: "tv9", Status: protocol.StatusOffline}}
		if !slices.Equal(pr.Results, want) {
			t.Errorf("results %+v, want %+v", pr.Results, want)
		}
	})

	t.Run("no device reaches every connected device of the account", func(t *testing.T) {
		// The account has three devices, of which phone3 is no longer connected;
		// a device of another account with the same id as one of them must not be
		// reached.
		tv := st.mustDevice(t, "a2", "tv1")
		tab := st.mustDevice(t, "a2", "tab2")
		st.mustClose(t, st.mustDevice(t, "a2", "phone3"))
		other := st.mustDevice(t, "a3", "tv1")
		pr := st.mustPushOK(t, `{"to":{"account":"a2"},"type":"notification.v1","payload":{"title":"All"},"timeout_ms":10000}`)
		got := slices.Clone(pr.Results)
		slices.SortFunc(got, func(a, b protocol.Result) int { return strings.Compare(a.Device, b.Device) })
		want := []protocol.Result{{Device: "tab2", Status: protocol.StatusDelivered}, {Device: "tv1", Status: protocol.StatusDelivered}}
		if !slices.Equal(got, want) {
			t.Errorf("results %+v, want %+v", got, want)
		}
		for _, d := range []*device{tv, tab} {
			if m := d.mustReadMsg(t); m.ID != pr.ID {
				t.Errorf("%s got msg %q, want %q", d.id, m.ID, pr.ID)
			}
		}
		// other gets nothing: a push to its own account is the next frame it reads.
		pr2 := st.mustPushOK(t, `{"to":{"account":"a3","device":"tv1"},"type":"notification.v1","payload":{"title":"Own"},"timeout_ms":10000}`)
		if m := other.mustReadMsg(t); m.ID != pr2.ID {
			t.Errorf("a3/tv1 got msg %q, want only its own %q", m.ID, pr2.ID)
		}
	})

	t.Run("account without connected devices gets no results", func(t *testing.T) {
		pr := st.mustPushOK(t, `{"to":{"account":"nobody"},"type":"notification.v1","payload":{"title":"Hi"}}`)
		if pr.Results == nil || len(pr.Results) != 0 {
			t.Errorf("results %#v, want an empty list", pr.Results)
		}
	})

	t.Run("ack from the device is acked", func(t *testing.T) {
		d := st.mustDevice(t, "a4", "tv1")
		type answer struct {
			resp *http.Response
			body []byte
			err  error
		}
		done := make(chan answer, 1)
		go func() {
			// The push answers only after the ack, which this goroutine cannot send.
			resp, b, err := st.send(http.MethodPost, "/v1/push", testAPIKey,
				[]byte(`{"to":{"account":"a4","device":"tv1"},"type":"notification.v1","payload":{"title":"Ack me"},"ack":true,"timeout_ms":15000}`))
			done <- answer{resp, b, err}
		}()
		m := d.mustReadMsg(t)
		if !m.Ack {
			t.Errorf("msg %s does not ask for an ack", m.ID)
		}
		d.mustWrite(t, &protocol.Ack{ID: m.ID})
		a := <-done
		if a.err != nil {
			t.Fatal(a.err)
		}
		if a.resp.StatusCode != http.StatusOK {
			t.Fatalf("push: HTTP %d %s", a.resp.StatusCode, a.body)
		}
		var pr PushResponse
		if err := json.Unmarshal(a.body, &pr); err != nil {
			t.Fatalf("decoding %s: %v", a.body, err)
		}
		if pr.ID != m.ID {
			t.Errorf("response id %q, msg id %q", pr.ID, m.ID)
		}
		want := []protocol.Result{{Device: "tv1", Status: protocol.StatusAcked}}
		if !slices.Equal(pr.Results, want) {
			t.Errorf("results %+v, want %+v", pr.Results, want)
		}
	})

	t.Run("no ack within timeout_ms is timeout", func(t *testing.T) {
		d := st.mustDevice(t, "a5", "tv1")
		pr := st.mustPushOK(t, `{"to":{"account":"a5","device":"tv1"},"type":"notification.v1","payload":{"title":"Ignore me"},"ack":true,"timeout_ms":300}`)
		want := []protocol.Result{{Device: "tv1", Status: protocol.StatusTimeout}}
		if !slices.Equal(pr.Results, want) {
			t.Errorf("results %+v, want %+v", pr.Results, want)
		}
		if m := d.mustReadMsg(t); m.ID != pr.ID || !m.Ack {
			t.Errorf("device got msg %q (ack %v), want %q asking for an ack", m.ID, m.Ack, pr.ID)
		}
	})
}

func TestPushErrors(t *testing.T) {
	st := mustStack(t)
	to := `"to":{"account":"a1","device":"nobody"}`
	tests := []struct {
		name    string
		key     string // API key; "-" sends none
		body    string
		status  int
		code    protocol.Code
		detail  []string // substrings of the problem's detail
		pointer string   // wanted in errors[].pointer, when not ""
	}{
		{
			name: "payload fails the schema", body: `{` + to + `,"type":"notification.v1","payload":{"title":5}}`,
			status: 422, code: protocol.CodeSchemaInvalid, detail: []string{"/title"}, pointer: "/title",
		},
		{
			name: "payload misses a required field", body: `{` + to + `,"type":"notification.v1","payload":{"body":"no title"}}`,
			status: 422, code: protocol.CodeSchemaInvalid, detail: []string{"title"},
		},
		{
			name: "unknown type", body: `{` + to + `,"type":"nope.thing.v1","payload":{}}`,
			status: 422, code: protocol.CodeUnknownType, detail: []string{"nope.thing.v1"},
		},
		{
			name: "device-to-device type", body: `{` + to + `,"type":"remote.key.v1","payload":{"key":"up"}}`,
			status: 403, code: protocol.CodeForbidden, detail: []string{"remote.key.v1"},
		},
		{
			name: "payload over the type's max_bytes", body: `{` + to + `,"type":"test.small.v1","payload":{"note":"` + strings.Repeat("n", 100) + `"}}`,
			status: 413, code: protocol.CodeTooLarge, detail: []string{"64"},
		},
		{
			name: "body over MaxBodyBytes", body: `{` + to + `,"type":"notification.v1","payload":{"title":"` + strings.Repeat("x", testMaxBodyBytes) + `"}}`,
			status: 413, code: protocol.CodeTooLarge, detail: []string{fmt.Sprint(testMaxBodyBytes)},
		},
		{
			name: "malformed JSON", body: `{` + to + `,"type":"notification.v1",`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{"not valid JSON"},
		},
		{
			name: "empty body", body: ``,
			status: 400, code: protocol.CodeBadRequest, detail: []string{"JSON"},
		},
		{
			name: "body is not an object", body: `["to"]`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{"JSON object"},
		},
		{
			name: "timeout_ms of the wrong JSON type", body: `{` + to + `,"type":"notification.v1","payload":{"title":"x"},"timeout_ms":"x"}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"timeout_ms"`},
		},
		{
			name: "to.account of the wrong JSON type", body: `{"to":{"account":7},"type":"notification.v1","payload":{"title":"x"}}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`to.account`},
		},
		{
			name: "timeout_ms above MaxPushTimeout", body: `{` + to + `,"type":"notification.v1","payload":{"title":"x"},"timeout_ms":30001}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{"timeout_ms", "30000"},
		},
		{
			// 18446744073710 ms is 2^64 ns and a little more: a Duration wraps to 0.4 ms.
			name: "timeout_ms overflowing a duration", body: `{` + to + `,"type":"notification.v1","payload":{"title":"x"},"timeout_ms":18446744073710}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{"timeout_ms"},
		},
		{
			name: "negative timeout_ms", body: `{` + to + `,"type":"notification.v1","payload":{"title":"x"},"timeout_ms":-1}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{"timeout_ms"},
		},
		{
			name: "missing to.account", body: `{"to":{"device":"tv1"},"type":"notification.v1","payload":{"title":"x"}}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"to.account"`},
		},
		{
			name: "missing type", body: `{` + to + `,"payload":{"title":"x"}}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"type"`},
		},
		{
			name: "missing payload", body: `{` + to + `,"type":"notification.v1"}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"payload"`},
		},
		{
			name: "null payload", body: `{` + to + `,"type":"notification.v1","payload":null}`,
			status: 400, code: protocol.CodeBadRequest, detail: []string{`"payload"`},
		},
		{
			name: "missing API key", key: "-", body: `{` + to + `,"type":"notification.v1","payload":{"title":"x"}}`,
			status: 401, code: protocol.CodeUnauthorized, detail: []string{"API key"},
		},
		{
			name: "wrong API key", key: "secret-key-2", body: `{` + to + `,"type":"notification.v1","payload":{"title":"x"}}`,
			status: 401, code: protocol.CodeUnauthorized, detail: []string{"API key"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testAPIKey
			switch tt.key {
			case "-":
				key = ""
			case "":
			default:
				key = tt.key
			}
			resp, body := st.do(t, http.MethodPost, "/v1/push", key, []byte(tt.body))
			p := checkProblem(t, resp, body, tt.status, tt.code)
			for _, s := range tt.detail {
				if !strings.Contains(p.Detail, s) {
					t.Errorf("detail %q does not mention %q", p.Detail, s)
				}
			}
			if tt.pointer != "" && !slices.ContainsFunc(p.Details, func(d protocol.Detail) bool { return d.Pointer == tt.pointer }) {
				t.Errorf("errors %+v name no pointer %q", p.Details, tt.pointer)
			}
			if tt.status == http.StatusUnauthorized {
				if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") {
					t.Errorf("WWW-Authenticate %q, want a Bearer challenge", h)
				}
			}
		})
	}
}

func TestPushBodyLimit(t *testing.T) {
	st := mustStack(t)
	// body returns a valid push of exactly n bytes.
	body := func(tb testing.TB, n int) string {
		tb.Helper()
		head := `{"to":{"account":"a1","device":"nobody"},"type":"notification.v1","payload":{"title":"t","body":"`
		tail := `"}}`
		pad := n - len(head) - len(tail)
		if pad < 0 {
			tb.Fatalf("a push cannot be %d bytes", n)
		}
		return head + strings.Repeat("x", pad) + tail
	}
	tests := []struct {
		name   string
		size   int
		status int
	}{
		{"one byte under the limit", testMaxBodyBytes - 1, http.StatusOK},
		{"exactly the limit", testMaxBodyBytes, http.StatusOK},
		{"one byte over the limit", testMaxBodyBytes + 1, http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := body(t, tt.size)
			if len(b) != tt.size {
				t.Fatalf("built a %d-byte body, want %d", len(b), tt.size)
			}
			resp, rb := st.push(t, b)
			if tt.status != http.StatusOK {
				checkProblem(t, resp, rb, tt.status, protocol.CodeTooLarge)
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d %s, want 200", resp.StatusCode, rb)
			}
			var pr PushResponse
			if err := json.Unmarshal(rb, &pr); err != nil {
				t.Fatalf("decoding %s: %v", rb, err)
			}
			want := []protocol.Result{{Device: "nobody", Status: protocol.StatusOffline}}
			if !slices.Equal(pr.Results, want) {
				t.Errorf("results %+v, want %+v", pr.Results, want)
			}
		})
	}
}
