package api

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/heraldpush/herald/devicelist"
	"github.com/heraldpush/herald/edge"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
	"github.com/heraldpush/herald/schemas"
)

// openAPIDoc is the part of an OpenAPI document these tests read.
type openAPIDoc struct {
	OpenAPI string                                `json:"openapi"`
	Info    struct{ Title, Version string }       `json:"info"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

// mustOpenAPI decodes the embedded document.
func mustOpenAPI(tb testing.TB) openAPIDoc {
	tb.Helper()
	var doc openAPIDoc
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		tb.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	return doc
}

// mustRoutes returns the API's routes as "METHOD /path/{param}".
func mustRoutes(tb testing.TB) []string {
	tb.Helper()
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		tb.Fatalf("LoadTypes: %v", err)
	}
	reg := registry.NewMemory()
	s, err := New(Config{Types: types, Deliverer: &edge.Router{Registry: reg}, Directory: reg, Devices: devicelist.NewMemory(), Keys: []Key{NewKey(testKeyName, testAPIKey)}})
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	routes, ok := s.Handler().(chi.Routes)
	if !ok {
		tb.Fatalf("Handler() is a %T, not a chi router", s.Handler())
	}
	var out []string
	err = chi.Walk(routes, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		out = append(out, method+" "+route)
		return nil
	})
	if err != nil {
		tb.Fatalf("chi.Walk: %v", err)
	}
	slices.Sort(out)
	return out
}

// httpMethods are the keys of an OpenAPI path item that are operations.
var httpMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

func TestOpenAPIDocument(t *testing.T) {
	doc := mustOpenAPI(t)
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi %q, want 3.x", doc.OpenAPI)
	}
	if doc.Info.Title == "" || doc.Info.Version == "" {
		t.Errorf("info %+v needs a title and a version", doc.Info)
	}
	if len(doc.Paths) == 0 {
		t.Fatalf("the document has no paths")
	}
}

func TestOpenAPIMatchesRouter(t *testing.T) {
	doc := mustOpenAPI(t)
	var documented []string
	for path, item := range doc.Paths {
		for key := range item {
			if slices.Contains(httpMethods, key) {
				documented = append(documented, strings.ToUpper(key)+" "+path)
			}
		}
	}
	slices.Sort(documented)
	routes := mustRoutes(t)
	if len(routes) == 0 {
		t.Fatalf("the router has no routes")
	}

	t.Run("every route is documented", func(t *testing.T) {
		for _, r := range routes {
			if !slices.Contains(documented, r) {
				t.Errorf("route %s is not in openapi.json", r)
			}
		}
	})
	t.Run("every documented operation is a route", func(t *testing.T) {
		for _, d := range documented {
			if !slices.Contains(routes, d) {
				t.Errorf("openapi.json documents %s, which the router does not serve", d)
			}
		}
	})
}

// openAPIOperation is the part of an operation TestOpenAPIAuthAndLimits reads.
type openAPIOperation struct {
	Security    *[]map[string][]string     `json:"security"`
	RequestBody json.RawMessage            `json:"requestBody"`
	Responses   map[string]json.RawMessage `json:"responses"`
}

// TestOpenAPIAuthAndLimits checks that the document tells what the server
// does: each authenticated operation names the scope the server requires (as
// scopeRoutes, which TestKeyScopes checks against the server, has it) and
// documents 401, 403 and 429; each operation with a body documents 400 and 413;
// every operation documents 431.
func TestOpenAPIAuthAndLimits(t *testing.T) {
	doc := mustOpenAPI(t)
	scopeOf := func(method, path string) (Scope, bool) {
		for _, r := range scopeRoutes {
			if r.method == method && routeMatches(path, r.path) {
				return r.scope, true
			}
		}
		return 0, false
	}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if !slices.Contains(httpMethods, method) {
				continue
			}
			name := strings.ToUpper(method) + " " + path
			t.Run(name, func(t *testing.T) {
				var op openAPIOperation
				if err := json.Unmarshal(raw, &op); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				want := []string{"431"}
				scope, authenticated := scopeOf(strings.ToUpper(method), path)
				if authenticated {
					want = append(want, "401", "403", "429")
					if op.Security == nil || len(*op.Security) != 1 || !slices.Equal((*op.Security)[0]["apiKey"], []string{scope.String()}) {
						t.Errorf("security %v, want [{apiKey: [%s]}]", op.Security, scope)
					}
				} else if op.Security == nil || len(*op.Security) != 0 {
					t.Errorf("an operation the server serves without a key has security %v, want []", op.Security)
				}
				if op.RequestBody != nil {
					want = append(want, "400", "413")
				}
				for _, code := range want {
					if _, ok := op.Responses[code]; !ok {
						t.Errorf("no %s response", code)
					}
				}
			})
		}
	}
}

// openAPISchema is the part of a schema TestOpenAPIRequestFields reads.
type openAPISchema struct {
	Ref                  string                   `json:"$ref"`
	Properties           map[string]openAPISchema `json:"properties"`
	Items                *openAPISchema           `json:"items"`
	AdditionalProperties json.RawMessage          `json:"additionalProperties"`
}

// TestOpenAPIRequestFields checks that each request body's schema lists the
// members the server takes (fieldsOf its Go type), object by object, and
// says with additionalProperties false that it refuses any other.
func TestOpenAPIRequestFields(t *testing.T) {
	var doc struct {
		Components struct {
			Schemas map[string]openAPISchema `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(OpenAPI(), &doc); err != nil {
		t.Fatal(err)
	}
	resolve := func(s openAPISchema) openAPISchema {
		if name, ok := strings.CutPrefix(s.Ref, "#/components/schemas/"); ok {
			return doc.Components.Schemas[name]
		}
		return s
	}
	var check func(t *testing.T, path string, s openAPISchema, f *fields)
	check = func(t *testing.T, path string, s openAPISchema, f *fields) {
		s = resolve(s)
		if f.array {
			if s.Items == nil {
				t.Fatalf("%s: no items", path)
			}
			check(t, path+"[]", *s.Items, f.elem)
			return
		}
		var props []string
		for name := range s.Properties {
			props = append(props, name)
		}
		slices.Sort(props)
		want := slices.Sorted(slices.Values(f.names))
		if !slices.Equal(props, want) {
			t.Errorf("%s: properties %v, the server takes %v", path, props, want)
		}
		if string(s.AdditionalProperties) != "false" {
			t.Errorf("%s: additionalProperties %s, want false", path, s.AdditionalProperties)
		}
		for i, name := range f.names {
			if f.of[i] != nil {
				check(t, path+"."+name, s.Properties[name], f.of[i])
			}
		}
	}
	for _, tt := range []struct {
		schema string
		fields *fields
	}{
		{"PushRequest", pushFields},
		{"PushBatchRequest", batchFields},
		{"MessageRequest", messageFields},
		{"DeviceRequest", deviceFields},
		{"PublishRequest", publishFields},
		{"SubscribersRequest", subscribersFields},
	} {
		t.Run(tt.schema, func(t *testing.T) {
			s, ok := doc.Components.Schemas[tt.schema]
			if !ok {
				t.Fatalf("no schema %s", tt.schema)
			}
			check(t, tt.schema, s, tt.fields)
		})
	}
}
