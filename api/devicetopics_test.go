package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// device connects account/id with a token without a topics claim and reads
// its welcome.
func (st *stack) device(t *testing.T, account, id string) *websocket.Conn {
	t.Helper()
	tok, err := st.iss.Issue(account, id, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	u := "ws" + st.url[len("http"):] + "/v1/connect"
	c, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	if _, ok := readFrame(t, c).(*protocol.Welcome); !ok {
		t.Fatal("no welcome")
	}
	return c
}

// readFrame reads c's next frame.
func readFrame(t *testing.T, c *websocket.Conn) protocol.Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, b, err := c.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	f, err := protocol.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// publishCount publishes to topic and returns how many devices it reached.
func (st *stack) publishCount(t *testing.T, topic string) (string, int) {
	t.Helper()
	resp, body := st.do(t, http.MethodPost, "/v1/topics/"+topic+"/messages", testAPIKey, []byte(`{"type":"notification.v1","payload":{"title":"t"}}`))
	var pr PublishResponse
	if err := json.Unmarshal(body, &pr); resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("publish: HTTP %d %s", resp.StatusCode, body)
	}
	return pr.ID, pr.Devices
}

// wantStatus sends a request and checks its status.
func (st *stack) wantStatus(t *testing.T, method, path, body string, status int) []byte {
	t.Helper()
	resp, b := st.do(t, method, path, testAPIKey, []byte(body))
	if resp.StatusCode != status {
		t.Fatalf("%s %s: HTTP %d %s, want %d", method, path, resp.StatusCode, b, status)
	}
	return b
}

// TestDeviceTopicsREST subscribes a device through the REST routes, checks
// their answers, and that a connected device gets each change without a
// reconnect.
func TestDeviceTopicsREST(t *testing.T) {
	st := mustStackWith(t, func(c *Config) { c.MaxDeviceTopics = 2 })
	const dev = "/v1/accounts/a1/devices/tv1"
	st.wantStatus(t, http.MethodPut, dev, `{}`, http.StatusCreated)
	tv := st.device(t, "a1", "tv1")

	body := st.wantStatus(t, http.MethodPut, dev+"/topics/news.sports", "", http.StatusCreated)
	if strings.TrimSpace(string(body)) != `{"account":"a1","device":"tv1","topic":"news.sports"}` {
		t.Errorf("PUT answered %s", body)
	}
	st.wantStatus(t, http.MethodPut, dev+"/topics/news.sports", "", http.StatusNoContent)
	// Applied before the PUT answered: the edge is in this process.
	id, n := st.publishCount(t, "news.sports")
	if n != 1 {
		t.Fatalf("publish after PUT reached %d devices, want 1", n)
	}
	if m, ok := readFrame(t, tv).(*protocol.Msg); !ok || m.ID != id || m.Topic != "news.sports" {
		t.Fatalf("device got %+v, want %s", m, id)
	}

	st.wantStatus(t, http.MethodPut, dev+"/topics/a", "", http.StatusCreated)
	resp, b := st.do(t, http.MethodPut, dev+"/topics/b", testAPIKey, nil)
	checkProblem(t, resp, b, http.StatusConflict, protocol.CodeConflict)
	list := st.wantStatus(t, http.MethodGet, dev+"/topics", "", http.StatusOK)
	if strings.TrimSpace(string(list)) != `{"account":"a1","device":"tv1","topics":["a","news.sports"]}` {
		t.Errorf("GET answered %s", list)
	}

	st.wantStatus(t, http.MethodDelete, dev+"/topics/news.sports", "", http.StatusNoContent)
	resp, b = st.do(t, http.MethodDelete, dev+"/topics/news.sports", testAPIKey, nil)
	checkProblem(t, resp, b, http.StatusNotFound, protocol.CodeNotFound)
	if _, n := st.publishCount(t, "news.sports"); n != 0 {
		t.Fatalf("publish after DELETE reached %d devices, want 0", n)
	}

	t.Run("deleting the device deletes its topics", func(t *testing.T) {
		st.wantStatus(t, http.MethodPut, "/v1/accounts/a1/devices/gone", `{}`, http.StatusCreated)
		st.wantStatus(t, http.MethodPut, "/v1/accounts/a1/devices/gone/topics/x", "", http.StatusCreated)
		st.wantStatus(t, http.MethodDelete, "/v1/accounts/a1/devices/gone", "", http.StatusNoContent)
		st.wantStatus(t, http.MethodPut, "/v1/accounts/a1/devices/gone", `{}`, http.StatusCreated)
		if b := st.wantStatus(t, http.MethodGet, "/v1/accounts/a1/devices/gone/topics", "", http.StatusOK); !strings.Contains(string(b), `"topics":[]`) {
			t.Fatalf("topics of a device deleted and added again: %s", b)
		}
	})

	secret := "s3cr3t"
	for _, tc := range []struct {
		name, method, path string
		status             int
		code               protocol.Code
	}{
		{"PUT for an unknown device", http.MethodPut, "/v1/accounts/a1/devices/nope/topics/x", 404, protocol.CodeNotFound},
		{"GET for an unknown device", http.MethodGet, "/v1/accounts/a1/devices/nope/topics", 404, protocol.CodeNotFound},
		{"invalid topic", http.MethodPut, dev + "/topics/" + secret + "..x", 400, protocol.CodeBadRequest},
		{"wildcard topic", http.MethodDelete, dev + "/topics/" + secret + ".*", 400, protocol.CodeBadRequest},
		{"long topic", http.MethodPut, dev + "/topics/" + secret + strings.Repeat("x", 129), 400, protocol.CodeBadRequest},
		{"invalid account", http.MethodPut, "/v1/accounts/" + secret + "%20/devices/tv1/topics/x", 400, protocol.CodeBadRequest},
		{"invalid device", http.MethodGet, "/v1/accounts/a1/devices/" + secret + "%21/topics", 400, protocol.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := st.do(t, tc.method, tc.path, testAPIKey, nil)
			checkProblem(t, resp, b, tc.status, tc.code)
			if strings.Contains(string(b), secret) {
				t.Errorf("the problem quotes the bad value: %s", b)
			}
		})
	}
}

