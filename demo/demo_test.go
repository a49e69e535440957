package demo

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/heraldpush/herald/protocol"
)

// fakeIssuer signs tokens as account/device/ttl, or fails.
type fakeIssuer struct{ fail bool }

func (f fakeIssuer) Issue(account, device string, ttl time.Duration) (string, error) {
	if f.fail {
		return "", errors.New("no key")
	}
	return account + "/" + device + "/" + ttl.String(), nil
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
	if want := (TokenResponse{Token: "a1/tv/24h0m0s", Account: "a1", Device: "tv", ExpiresIn: 86400}); out != want {
		t.Errorf("answer %+v, want %+v", out, want)
	}
	if len(*got) != 0 {
		t.Errorf("the token endpoint called the REST API: %+v", *got)
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

func TestOtherPaths(t *testing.T) {
	h, _ := mustDemo(t, fakeIssuer{})
	for _, tt := range []struct {
		name, method, target string
		status               int
		allow                string
	}{
		{"GET token", http.MethodGet, "/demo/api/token", http.StatusMethodNotAllowed, http.MethodPost},
		{"DELETE devices", http.MethodDelete, "/demo/api/devices", http.StatusMethodNotAllowed, "GET, HEAD"},
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
