package protocol

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
)

// schemaDoc returns a schema document with the given x-herald policy and body.
func schemaDoc(policy, body string) string {
	if body != "" {
		body = "," + body
	}
	return `{"$schema":"https://json-schema.org/draft/2020-12/schema","type":"object","x-herald":` + policy + body + `}`
}

const okPolicy = `{"directions":["device_to_device"],"description":"test type"}`

// itemsSchema has nested fields, for pointers like /items/1/name.
var itemsSchema = schemaDoc(okPolicy, `"required":["items"],"properties":{"items":{"type":"array",
	"items":{"type":"object","required":["name"],"properties":{"name":{"type":"string"},"n":{"type":"integer","minimum":0}}}}}`)

func mustParseType(tb testing.TB, name, doc string) *Type {
	tb.Helper()
	typ, err := ParseType(name, []byte(doc))
	if err != nil {
		tb.Fatalf("ParseType(%s): %v", name, err)
	}
	return typ
}

func TestValidTypeName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
	}{
		{"playback.control.v1", true},
		{"notification.v1", true},
		{"a.b.c.d.v12", true},
		{"my-app.some_thing.v0", true},
		{"x2.v10", true},
		{"", false},
		{"v1", false},
		{".v1", false},
		{"a..v1", false},
		{"a.b", false},
		{"a.b.v", false},
		{"a.b.v01", false},
		{"a.b.V1", false},
		{"A.b.v1", false},
		{"a.b.v1.", false},
		{"a b.v1", false},
		{"a/b.v1", false},
		{"a.b.v1x", false},
		{"a.é.v1", false},
		{strings.Repeat("a", 126) + ".v1", false},
		{strings.Repeat("a", 125) + ".v1", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidTypeName(tt.name); got != tt.ok {
				t.Errorf("ValidTypeName(%q) = %v, want %v", tt.name, got, tt.ok)
			}
		})
	}
}

func TestParseTypeDefaults(t *testing.T) {
	typ := mustParseType(t, "a.b.v1", schemaDoc(okPolicy, ""))
	p := typ.Policy
	if p.Priority != PriorityNormal || p.MaxBytes != DefaultMaxPayloadBytes || p.TTL != 0 || p.Ack {
		t.Errorf("defaults not filled: %+v", p)
	}
	if !typ.Allows(DeviceToDevice) || typ.Allows(ServiceToDevice) {
		t.Errorf("Allows disagrees with directions %v", p.Directions)
	}
	if typ.Name != "a.b.v1" || !strings.Contains(string(typ.Schema), "x-herald") {
		t.Errorf("Name %q, Schema %s", typ.Name, typ.Schema)
	}
}

