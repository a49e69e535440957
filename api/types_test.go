package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
)

// typeNames returns the names of a GET /v1/types answer, in its order.
func typeNames(tb testing.TB, body []byte) []string {
	tb.Helper()
	var out struct {
		Types []TypeInfo `json:"types"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		tb.Fatalf("decoding %s: %v", body, err)
	}
	names := make([]string, 0, len(out.Types))
	for _, ti := range out.Types {
		if ti.Description == "" || len(ti.Directions) == 0 || ti.Priority == "" || ti.MaxBytes <= 0 {
			tb.Errorf("type %+v lacks its policy", ti)
		}
		if ti.Schema != nil {
			tb.Errorf("type %s: the list carries the schema", ti.Name)
		}
		names = append(names, ti.Name)
	}
	return names
}

func TestListBuiltinTypes(t *testing.T) {
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatalf("LoadTypes: %v", err)
	}
	reg := registry.NewMemory()
	s, err := New(Config{Types: types, Deliverer: &edge.Router{Registry: reg}, Directory: reg, Devices: devicelist.NewMemory(), Keys: []Key{NewKey(testKeyName, testAPIKey)}})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	req := httptest.NewRequest(http.MethodGet, "/v1/types", nil)
	req.Header.Set("Authorization", "Bearer "+testAPIKey)
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("HTTP %d %s", rec.Code, rec.Body)
	}
	if got := typeNames(t, rec.Body.Bytes()); !slices.Equal(got, builtinTypes) {
		t.Errorf("types %v, want %v", got, builtinTypes)
	}
}

func TestTypes(t *testing.T) {
	st := mustStack(t)

	t.Run("list is sorted and complete", func(t *testing.T) {
		resp, body := st.do(t, http.MethodGet, "/v1/types", testAPIKey, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d %s", resp.StatusCode, body)
		}
		want := append(slices.Clone(builtinTypes), "remote.key.v1", "test.small.v1")
		slices.Sort(want)
		if got := typeNames(t, body); !slices.Equal(got, want) {
			t.Errorf("types %v, want %v", got, want)
		}
	})

	t.Run("one type has its schema", func(t *testing.T) {
		resp, body := st.do(t, http.MethodGet, "/v1/types/notification.v1", testAPIKey, nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("HTTP %d %s", resp.StatusCode, body)
		}
		var ti TypeInfo
		if err := json.Unmarshal(body, &ti); err != nil {
			t.Fatalf("decoding %s: %v", body, err)
		}
		if ti.Name != "notification.v1" || ti.Priority != protocol.PriorityHigh || ti.TTL != 3600 ||
			ti.MaxBytes != protocol.DefaultMaxPayloadBytes || ti.Ack ||
			!slices.Equal(ti.Directions, []protocol.Direction{protocol.ServiceToDevice, protocol.ServiceToTopic}) {
			t.Errorf("type %+v does not carry notification.v1's policy", ti)
		}
		doc, err := schemas.FS.ReadFile("notification.v1.json")
		if err != nil {
			t.Fatal(err)
		}
		if ti.Schema == nil || compact(t, ti.Schema) != compact(t, doc) {
			t.Errorf("schema %s, want the file's %s", ti.Schema, doc)
		}
	})

	t.Run("unknown type is not found", func(t *testing.T) {
		resp, body := st.do(t, http.MethodGet, "/v1/types/nope.thing.v1", testAPIKey, nil)
		p := checkProblem(t, resp, body, http.StatusNotFound, protocol.CodeNotFound)
		if !strings.Contains(p.Detail, "nope.thing.v1") {
			t.Errorf("detail %q does not name the type", p.Detail)
		}
	})

	t.Run("types need an API key", func(t *testing.T) {
		resp, body := st.do(t, http.MethodGet, "/v1/types", "", nil)
		checkProblem(t, resp, body, http.StatusUnauthorized, protocol.CodeUnauthorized)
		if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") {
			t.Errorf("WWW-Authenticate %q, want a Bearer challenge", h)
		}
	})
}

func TestValidateType(t *testing.T) {
	st := mustStack(t)
	tests := []struct {
		name    string
		typ     string
		payload string
		status  int
		code    protocol.Code // for errors
		pointer string        // wanted in errors[].pointer, when not ""
	}{
		{name: "valid payload", typ: "notification.v1", payload: `{"title":"Hi","data":{"k":"v"}}`, status: http.StatusOK},
		{name: "wrong-typed field", typ: "notification.v1", payload: `{"title":5}`, status: 422, code: protocol.CodeSchemaInvalid, pointer: "/title"},
		{name: "nested field", typ: "notification.v1", payload: `{"title":"Hi","data":{"k":1}}`, status: 422, code: protocol.CodeSchemaInvalid, pointer: "/data/k"},
		{name: "not JSON", typ: "notification.v1", payload: `{"title":`, status: 422, code: protocol.CodeSchemaInvalid},
		{name: "over the type's max_bytes", typ: "test.small.v1", payload: `{"note":"` + strings.Repeat("n", 100) + `"}`, status: 413, code: protocol.CodeTooLarge},
		{name: "over MaxBodyBytes", typ: "notification.v1", payload: `{"title":"` + strings.Repeat("x", testMaxBodyBytes) + `"}`, status: 413, code: protocol.CodeTooLarge},
		{name: "unknown type", typ: "nope.thing.v1", payload: `{}`, status: 404, code: protocol.CodeNotFound},
		{name: "device-to-device type validates too", typ: "remote.key.v1", payload: `{"key":"up"}`, status: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := st.do(t, http.MethodPost, "/v1/types/"+tt.typ+"/validate", testAPIKey, []byte(tt.payload))
			if tt.status != http.StatusOK {
				p := checkProblem(t, resp, body, tt.status, tt.code)
				if tt.pointer != "" {
					if !slices.ContainsFunc(p.Details, func(d protocol.Detail) bool { return d.Pointer == tt.pointer }) {
						t.Errorf("errors %+v name no pointer %q", p.Details, tt.pointer)
					}
					if !strings.Contains(p.Detail, tt.pointer) {
						t.Errorf("detail %q does not name %s", p.Detail, tt.pointer)
					}
				}
				return
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("HTTP %d %s, want 200", resp.StatusCode, body)
			}
			var out struct {
				Valid bool   `json:"valid"`
				Type  string `json:"type"`
			}
			if err := json.Unmarshal(body, &out); err != nil {
				t.Fatalf("decoding %s: %v", body, err)
			}
			if !out.Valid || out.Type != tt.typ {
				t.Errorf("answer %s, want valid %s", body, tt.typ)
			}
		})
	}
}
