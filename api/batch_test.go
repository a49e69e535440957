package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// batchOf returns a POST /v1/push/batch body of items, with the batch's
// timeout_ms when it is not 0.
func batchOf(timeoutMS int, items ...string) string {
	b := `{"messages":[` + strings.Join(items, ",") + `]`
	if timeoutMS != 0 {
		b += fmt.Sprintf(`,"timeout_ms":%d`, timeoutMS)
	}
	return b + "}"
}

// note returns a batch item: a notification.v1 with title to account/device
// (the whole account when device is ""), with extra fields appended.
func note(account, device, title, extra string) string {
	to := `"account":"` + account + `"`
	if device != "" {
		to += `,"device":"` + device + `"`
	}
	return `{"to":{` + to + `},"type":"notification.v1","payload":{"title":"` + title + `"}` + extra + `}`
}

// postBatch posts body to /v1/push/batch with the test API key.
func (st *stack) postBatch(tb testing.TB, body string) (*http.Response, []byte) {
	tb.Helper()
	return st.do(tb, http.MethodPost, "/v1/push/batch", testAPIKey, []byte(body))
}

// decodeBatch checks a batch answer is 200 JSON and decodes it.
func decodeBatch(tb testing.TB, resp *http.Response, b []byte) PushBatchResponse {
	tb.Helper()
	if resp.StatusCode != http.StatusOK {
		tb.Fatalf("batch: HTTP %d %s, want 200", resp.StatusCode, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		tb.Errorf("batch: Content-Type %q, want application/json", ct)
	}
	var br PushBatchResponse
	if err := json.Unmarshal(b, &br); err != nil {
		tb.Fatalf("batch: decoding %s: %v", b, err)
	}
	return br
}

// mustBatchOK posts body to /v1/push/batch and decodes its 200 answer, which
// must have n results.
func (st *stack) mustBatchOK(tb testing.TB, body string, n int) PushBatchResponse {
	tb.Helper()
	resp, b := st.postBatch(tb, body)
	br := decodeBatch(tb, resp, b)
	if len(br.Results) != n {
		tb.Fatalf("batch: %d results, want %d: %s", len(br.Results), n, b)
	}
	return br
}

// checkSent checks that a batch result is a sent message with the results
// want, in any order, and returns its id.
func checkSent(tb testing.TB, r PushBatchResult, want ...protocol.Result) string {
	tb.Helper()
	if r.Error != nil {
		tb.Fatalf("message refused with %+v, want it sent", r.Error)
	}
	if r.PushResponse == nil || r.ID == "" {
		tb.Fatalf("result %+v has no id", r)
	}
	if r.Results == nil {
		tb.Errorf("results are null, want a list")
	}
	got := slices.Clone(r.Results)
	slices.SortFunc(got, func(a, b protocol.Result) int { return strings.Compare(a.Device, b.Device) })
	want = slices.Clone(want)
	slices.SortFunc(want, func(a, b protocol.Result) int { return strings.Compare(a.Device, b.Device) })
	if !slices.Equal(got, want) {
		tb.Errorf("results %+v, want %+v", got, want)
	}
	return r.ID
}

// checkItemProblem checks that a batch result is a refusal with HTTP status
// and code, complete and consistent like a problem body, and returns it.
func checkItemProblem(tb testing.TB, r PushBatchResult, status int, code protocol.Code) *protocol.Problem {
	tb.Helper()
	if r.PushResponse != nil {
		tb.Fatalf("message sent with %+v, want it refused with %s", r.PushResponse, code)
	}
	p := r.Error
	if p == nil {
		tb.Fatalf("result has no error, want %s", code)
	}
	if p.Status != status || p.Code != code {
		tb.Errorf("problem %d %s, want %d %s (%+v)", p.Status, p.Code, status, code, p)
	}
	if protocol.HTTPStatus(p.Code) != p.Status {
		tb.Errorf("problem code %q maps to HTTP %d, its status is %d", p.Code, protocol.HTTPStatus(p.Code), p.Status)
	}
	if want := "https://herald.dev/problems/" + string(p.Code); p.Type != want || p.Title != p.Code.Title() || p.Detail == "" {
		tb.Errorf("problem %+v: want type %q, title %q and a detail", p, want, p.Code.Title())
	}
	return p
}

// checkNextMsg checks that the next msg d reads is id, with the title.
func checkNextMsg(tb testing.TB, d *device, id, title string) *protocol.Msg {
	tb.Helper()
	m := d.mustReadMsg(tb)
	if m.ID != id {
		tb.Errorf("%s/%s got msg %q, want %q", d.account, d.id, m.ID, id)
	}
	var p struct{ Title string }
	if err := json.Unmarshal(m.Payload, &p); err != nil || p.Title != title {
		tb.Errorf("%s/%s got payload %s, want title %q", d.account, d.id, m.Payload, title)
	}
	if m.From == nil || m.From.Service != testKeyName || m.Type != "notification.v1" {
		tb.Errorf("%s/%s got msg from %+v of type %q, want from %q, notification.v1", d.account, d.id, m.From, m.Type, testKeyName)
	}
	return m
}

// checkNothingMore checks that d has no msg waiting: a push sent now is the
// next one it reads.
func (st *stack) checkNothingMore(tb testing.TB, d *device) {
	tb.Helper()
	pr := st.mustPushOK(tb, note(d.account, d.id, "probe", `,"timeout_ms":10000`))
	checkNextMsg(tb, d, pr.ID, "probe")
}

func TestPushBatchDelivery(t *testing.T) {
	st := mustStackWith(t, func(c *Config) { c.MaxBodyBytes = 1 << 16 })

	t.Run("several devices, in request order", func(t *testing.T) {
		tv := st.mustDevice(t, "a1", "tv1")
		phone := st.mustDevice(t, "a1", "phone1")
		other := st.mustDevice(t, "a2", "tv1")
		tab := st.mustDevice(t, "a3", "tab1")
		tv2 := st.mustDevice(t, "a3", "tv2")
		br := st.mustBatchOK(t, batchOf(10000,
			note("a1", "tv1", "one", ""),
			note("a1", "phone1", "two", ""),
			note("a2", "tv1", "three", ""),
			note("a3", "", "four", ""),
			note("a1", "tv9", "five", ""),
			note("nobody", "", "six", ""),
		), 6)
		delivered := func(d string) protocol.Result { return protocol.Result{Device: d, Status: protocol.StatusDelivered} }
		ids := []string{
			checkSent(t, br.Results[0], delivered("tv1")),
			checkSent(t, br.Results[1], delivered("phone1")),
			checkSent(t, br.Results[2], delivered("tv1")),
			checkSent(t, br.Results[3], delivered("tab1"), delivered("tv2")),
			checkSent(t, br.Results[4], protocol.Result{Device: "tv9", Status: protocol.StatusOffline}),
			checkSent(t, br.Results[5]),
		}
		if len(slices.Compact(slices.Sorted(slices.Values(ids)))) != len(ids) {
			t.Errorf("ids %v are not distinct", ids)
		}
		checkNextMsg(t, tv, ids[0], "one")
		checkNextMsg(t, phone, ids[1], "two")
		checkNextMsg(t, other, ids[2], "three")
		checkNextMsg(t, tab, ids[3], "four")
		checkNextMsg(t, tv2, ids[3], "four")
		for _, d := range []*device{tv, phone, other, tab, tv2} {
			st.checkNothingMore(t, d)
		}
	})

	t.Run("mixed valid and invalid messages", func(t *testing.T) {
		tv := st.mustDevice(t, "b1", "tv1")
		tv2 := st.mustDevice(t, "b1", "tv2")
		to := `"to":{"account":"b1","device":"tv1"}`
		items := []struct {
			name    string
			item    string
			device  *device // sent to it, when not nil
			title   string
			status  int
			code    protocol.Code
			detail  string // a substring of the problem's detail
			pointer string // wanted in errors[].pointer, when not ""
		}{
			{name: "valid", item: note("b1", "tv1", "first", ""), device: tv, title: "first"},
			{name: "payload fails the schema", item: `{` + to + `,"type":"notification.v1","payload":{"title":5}}`,
				status: 422, code: protocol.CodeSchemaInvalid, detail: "/title", pointer: "/title"},
			{name: "unknown type", item: `{` + to + `,"type":"nope.thing.v1","payload":{}}`,
				status: 422, code: protocol.CodeUnknownType, detail: "nope.thing.v1"},
			{name: "device-to-device type", item: `{` + to + `,"type":"remote.key.v1","payload":{"key":"up"}}`,
				status: 403, code: protocol.CodeForbidden, detail: "remote.key.v1"},
			{name: "payload over the type's max_bytes", item: `{` + to + `,"type":"test.small.v1","payload":{"note":"` + strings.Repeat("n", 100) + `"}}`,
				status: 413, code: protocol.CodeTooLarge, detail: "64"},
			{name: "missing to.account", item: `{"to":{"device":"tv1"},"type":"notification.v1","payload":{"title":"x"}}`,
				status: 400, code: protocol.CodeBadRequest, detail: `"to.account"`},
			{name: "to.account of the wrong JSON type", item: `{"to":{"account":7},"type":"notification.v1","payload":{"title":"x"}}`,
				status: 400, code: protocol.CodeBadRequest, detail: "to.account"},
			{name: "missing payload", item: `{` + to + `,"type":"notification.v1"}`,
				status: 400, code: protocol.CodeBadRequest, detail: `"payload"`},
			{name: "timeout_ms on a message", item: note("b1", "tv1", "x", `,"timeout_ms":100`),
				status: 400, code: protocol.CodeBadRequest, detail: "timeout_ms"},
			{name: "a number", item: `5`, status: 400, code: protocol.CodeBadRequest, detail: "JSON object"},
			{name: "null", item: `null`, status: 400, code: protocol.CodeBadRequest, detail: "JSON object"},
			{name: "a list", item: `[` + note("b1", "tv1", "x", "") + `]`, status: 400, code: protocol.CodeBadRequest, detail: "JSON object"},
			{name: "valid after the invalid ones", item: note("b1", "tv2", "last", ""), device: tv2, title: "last"},
		}
		var bodies []string
		for _, it := range items {
			bodies = append(bodies, it.item)
		}
		br := st.mustBatchOK(t, batchOf(10000, bodies...), len(items))
		for i, it := range items {
			t.Run(it.name, func(t *testing.T) {
				r := br.Results[i]
				if it.device != nil {
					id := checkSent(t, r, protocol.Result{Device: it.device.id, Status: protocol.StatusDelivered})
					checkNextMsg(t, it.device, id, it.title)
					return
				}
				p := checkItemProblem(t, r, it.status, it.code)
				if !strings.Contains(p.Detail, it.detail) {
					t.Errorf("detail %q does not mention %q", p.Detail, it.detail)
				}
				if it.pointer != "" && !slices.ContainsFunc(p.Details, func(d protocol.Detail) bool { return d.Pointer == it.pointer }) {
					t.Errorf("errors %+v name no pointer %q", p.Details, it.pointer)
				}
			})
		}
		// Nothing of the refused messages reached a device.
		st.checkNothingMore(t, tv)
		st.checkNothingMore(t, tv2)
	})

	t.Run("ack items", func(t *testing.T) {
		tv := st.mustDevice(t, "c1", "tv1")
		tv2 := st.mustDevice(t, "c1", "tv2")
		tv3 := st.mustDevice(t, "c1", "tv3")
		type answer struct {
			resp *http.Response
			body []byte
			err  error
		}
		done := make(chan answer, 1)
		go func() {
			// The batch answers only after the acks, which this goroutine cannot send.
			resp, b, err := st.send(http.MethodPost, "/v1/push/batch", testAPIKey, []byte(batchOf(15000,
				note("c1", "tv1", "ack me", `,"ack":true`),
				note("c1", "tv2", "ack me too", `,"ack":true`),
				note("c1", "tv3", "no ack", `,"ack":false`),
			)))
			done <- answer{resp, b, err}
		}()
		var ids []string
		for _, c := range []struct {
			d     *device
			title string
			ack   bool
		}{{tv, "ack me", true}, {tv2, "ack me too", true}, {tv3, "no ack", false}} {
			m := c.d.mustReadMsg(t)
			if m.Ack != c.ack {
				t.Errorf("%s got ack %v, want %v", c.d.id, m.Ack, c.ack)
			}
			if c.ack {
				c.d.mustWrite(t, &protocol.Ack{ID: m.ID})
			}
			ids = append(ids, m.ID)
		}
		a := <-done
		if a.err != nil {
			t.Fatal(a.err)
		}
		br := decodeBatch(t, a.resp, a.body)
		if len(br.Results) != 3 {
			t.Fatalf("%d results, want 3: %s", len(br.Results), a.body)
		}
		for i, want := range []protocol.Result{
			{Device: "tv1", Status: protocol.StatusAcked},
			{Device: "tv2", Status: protocol.StatusAcked},
			{Device: "tv3", Status: protocol.StatusDelivered},
		} {
			if id := checkSent(t, br.Results[i], want); id != ids[i] {
				t.Errorf("result %d has id %q, the device got %q", i, id, ids[i])
			}
		}
	})

	t.Run("timeout_ms bounds the whole batch", func(t *testing.T) {
		tv := st.mustDevice(t, "d1", "tv1")
		tv2 := st.mustDevice(t, "d1", "tv2")
		br := st.mustBatchOK(t, batchOf(300,
			note("d1", "tv1", "ignore me", `,"ack":true`),
			note("d1", "tv2", "plain", ""),
		), 2)
		id := checkSent(t, br.Results[0], protocol.Result{Device: "tv1", Status: protocol.StatusTimeout})
		if m := checkNextMsg(t, tv, id, "ignore me"); !m.Ack {
			t.Errorf("msg %s does not ask for an ack", m.ID)
		}
		id = checkSent(t, br.Results[1], protocol.Result{Device: "tv2", Status: protocol.StatusDelivered})
		checkNextMsg(t, tv2, id, "plain")
	})
}

// failingDirectory is a Directory that cannot list the account broken.
type failingDirectory struct {
	Directory
}

var errDirectoryDown = errors.New("directory down")

func (f failingDirectory) Connected(ctx context.Context, account string) ([]string, error) {
	if account == "broken" {
		return nil, errDirectoryDown
	}
	return f.Directory.Connected(ctx, account)
}

func TestPushBatchTargets(t *testing.T) {
	// One delivery at a time, and one device per push.
	st := mustStackWith(t, func(c *Config) {
		c.MaxTargets = 1
		c.Directory = failingDirectory{c.Directory}
	})

	t.Run("an account that cannot be listed or has too many devices", func(t *testing.T) {
		tv := st.mustDevice(t, "e1", "tv1")
		st.mustDevice(t, "e2", "tv1")
		st.mustDevice(t, "e2", "tv2")
		br := st.mustBatchOK(t, batchOf(10000,
			note("broken", "", "x", ""),
			note("e2", "", "x", ""),
			note("e1", "", "sent", ""),
		), 3)
		checkItemProblem(t, br.Results[0], http.StatusServiceUnavailable, protocol.CodeUnavailable)
		p := checkItemProblem(t, br.Results[1], http.StatusRequestEntityTooLarge, protocol.CodeTooLarge)
		if !strings.Contains(p.Detail, "2 devices") {
			t.Errorf("detail %q does not name the 2 devices", p.Detail)
		}
		id := checkSent(t, br.Results[2], protocol.Result{Device: "tv1", Status: protocol.StatusDelivered})
		checkNextMsg(t, tv, id, "sent")
	})

	t.Run("a delivery that cannot start before the timeout is timeout", func(t *testing.T) {
		// The first message holds the only delivery slot until the timeout, as
		// its device never acknowledges; the second never starts.
		tv := st.mustDevice(t, "f1", "tv1")
		tv2 := st.mustDevice(t, "f1", "tv2")
		br := st.mustBatchOK(t, batchOf(300,
			note("f1", "tv1", "ignore me", `,"ack":true`),
			note("f1", "tv2", "never sent", ""),
		), 2)
		id := checkSent(t, br.Results[0], protocol.Result{Device: "tv1", Status: protocol.StatusTimeout})
		checkNextMsg(t, tv, id, "ignore me")
		checkSent(t, br.Results[1], protocol.Result{Device: "tv2", Status: protocol.StatusTimeout})
		st.checkNothingMore(t, tv2)
	})
}

func TestPushBatchRefused(t *testing.T) {
	const maxBatch = 4
	st := mustStackWith(t, func(c *Config) { c.MaxBatch = maxBatch; c.MaxBodyBytes = 4096 })
	offline := func(n int) []string {
		items := make([]string, n)
		for i := range items {
			items[i] = note("g1", fmt.Sprintf("tv%d", i), "x", "")
		}
		return items
	}
	tests := []struct {
		name   string
		key    string // API key; "-" sends none
		body   string
		status int
		code   protocol.Code
		detail []string // substrings of the problem's detail
		n      int      // results of a 200
	}{
		{name: "exactly MaxBatch messages", body: batchOf(0, offline(maxBatch)...), status: 200, n: maxBatch},
		{name: "one message", body: batchOf(0, offline(1)...), status: 200, n: 1},
		{name: "MaxBatch+1 messages", body: batchOf(0, offline(maxBatch+1)...),
			status: 413, code: protocol.CodeTooLarge, detail: []string{fmt.Sprint(maxBatch + 1), fmt.Sprint(maxBatch)}},
		{name: "an empty list", body: batchOf(0), status: 400, code: protocol.CodeBadRequest, detail: []string{`"messages"`, "empty"}},
		{name: "no messages", body: `{"timeout_ms":100}`, status: 400, code: protocol.CodeBadRequest, detail: []string{`"messages"`}},
		{name: "null messages", body: `{"messages":null}`, status: 400, code: protocol.CodeBadRequest, detail: []string{`"messages"`}},
		{name: "a single push instead of a batch", body: note("g1", "tv1", "x", ""), status: 400, code: protocol.CodeBadRequest, detail: []string{`"messages"`}},
		{name: "messages not a list", body: `{"messages":{}}`, status: 400, code: protocol.CodeBadRequest, detail: []string{`"messages"`}},
		{name: "malformed JSON", body: `{"messages":[` + note("g1", "tv1", "x", ""), status: 400, code: protocol.CodeBadRequest, detail: []string{"not valid JSON"}},
		{name: "empty body", body: ``, status: 400, code: protocol.CodeBadRequest, detail: []string{"JSON"}},
		{name: "timeout_ms above MaxPushTimeout", body: batchOf(30001, offline(1)...), status: 400, code: protocol.CodeBadRequest, detail: []string{"timeout_ms", "30000"}},
		{name: "negative timeout_ms", body: batchOf(-1, offline(1)...), status: 400, code: protocol.CodeBadRequest, detail: []string{"timeout_ms"}},
		{name: "timeout_ms overflowing a duration", body: batchOf(18446744073710, offline(1)...), status: 400, code: protocol.CodeBadRequest, detail: []string{"timeout_ms"}},
		{name: "body over MaxBodyBytes", body: batchOf(0, note("g1", "tv1", strings.Repeat("x", 4096), "")),
			status: 413, code: protocol.CodeTooLarge, detail: []string{"4096"}},
		{name: "missing API key", key: "-", body: batchOf(0, offline(1)...), status: 401, code: protocol.CodeUnauthorized, detail: []string{"API key"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key := testAPIKey
			if tt.key == "-" {
				key = ""
			}
			resp, body := st.do(t, http.MethodPost, "/v1/push/batch", key, []byte(tt.body))
			if tt.status == http.StatusOK {
				br := decodeBatch(t, resp, body)
				if len(br.Results) != tt.n {
					t.Fatalf("%d results, want %d", len(br.Results), tt.n)
				}
				for i, r := range br.Results {
					checkSent(t, r, protocol.Result{Device: fmt.Sprintf("tv%d", i), Status: protocol.StatusOffline})
				}
				return
			}
			p := checkProblem(t, resp, body, tt.status, tt.code)
			for _, s := range tt.detail {
				if !strings.Contains(p.Detail, s) {
					t.Errorf("detail %q does not mention %q", p.Detail, s)
				}
			}
		})
	}
}

func TestPushBatchDefaults(t *testing.T) {
	st := mustAPI(t, nil)
	if got := st.api.cfg.MaxBatch; got != DefaultMaxBatch {
		t.Errorf("MaxBatch %d, want DefaultMaxBatch %d", got, DefaultMaxBatch)
	}
	cfg := st.api.cfg
	cfg.MaxBatch = -1
	if _, err := New(cfg); err == nil {
		t.Error("New accepted a negative MaxBatch")
	}
}