func TestParseTypeErrors(t *testing.T) {
	tests := []struct {
		name    string
		typName string
		doc     string
		want    string // in the error message
	}{
		{"bad name", "Bad.Name", schemaDoc(okPolicy, ""), "invalid name"},
		{"not json", "a.v1", `{`, "not a JSON object"},
		{"not an object", "a.v1", `true`, "not a JSON object"},
		{"null", "a.v1", `null`, "not a JSON object"},
		{"other draft", "a.v1", `{"$schema":"http://json-schema.org/draft-07/schema#","x-herald":` + okPolicy + `}`, `"$schema" must be`},
		{"no policy", "a.v1", `{"type":"object"}`, `no "x-herald"`},
		{"policy not object", "a.v1", schemaDoc(`[]`, ""), "x-herald: must be an object"},
		{"no directions", "a.v1", schemaDoc(`{"description":"d"}`, ""), "directions"},
		{"empty directions", "a.v1", schemaDoc(`{"directions":[],"description":"d"}`, ""), "directions"},
		{"unknown direction", "a.v1", schemaDoc(`{"directions":["device_to_service"],"description":"d"}`, ""), `unknown direction "device_to_service"`},
		{"duplicate direction", "a.v1", schemaDoc(`{"directions":["device_to_device","device_to_device"],"description":"d"}`, ""), "listed twice"},
		{"unknown priority", "a.v1", schemaDoc(`{"directions":["device_to_device"],"priority":"urgent","description":"d"}`, ""), `unknown priority "urgent"`},
		{"negative ttl", "a.v1", schemaDoc(`{"directions":["device_to_device"],"ttl":-1,"description":"d"}`, ""), "ttl: must be >= 0"},
		{"ttl string", "a.v1", schemaDoc(`{"directions":["device_to_device"],"ttl":"30","description":"d"}`, ""), "ttl: must be a JSON integer"},
		{"negative store", "a.v1", schemaDoc(`{"directions":["device_to_device"],"store":-1,"description":"d"}`, ""), "store: must be between 0 and 2419200"},
		{"store past 28 days", "a.v1", schemaDoc(`{"directions":["device_to_device"],"store":2419201,"description":"d"}`, ""), "store: must be between 0 and 2419200"},
		{"negative max_bytes", "a.v1", schemaDoc(`{"directions":["device_to_device"],"max_bytes":-1,"description":"d"}`, ""), "max_bytes"},
		{"huge max_bytes", "a.v1", schemaDoc(`{"directions":["device_to_device"],"max_bytes":1048577,"description":"d"}`, ""), "max_bytes"},
		{"no description", "a.v1", schemaDoc(`{"directions":["device_to_device"]}`, ""), "description"},
		{"blank description", "a.v1", schemaDoc(`{"directions":["device_to_device"],"description":"  "}`, ""), "description"},
		{"misspelt key", "a.v1", schemaDoc(`{"directions":["device_to_device"],"description":"d","max_byte":10}`, ""), `unknown key "max_byte"`},
		{"invalid schema", "a.v1", schemaDoc(okPolicy, `"properties":{"a":{"type":"strin"}}`), "invalid schema: /properties/a/type"},
		{"external ref", "a.v1", schemaDoc(okPolicy, `"$ref":"https://example.com/other.json"`), "external reference"},
		{"dangling local ref", "a.v1", schemaDoc(okPolicy, `"$ref":"#/$defs/missing"`), "invalid schema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			typ, err := ParseType(tt.typName, []byte(tt.doc))
			if err == nil {
				t.Fatalf("ParseType accepted it: %+v", typ.Policy)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), tt.typName) {
				t.Errorf("error %q does not contain %q and the type's name", err, tt.want)
			}
		})
	}
	if _, err := ParseType("a.v1", []byte(schemaDoc(`{"directions":["device_to_device"],"max_bytes":1048576,"description":"d"}`, ""))); err != nil {
		t.Errorf("max_bytes of exactly 1 MiB refused: %v", err)
	}
}

func TestLoadTypes(t *testing.T) {
	src1 := fstest.MapFS{
		"a.x.v1.json":    {Data: []byte(schemaDoc(okPolicy, ""))},
		"b.v1.json":      {Data: []byte(itemsSchema)},
		"README.md":      {Data: []byte("not a schema")},
		"sub/c.v1.json":  {Data: []byte("ignored: not at the root")},
		"nested.v1.json": {Mode: fs.ModeDir | 0o755}, // a directory named like a schema
	}
	src2 := fstest.MapFS{"c.v2.json": {Data: []byte(schemaDoc(okPolicy, ""))}}
	types, err := LoadTypes(src1, src2)
	if err != nil {
		t.Fatalf("LoadTypes: %v", err)
	}
	var names []string
	for _, typ := range types.List() {
		names = append(names, typ.Name)
	}
	if got, want := strings.Join(names, ","), "a.x.v1,b.v1,c.v2"; got != want {
		t.Errorf("List() = %s, want %s", got, want)
	}
	if _, ok := types.Lookup("c.v2"); !ok {
		t.Error("Lookup(c.v2) failed")
	}
	if _, ok := types.Lookup("zz.v1"); ok {
		t.Error("Lookup(zz.v1) found a type")
	}
	err = types.Validate("zz.v1", []byte(`{}`))
	if !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "zz.v1") {
		t.Errorf("Validate of an unknown type = %v, want ErrUnknownType naming it", err)
	}
	var ve *ValidationError
	if err := types.Validate("b.v1", []byte(`{}`)); !errors.As(err, &ve) {
		t.Errorf("Validate(b.v1, {}) = %v, want a *ValidationError", err)
	}
}

