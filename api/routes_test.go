package api

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

func TestRoutingProblems(t *testing.T) {
	st := mustStack(t)
	tests := []struct {
		name   string
		method string
		path   string
		key    string
		status int
		code   protocol.Code
		allow  string // the Allow header of a 405
	}{
		{name: "unknown route", method: http.MethodGet, path: "/v1/nothing", key: testAPIKey, status: 404, code: protocol.CodeNotFound},
		{name: "unknown route without a key", method: http.MethodGet, path: "/v2/push", status: 404, code: protocol.CodeNotFound},
		{name: "GET on push", method: http.MethodGet, path: "/v1/push", key: testAPIKey, status: 405, code: protocol.CodeBadRequest, allow: "POST"},
		{name: "GET on push batch", method: http.MethodGet, path: "/v1/push/batch", key: testAPIKey, status: 405, code: protocol.CodeBadRequest, allow: "POST"},
		{name: "DELETE on types", method: http.MethodDelete, path: "/v1/types", key: testAPIKey, status: 405, code: protocol.CodeBadRequest, allow: "GET"},
		{name: "GET on validate", method: http.MethodGet, path: "/v1/types/notification.v1/validate", key: testAPIKey, status: 405, code: protocol.CodeBadRequest, allow: "POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := st.do(t, tt.method, tt.path, tt.key, nil)
			p := checkProblem(t, resp, body, tt.status, tt.code)
			if !strings.Contains(p.Detail, tt.path) {
				t.Errorf("detail %q does not name the path %s", p.Detail, tt.path)
			}
			if tt.allow != "" {
				if got := resp.Header.Get("Allow"); got != tt.allow {
					t.Errorf("Allow %q, want %q", got, tt.allow)
				}
			}
		})
	}
}

func TestOpenAPIServed(t *testing.T) {
	st := mustStack(t)
	// The document needs no API key.
	resp, body := st.do(t, http.MethodGet, "/v1/openapi.json", "", nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HTTP %d %s", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	if !bytes.Equal(body, OpenAPI()) {
		t.Errorf("served document differs from OpenAPI()")
	}
}
