package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldpush/herald/processor"
	"github.com/heraldpush/herald/protocol"
)

// bodyRoutes are the scopeRoutes that take a body.
func bodyRoutes() []scopeRoute {
	var out []scopeRoute
	for _, r := range scopeRoutes {
		if r.body != "" {
			out = append(out, r)
		}
	}
	return out
}

// mustLimitsAPI is the API with every body route able to read its body.
func mustLimitsAPI(tb testing.TB, depth int) *stack {
	tb.Helper()
	return mustAPI(tb, func(c *Config) {
		c.Queue = &recordingQueue{}
		c.Statuses = processor.NewMemoryStatus(0, 0)
		c.MaxJSONDepth = depth
	})
}

// lengthless hides a reader's length, so that the request is sent chunked.
type lengthless struct{ io.Reader }

func TestBodyLimitEveryRoute(t *testing.T) {
	st := mustLimitsAPI(t, 0)
	over := []byte(`{"note":"` + strings.Repeat("x", testMaxBodyBytes) + `"}`)
	for _, r := range bodyRoutes() {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s %s chunked=%v", r.method, r.path, chunked), func(t *testing.T) {
				var body io.Reader = bytes.NewReader(over)
				if chunked {
					body = lengthless{body}
				}
				ctx, cancel := context.WithTimeout(context.Background(), waitBound)
				defer cancel()
				req, err := http.NewRequestWithContext(ctx, r.method, st.url+r.path, body)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Authorization", "Bearer "+testAPIKey)
				req.Header.Set("Content-Type", "application/json")
				resp, err := st.client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				rb, err := io.ReadAll(resp.Body)
				if err != nil && !errors.Is(err, io.EOF) {
					t.Fatal(err)
				}
				p := checkProblem(t, resp, rb, http.StatusRequestEntityTooLarge, protocol.CodeTooLarge)
				if !strings.Contains(p.Detail, fmt.Sprint(testMaxBodyBytes)) {
					t.Errorf("detail %q does not name the limit %d", p.Detail, testMaxBodyBytes)
				}
			})
		}
	}
}

// nested returns a JSON value of depth levels of arrays around 1.
func nested(depth int) string {
	return strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth)
}

// withDepth returns r's body with a field holding a value nested so that the
// whole body is depth levels deep (the body's object is the first).
func withDepth(r scopeRoute, depth int) string {
	return strings.TrimSuffix(r.body, "}") + `,"deep":` + nested(depth-1) + "}"
}

func TestJSONDepthLimitEveryRoute(t *testing.T) {
	const limit = 8
	st := mustLimitsAPI(t, limit)
	for _, r := range bodyRoutes() {
		t.Run(r.method+" "+r.path, func(t *testing.T) {
			resp, body := st.do(t, r.method, r.path, testAPIKey, []byte(withDepth(r, limit+1)))
			p := checkProblem(t, resp, body, http.StatusBadRequest, protocol.CodeBadRequest)
			if !strings.Contains(p.Detail, "deeper than 8") {
				t.Errorf("detail %q does not name the depth limit", p.Detail)
			}
			// At the limit the depth is no reason to refuse (the route may still
			// refuse the extra field).
			resp, body = st.do(t, r.method, r.path, testAPIKey, []byte(withDepth(r, limit)))
			if bytes.Contains(body, []byte("deeper than")) {
				t.Errorf("a body at the depth limit was refused: HTTP %d %s", resp.StatusCode, body)
			}
		})
	}
	t.Run("a million brackets", func(t *testing.T) {
		st := mustAPI(t, func(c *Config) { c.MaxBodyBytes = 4 << 20 })
		resp, body := st.do(t, http.MethodPost, "/v1/types/notification.v1/validate", testAPIKey, []byte(strings.Repeat("[", 1<<20)))
		checkProblem(t, resp, body, http.StatusBadRequest, protocol.CodeBadRequest)
	})
	t.Run("the default limit", func(t *testing.T) {
		st := mustAPI(t, func(c *Config) { c.MaxBodyBytes = 4 << 20 })
		resp, body := st.do(t, http.MethodPost, "/v1/types/notification.v1/validate", testAPIKey, []byte(nested(DefaultMaxJSONDepth+1)))
		p := checkProblem(t, resp, body, http.StatusBadRequest, protocol.CodeBadRequest)
		if !strings.Contains(p.Detail, fmt.Sprint(DefaultMaxJSONDepth)) {
			t.Errorf("detail %q does not name the default limit", p.Detail)
		}
	})
}

func TestJSONDepthOver(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		limit int
		over  bool
	}{
		{"scalar", `1`, 0, false},
		{"object at the limit", `{"a":{"b":1}}`, 2, false},
		{"object over the limit", `{"a":{"b":1}}`, 1, true},
		{"siblings do not add up", `[[1],[2],[3],{"a":[4]}]`, 3, false},
		{"brackets in strings do not count", `{"a":"[[[[{{{{"}`, 1, false},
		{"escaped quote keeps the string open", `{"a":"\"[[[["}`, 1, false},
		{"escaped backslash ends before the quote", `{"a":"\\","b":[[1]]}`, 2, true},
		{"closing more than opened", `]]]][[`, 2, false},
		{"not JSON, too deep", `[[[[`, 3, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := jsonDepthOver([]byte(tt.body), tt.limit); got != tt.over {
				t.Errorf("jsonDepthOver(%s, %d) = %v, want %v", tt.body, tt.limit, got, tt.over)
			}
		})
	}
}

// jsonDepth is the nesting depth of valid JSON, by encoding/json's tokens.
func jsonDepth(b []byte) (int, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	depth, deepest := 0, 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return deepest, nil
		}
		if err != nil {
			return 0, err
		}
		switch tok {
		case json.Delim('['), json.Delim('{'):
			depth++
			deepest = max(deepest, depth)
		case json.Delim(']'), json.Delim('}'):
			depth--
		}
	}
}

// FuzzJSONDepth checks the byte scan against encoding/json on valid JSON, and
// that it never panics on anything.
func FuzzJSONDepth(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"]"}]}`, `"\\"`, `[[["\"["]]]`, `{}`, `[`, `"\u005b"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for limit := range 5 {
			over := jsonDepthOver(b, limit)
			if !json.Valid(b) {
				continue
			}
			d, err := jsonDepth(b)
			if err != nil {
				t.Fatalf("valid JSON %q: %v", b, err)
			}
			if over != (d > limit) {
				t.Fatalf("jsonDepthOver(%q, %d) = %v, but its depth is %d", b, limit, over, d)
			}
		}
	})
}