func TestLoadTypesErrors(t *testing.T) {
	good := &fstest.MapFile{Data: []byte(schemaDoc(okPolicy, ""))}
	tests := []struct {
		name    string
		sources []fstest.MapFS
		want    string
	}{
		{"duplicate", []fstest.MapFS{{"a.v1.json": good}, {"b.v1.json": good, "a.v1.json": good}}, "type a.v1 is defined by source 1 and source 2"},
		{"bad name", []fstest.MapFS{{"Upper.v1.json": good}}, "Upper.v1"},
		{"bad policy", []fstest.MapFS{{"a.v1.json": {Data: []byte(schemaDoc(`{"directions":["x"],"description":"d"}`, ""))}}}, `a.v1.json: protocol: type a.v1: x-herald: directions`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srcs := make([]fs.FS, len(tt.sources))
			for i, s := range tt.sources {
				srcs[i] = s
			}
			_, err := LoadTypes(srcs...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("LoadTypes error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestReload(t *testing.T) {
	src := fstest.MapFS{"a.v1.json": {Data: []byte(schemaDoc(okPolicy, ""))}}
	types, err := LoadTypes(src)
	if err != nil {
		t.Fatal(err)
	}
	src["b.v1.json"] = &fstest.MapFile{Data: []byte(itemsSchema)}
	if err := types.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	if _, ok := types.Lookup("b.v1"); !ok {
		t.Fatal("Reload did not pick up b.v1")
	}
	src["c.v1.json"] = &fstest.MapFile{Data: []byte(`{"x-herald":{}}`)}
	delete(src, "a.v1.json")
	if err := types.Reload(); err == nil || !strings.Contains(err.Error(), "c.v1") {
		t.Fatalf("Reload with a broken file = %v, want an error naming c.v1", err)
	}
	if _, ok := types.Lookup("a.v1"); !ok {
		t.Error("a failed Reload dropped a.v1")
	}
	if n := len(types.List()); n != 2 {
		t.Errorf("after a failed Reload there are %d types, want the old 2", n)
	}
}

func TestReloadConcurrent(t *testing.T) {
	src := fstest.MapFS{"b.v1.json": {Data: []byte(itemsSchema)}}
	types, err := LoadTypes(src)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 20 {
				if i == 0 && j%5 == 0 {
					if err := types.Reload(); err != nil {
						t.Error(err)
					}
					continue
				}
				payload := fmt.Sprintf(`{"items":[{"name":"x","n":%d}]}`, j)
				if err := types.Validate("b.v1", []byte(payload)); err != nil {
					t.Error(err)
				}
				_ = types.List()
			}
		})
	}
	wg.Wait()
}

func TestValidate(t *testing.T) {
	typ := mustParseType(t, "b.v1", itemsSchema)
	tests := []struct {
		name     string
		payload  string
		pointers []string // nil: valid
	}{
		{"valid", `{"items":[{"name":"a"},{"name":"b","n":2}]}`, nil},
		{"nested type", `{"items":[{"name":"a"},{"name":1}]}`, []string{"/items/1/name"}},
		{"nested minimum", `{"items":[{"name":"a","n":-1}]}`, []string{"/items/0/n"}},
		{"missing nested points at the property", `{"items":[{}]}`, []string{"/items/0/name"}},
		{"missing at root points at the property", `{}`, []string{"/items"}},
		{"two failures", `{"items":[{"name":1},{"name":"b","n":-1}]}`, []string{"/items/0/name", "/items/1/n"}},
		{"not json", `{"items":`, []string{""}},
		{"empty", ``, []string{""}},
		{"trailing data", `{"items":[]} {}`, []string{""}},
		{"root not object", `[1]`, []string{""}},
		{"big integer kept exact", `{"items":[{"name":"a","n":123456789012345678901234567890}]}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := typ.Validate([]byte(tt.payload))
			if tt.pointers == nil {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate = %v, want a *ValidationError", err)
			}
			if ve.Code != CodeSchemaInvalid || ve.Type != "b.v1" {
				t.Errorf("Code %q Type %q", ve.Code, ve.Type)
			}
			var got []string
			for _, d := range ve.Details {
				got = append(got, d.Pointer)
				if d.Message == "" {
					t.Errorf("detail at %q has no message", d.Pointer)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.pointers) {
				t.Errorf("pointers %q, want %q", got, tt.pointers)
			}
			if !strings.Contains(ve.Error(), "b.v1") || !strings.Contains(ve.Error(), ve.Details[0].Message) {
				t.Errorf("Error() = %q", ve.Error())
			}
		})
	}
}

func TestValidateMaxBytes(t *testing.T) {
	const limit = 64
	typ := mustParseType(t, "s.v1", schemaDoc(`{"directions":["service_to_device"],"max_bytes":64,"description":"d"}`,
		`"properties":{"s":{"type":"string"}}`))
	pad := func(n int) []byte { // a valid payload of exactly n bytes
		return []byte(`{"s":"` + strings.Repeat("x", n-len(`{"s":""}`)) + `"}`)
	}
	if p := pad(limit); len(p) != limit || typ.Validate(p) != nil {
		t.Errorf("payload of exactly max_bytes (%d) refused: %v", len(p), typ.Validate(p))
	}
	err := typ.Validate(pad(limit + 1))
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Code != CodeTooLarge {
		t.Fatalf("payload of max_bytes+1: %v, want too_large", err)
	}
	if len(ve.Details) != 1 || ve.Details[0].Pointer != "" || !strings.Contains(ve.Details[0].Message, "65") {
		t.Errorf("details %+v", ve.Details)
	}
	// The size is checked before the payload is parsed.
	if err := typ.Validate([]byte(strings.Repeat("[", limit+1))); !errors.As(err, &ve) || ve.Code != CodeTooLarge {
		t.Errorf("oversized garbage: %v, want too_large", err)
	}
}

func TestValidateDetailsBounded(t *testing.T) {
	typ := mustParseType(t, "b.v1", itemsSchema)
	var sb strings.Builder
	sb.WriteString(`{"items":[`)
	for i := range 100 {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(`{"name":1}`)
	}
	sb.WriteString(`]}`)
	var ve *ValidationError
	if err := typ.Validate([]byte(sb.String())); !errors.As(err, &ve) || len(ve.Details) != maxDetails {
		t.Errorf("got %v with %d details, want %d", err, len(ve.Details), maxDetails)
	}
}

// TestPolicyStoreEdges checks store at its bounds: absent is 0 (nothing stored)
// and MaxStore, 28 days, is the largest accepted.
func TestPolicyStoreEdges(t *testing.T) {
	for _, tt := range []struct {
		name, policy string
		want         int
	}{
		{"absent", okPolicy, 0},
		{"zero", `{"directions":["device_to_device"],"store":0,"description":"d"}`, 0},
		{"largest", `{"directions":["device_to_device"],"store":2419200,"description":"d"}`, MaxStore},
	} {
		t.Run(tt.name, func(t *testing.T) {
			typ, err := ParseType("a.v1", []byte(schemaDoc(tt.policy, "")))
			if err != nil {
				t.Fatal(err)
			}
			if typ.Policy.Store != tt.want {
				t.Errorf("store = %d, want %d", typ.Policy.Store, tt.want)
			}
		})
	}
}

// TestPolicyKeep checks the store-and-forward rule shared by the sync push and
// the processor: a ttl cut to store, store for none, nothing for ack, a ttl of
// 0 or a type without store.
func TestPolicyKeep(t *testing.T) {
	for _, tt := range []struct {
		name  string
		store int
		ttl   time.Duration
		want  time.Duration
	}{
		{"no ttl takes store", 60, -1, time.Minute},
		{"shorter ttl", 60, 5 * time.Second, 5 * time.Second},
		{"longer ttl is cut", 60, time.Hour, time.Minute},
		{"ttl 0 is now or never", 60, 0, 0},
		{"type without store", 0, -1, 0},
		{"negative ttl takes store", 60, -time.Second, time.Minute},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := (Policy{Store: tt.store}).Keep(tt.ttl); got != tt.want {
				t.Errorf("Keep(%v) = %v, want %v", tt.ttl, got, tt.want)
			}
		})
	}
}

func TestPriorityOf(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want Priority
	}{{"high", PriorityHigh}, {"normal", PriorityNormal}, {"low", PriorityLow}, {"urgent", "urgent"}, {"", ""}} {
		if got := PriorityOf([]byte(tt.in)); got != tt.want {
			t.Errorf("PriorityOf(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { _ = PriorityOf([]byte("normal")) }); n != 0 {
		t.Errorf("PriorityOf of a known priority allocates %v times", n)
	}
}
