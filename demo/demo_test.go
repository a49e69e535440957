package demo

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// fakeIssuer signs tokens as account/device/ttl[/topic,…], or fails.
type fakeIssuer struct{ fail bool }

func (f fakeIssuer) IssueTopics(account, device string, ttl time.Duration, topics []string) (string, error) {
	if f.fail {
		return "", errors.New("no key")
	}
	tok := account + "/" + device + "/" + ttl.String()
	if len(topics) > 0 {
		tok += "/" + strings.Join(topics, ",")
	}
	return tok, nil
}

// seen is one request that reached the REST API.
type seen struct {
	method, uri, auth, cookie, ctype, body string
}

// mustDemo mounts the demo on a mux whose REST API records what reaches it and
// answers 200 {"ok":true}.
func mustDemo(tb testing.TB, iss Issuer) (http.Handler, *[]seen) {
	tb.Helper()
	var got []seen
	api := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, seen{r.Method, r.RequestURI, r.Header.Get("Authorization"), r.Header.Get("Cookie"), r.Header.Get("Content-Type"), string(b)})
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"ok":true}`)
	})
	mux := http.NewServeMux()
	Mount(mux, Config{API: api, APIKey: "the-key", Issuer: iss})
	return mux, &got
}

func do(h http.Handler, method, target, body string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, strings.NewReader(body))
	req.Header.Set("Cookie", "session=1")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// wantProblem checks that rec is a problem with status, code and a detail that
// holds detail.
func wantProblem(tb testing.TB, rec *httptest.ResponseRecorder, status int, code protocol.Code, detail string) {
	tb.Helper()
	if rec.Code != status {
		tb.Fatalf("HTTP %d, want %d: %s", rec.Code, status, rec.Body)
	}
	var p protocol.Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		tb.Fatalf("body %s is not a problem: %v", rec.Body, err)
	}
	if p.Code != code || !strings.Contains(p.Detail, detail) {
		tb.Errorf("problem %s %q, want %s with %q", p.Code, p.Detail, code, detail)
	}
}

func TestToken(t *testing.T) {
	h, got := mustDemo(t, fakeIssuer{})
	rec := do(h, http.MethodPost, "/demo/api/token", `{"account":"a1","device":"tv"}`)
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("HTTP %d %v: %s", rec.Code, rec.Header(), rec.Body)
	}
	var out TokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	if want := (TokenResponse{Token: "a1/tv/24h0m0s", Account: "a1", Device: "tv", ExpiresIn: 86400}); !reflect.DeepEqual(out, want) {
		t.Errorf("answer %+v, want %+v", out, want)
	}
	if len(*got) != 0 {
		t.Errorf("the token endpoint called the REST API: %+v", *got)
	}
}

func TestTokenTopics(t *testing.T) {
	h, _ := mustDemo(t, fakeIssuer{})
	rec := do(h, http.MethodPost, "/demo/api/token", `{"account":"a1","device":"tv","topics":["scores.live","news.*","*"]}`)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", rec.Code, rec.Body)
	}
	var out TokenResponse
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	want := TokenResponse{Token: "a1/tv/24h0m0s/scores.live,news.*,*", Account: "a1", Device: "tv", Topics: []string{"scores.live", "news.*", "*"}, ExpiresIn: 86400}
	if !reflect.DeepEqual(out, want) {
		t.Errorf("answer %+v, want %+v", out, want)
	}
	many := `"` + strings.Repeat(`t",  "`, maxTokenTopics) + `t"`
	for _, tt := range []struct {
		name, topics, detail string
	}{
		{"a wildcard inside", `["news.*.live"]`, "topics[0] is not a topic pattern"},
		{"a bare prefix wildcard", `["ok","news*"]`, "topics[1] is not a topic pattern"},
		{"an empty pattern", `[""]`, "topics[0] is not a topic pattern"},
		{"a space", `["a b"]`, "topics[0] is not a topic pattern"},
		{"too many", `[` + many + `]`, "at most 64"},
		{"not a list", `"scores.live"`, `field "topics" must be a slice`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			body := `{"account":"a1","device":"tv","topics":` + tt.topics + `}`
			wantProblem(t, do(h, http.MethodPost, "/demo/api/token", body), http.StatusBadRequest, protocol.CodeBadRequest, tt.detail)
		})
	}
}

func TestTokenRefused(t *testing.T) {
	h, _ := mustDemo(t, fakeIssuer{})
	for _, tt := range []struct {
		name, body, detail string
	}{
		{"empty", ``, "must be a JSON object"},
		{"not JSON", `{`, "not valid JSON"},
		{"an array", `[]`, "must be a JSON object, not array"},
		{"a number account", `{"account":1,"device":"tv"}`, `field "account" must be a string`},
		{"two objects", `{"account":"a1","device":"tv"}{}`, "nothing after it"},
		{"no account", `{"device":"tv"}`, "account is required"},
		{"bad device", `{"account":"a1","device":"t v"}`, `device "t v" is not a valid id`},
		{"too large", `{"account":"a1","device":"tv","x":"` + strings.Repeat("y", maxTokenBytes) + `"}`, "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, do(h, http.MethodPost, "/demo/api/token", tt.body), http.StatusBadRequest, protocol.CodeBadRequest, tt.detail)
		})
	}
	t.Run("signing fails", func(t *testing.T) {
		h, _ := mustDemo(t, fakeIssuer{fail: true})
		wantProblem(t, do(h, http.MethodPost, "/demo/api/token", `{"account":"a1","device":"tv"}`), http.StatusInternalServerError, protocol.CodeInternal, "could not be signed")
	})
}

func TestForward(t *testing.T) {
	for _, tt := range []struct {
		name, method, target, body string
		want                       seen
	}{
		{"push", http.MethodPost, "/demo/api/push", `{"to":{"account":"a1"}}`,
			seen{http.MethodPost, "/v1/push", "Bearer the-key", "", "application/json", `{"to":{"account":"a1"}}`}},
		{"devices", http.MethodGet, "/demo/api/devices?account=a1", "",
			seen{http.MethodGet, "/v1/accounts/a1/devices", "Bearer the-key", "", "", ""}},
		{"publish", http.MethodPost, "/demo/api/publish", `{"topic":"scores.live","type":"notification.v1","payload":{"title":"2 - 1"}}`,
			seen{http.MethodPost, "/v1/topics/scores.live/messages", "Bearer the-key", "", "application/json", `{"type":"notification.v1","payload":{"title":"2 - 1"}}`}},
		{"publish with a timeout", http.MethodPost, "/demo/api/publish", `{"timeout_ms":500,"payload":7,"type":"x.v1","topic":"a"}`,
			seen{http.MethodPost, "/v1/topics/a/messages", "Bearer the-key", "", "application/json", `{"type":"x.v1","payload":7,"timeout_ms":500}`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, got := mustDemo(t, fakeIssuer{})
			rec := do(h, tt.method, tt.target, tt.body)
			if rec.Code != http.StatusOK || rec.Body.String() != `{"ok":true}` {
				t.Fatalf("HTTP %d %s, want the REST API's answer", rec.Code, rec.Body)
			}
			if len(*got) != 1 || (*got)[0] != tt.want {
				t.Errorf("the REST API got %+v, want %+v", *got, tt.want)
			}
		})
	}
	t.Run("devices of a bad account", func(t *testing.T) {
		h, got := mustDemo(t, fakeIssuer{})
		wantProblem(t, do(h, http.MethodGet, "/demo/api/devices?account=", ""), http.StatusBadRequest, protocol.CodeBadRequest, "account is required")
		if len(*got) != 0 {
			t.Errorf("the REST API got %+v", *got)
		}
	})
}

// TestPublishRefused checks that a publish the REST API could not take, or
// whose topic would not fit in its path, is refused with a problem before it
// reaches the API.
func TestPublishRefused(t *testing.T) {
	h, got := mustDemo(t, fakeIssuer{})
	ok := `"type":"notification.v1","payload":{"title":"x"}`
	for _, tt := range []struct {
		name, body, detail string
	}{
		{"empty", ``, "must be a JSON object"},
		{"not JSON", `{"topic":`, "not valid JSON"},
		{"an array", `[]`, "must be a JSON object, not array"},
		{"two objects", `{"topic":"a",` + ok + `}{}`, "nothing after it"},
		{"no topic", `{` + ok + `}`, "topic: a topic name is 1 to 128 bytes; this one is empty"},
		{"a topic of a number", `{"topic":7,` + ok + `}`, `field "topic" must be a string`},
		{"a wildcard topic", `{"topic":"scores.*",` + ok + `}`, "topic: a topic name has only"},
		{"a path in the topic", `{"topic":"a/../../v1/push",` + ok + `}`, "topic: a topic name has only"},
		{"an empty segment", `{"topic":"scores..live",` + ok + `}`, "segments, separated by '.', are not empty"},
		{"a topic too long", `{"topic":"` + strings.Repeat("a", 129) + `",` + ok + `}`, "this one has 129"},
		{"no type", `{"topic":"a","payload":{"title":"x"}}`, "type is required"},
		{"no payload", `{"topic":"a","type":"notification.v1"}`, "payload is required"},
		{"a null payload", `{"topic":"a","type":"notification.v1","payload":null}`, "payload is required"},
		{"a negative timeout", `{"topic":"a",` + ok + `,"timeout_ms":-1}`, "timeout_ms"},
		{"a misspelt member", `{"topic":"a","type":"notification.v1","paylod":{"title":"x"}}`, `unknown field "paylod"`},
		{"too large", `{"topic":"a",` + ok + `,"x":"` + strings.Repeat("y", maxPublishBytes) + `"}`, "larger than"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantProblem(t, do(h, http.MethodPost, "/demo/api/publish", tt.body), http.StatusBadRequest, protocol.CodeBadRequest, tt.detail)
		})
	}
	if len(*got) != 0 {
		t.Errorf("refused publishes reached the REST API: %+v", *got)
	}
	t.Run("a name matched as encoding/json does", func(t *testing.T) {
		h, got := mustDemo(t, fakeIssuer{})
		rec := do(h, http.MethodPost, "/demo/api/publish", `{"Topic":"a","TYPE":"notification.v1","payload":{}}`)
		if rec.Code != http.StatusOK || len(*got) != 1 || (*got)[0].uri != "/v1/topics/a/messages" {
			t.Errorf("HTTP %d %s, the API got %+v", rec.Code, rec.Body, *got)
		}
	})
}

func TestOtherPaths(t *testing.T) {
	h, _ := mustDemo(t, fakeIssuer{})
	for _, tt := range []struct {
		name, method, target string
		status               int
		allow                string
	}{
		{"GET token", http.MethodGet, "/demo/api/token", http.StatusMethodNotAllowed, http.MethodPost},
		{"DELETE devices", http.MethodDelete, "/demo/api/devices", http.StatusMethodNotAllowed, "GET, HEAD"},
		{"GET publish", http.MethodGet, "/demo/api/publish", http.StatusMethodNotAllowed, http.MethodPost},
		{"unknown", http.MethodPost, "/demo/api/nope", http.StatusNotFound, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := do(h, tt.method, tt.target, "{}")
			if rec.Code != tt.status || rec.Header().Get("Allow") != tt.allow {
				t.Errorf("HTTP %d Allow %q, want %d %q: %s", rec.Code, rec.Header().Get("Allow"), tt.status, tt.allow, rec.Body)
			}
		})
	}
	t.Run("the page", func(t *testing.T) {
		rec := do(h, http.MethodGet, Path, "")
		if rec.Code != http.StatusOK || !strings.Contains(rec.Header().Get("Content-Type"), "text/html") {
			t.Errorf("GET %s: HTTP %d %s", Path, rec.Code, rec.Header().Get("Content-Type"))
		}
	})
}