// TestTopicSubscribers checks POST /v1/topics/{topic}/subscribers: results
// per entry, the limit of entries at its edge, and refusals that quote no
// bad value.
func TestTopicSubscribers(t *testing.T) {
	const max = 4
	st := mustStackWith(t, func(c *Config) { c.MaxSubscribers = max; c.MaxDeviceTopics = 1 })
	for _, d := range []string{"tv1", "tv2", "full"} {
		st.wantStatus(t, http.MethodPut, "/v1/accounts/a1/devices/"+d, `{}`, http.StatusCreated)
	}
	st.wantStatus(t, http.MethodPut, "/v1/accounts/a1/devices/tv2/topics/news", "", http.StatusCreated)
	st.wantStatus(t, http.MethodPut, "/v1/accounts/a1/devices/full/topics/other", "", http.StatusCreated)
	tv1 := st.device(t, "a1", "tv1")

	body := st.wantStatus(t, http.MethodPost, "/v1/topics/news/subscribers",
		`{"add":[{"account":"a1","device":"tv1"},{"account":"a1","device":"tv2"},{"account":"a1","device":"full"},{"account":"a2","device":"tv1"}]}`, http.StatusOK)
	var res SubscribersResponse
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range res.Add {
		got = append(got, r.Account+"/"+r.Device+":"+r.Status)
	}
	if want := []string{"a1/tv1:created", "a1/tv2:existed", "a1/full:limit", "a2/tv1:not_found"}; res.Topic != "news" || !slices.Equal(got, want) || len(res.Remove) != 0 {
		t.Fatalf("add answered %s, want %v", body, want)
	}
	id, n := st.publishCount(t, "news")
	if n != 1 {
		t.Fatalf("publish reached %d devices, want tv1 only", n)
	}
	if m, ok := readFrame(t, tv1).(*protocol.Msg); !ok || m.ID != id {
		t.Fatalf("tv1 got %+v, want %s", m, id)
	}

	body = st.wantStatus(t, http.MethodPost, "/v1/topics/news/subscribers",
		`{"remove":[{"account":"a1","device":"tv1"},{"account":"a1","device":"full"}]}`, http.StatusOK)
	if !strings.Contains(string(body), `"remove":[{"account":"a1","device":"tv1","status":"removed"},{"account":"a1","device":"full","status":"absent"}]`) {
		t.Fatalf("remove answered %s", body)
	}
	if _, n := st.publishCount(t, "news"); n != 0 {
		t.Fatalf("publish after the remove reached %d devices, want 0", n)
	}

	entries := func(n int) string {
		var e []string
		for i := range n {
			e = append(e, fmt.Sprintf(`{"account":"a1","device":"d%d"}`, i))
		}
		return strings.Join(e, ",")
	}
	secret := "s3cr3t"
	for _, tc := range []struct {
		name, path, body string
		status           int
		code             protocol.Code
	}{
		{"at the limit of entries", "/v1/topics/news/subscribers", `{"add":[` + entries(max-1) + `],"remove":[` + entries(1) + `]}`, 200, ""},
		{"past the limit of entries", "/v1/topics/news/subscribers", `{"add":[` + entries(max) + `],"remove":[` + entries(1) + `]}`, 413, protocol.CodeTooLarge},
		{"no entries", "/v1/topics/news/subscribers", `{"add":[]}`, 400, protocol.CodeBadRequest},
		{"invalid device", "/v1/topics/news/subscribers", `{"add":[{"account":"a1","device":"tv1"}],"remove":[{"account":"a1","device":"` + secret + ` x"}]}`, 400, protocol.CodeBadRequest},
		{"missing account", "/v1/topics/news/subscribers", `{"add":[{"device":"tv1"}]}`, 400, protocol.CodeBadRequest},
		{"misspelt member", "/v1/topics/news/subscribers", `{"add":[{"account":"a1","device_id":"tv1"}]}`, 400, protocol.CodeBadRequest},
		{"invalid topic", "/v1/topics/" + secret + "..x/subscribers", `{"add":[{"account":"a1","device":"tv1"}]}`, 400, protocol.CodeBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, b := st.do(t, http.MethodPost, tc.path, testAPIKey, []byte(tc.body))
			if tc.code == "" {
				if resp.StatusCode != tc.status {
					t.Fatalf("HTTP %d %s, want %d", resp.StatusCode, b, tc.status)
				}
				return
			}
			checkProblem(t, resp, b, tc.status, tc.code)
			if strings.Contains(string(b), secret) {
				t.Errorf("the problem quotes the bad value: %s", b)
			}
		})
	}
	// Nothing of a refused request was applied.
	if b := st.wantStatus(t, http.MethodGet, "/v1/accounts/a1/devices/tv1/topics", "", http.StatusOK); !strings.Contains(string(b), `"topics":[]`) {
		t.Fatalf("tv1's topics after refused requests: %s", b)
	}
}

// TestDeviceTopicsWithoutStore checks that the routes answer 503 on a server
// without a store of subscriptions.
func TestDeviceTopicsWithoutStore(t *testing.T) {
	st := mustStackWith(t, func(c *Config) { c.Subscriptions = nil })
	for _, r := range []struct{ method, path, body string }{
		{http.MethodGet, "/v1/accounts/a1/devices/tv1/topics", ""},
		{http.MethodPut, "/v1/accounts/a1/devices/tv1/topics/x", ""},
		{http.MethodDelete, "/v1/accounts/a1/devices/tv1/topics/x", ""},
		{http.MethodPost, "/v1/topics/x/subscribers", `{"add":[{"account":"a1","device":"tv1"}]}`},
	} {
		resp, b := st.do(t, r.method, r.path, testAPIKey, []byte(r.body))
		checkProblem(t, resp, b, http.StatusServiceUnavailable, protocol.CodeUnavailable)
	}
}
