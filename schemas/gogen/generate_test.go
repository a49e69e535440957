package gogen

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

// mustType parses a type from a schema with a minimal x-herald policy.
func mustType(t *testing.T, name, schema string) *protocol.Type {
	t.Helper()
	doc := strings.Replace(schema, "{", `{"$schema":"https://json-schema.org/draft/2020-12/schema","x-herald":{"directions":["service_to_device"],"description":"Test."},`, 1)
	typ, err := protocol.ParseType(name, []byte(doc))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return typ
}

// typeCheck compiles src with go/types and returns its package scope.
func typeCheck(t *testing.T, src []byte) *types.Scope {
	t.Helper()
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "gen.go", src, parser.ParseComments)
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, src)
	}
	conf := types.Config{Importer: importer.Default()}
	pkg, err := conf.Check("gen", fset, []*ast.File{f}, nil)
	if err != nil {
		t.Fatalf("type check: %v\n%s", err, src)
	}
	return pkg.Scope()
}

func TestGenerate(t *testing.T) {
	tys := []*protocol.Type{
		mustType(t, "shapes.v1", `{
			"type": "object",
			"required": ["id", "kind", "points"],
			"properties": {
				"id": {"type": "string"},
				"kind": {"enum": ["circle", "square", "circle-2"]},
				"points": {"type": "array", "items": {"$ref": "#/$defs/point"}},
				"meta": {"type": "object", "additionalProperties": {"type": "integer"}},
				"note": {"type": ["string", "null"]},
				"either": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
				"tree": {"$ref": "#/$defs/node"},
				"fixed": {"const": "v1"},
				"ratio": {"type": "number"},
				"flag": {"type": "boolean"},
				"anything": {}
			},
			"$defs": {
				"point": {"type": "object", "required": ["x", "y"], "properties": {"x": {"type": "integer"}, "y": {"type": "integer"}}},
				"node": {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#/$defs/node"}}}}
			}
		}`),
		mustType(t, "plain.v1", `{"type": "object", "properties": {"text": {"type": "string"}}}`),
	}
	src, err := Generate("gen", tys)
	if err != nil {
		t.Fatal(err)
	}
	scope := typeCheck(t, src)
	fieldType := func(typeName, field string) string {
		t.Helper()
		obj := scope.Lookup(typeName)
		if obj == nil {
			t.Fatalf("no type %s in\n%s", typeName, src)
		}
		st, ok := obj.Type().Underlying().(*types.Struct)
		if !ok {
			t.Fatalf("%s is not a struct", typeName)
		}
		for i := range st.NumFields() {
			if st.Field(i).Name() == field {
				return types.TypeString(st.Field(i).Type(), func(*types.Package) string { return "" })
			}
		}
		t.Fatalf("%s has no field %s in\n%s", typeName, field, src)
		return ""
	}
	for _, c := range []struct{ typ, field, want string }{
		{"ShapesV1", "ID", "string"},
		{"ShapesV1", "Kind", "ShapesV1Kind"},
		{"ShapesV1", "Points", "[]Point"},
		{"ShapesV1", "Meta", "map[string]int64"},
		{"ShapesV1", "Note", "*string"}, // nullable, and optional: one pointer
		{"ShapesV1", "Either", "RawMessage"},
		{"ShapesV1", "Tree", "*Node"},
		{"ShapesV1", "Fixed", "*string"},
		{"ShapesV1", "Ratio", "*float64"},
		{"ShapesV1", "Flag", "*bool"},
		{"ShapesV1", "Anything", "RawMessage"},
		{"Point", "X", "int64"},
		{"Node", "Children", "[]RawMessage"}, // the cycle
		{"PlainV1", "Text", "*string"},
	} {
		if got := fieldType(c.typ, c.field); got != c.want {
			t.Errorf("%s.%s is %s, want %s", c.typ, c.field, got, c.want)
		}
	}
	for _, name := range []string{"ShapesV1KindCircle", "ShapesV1KindSquare", "ShapesV1KindCircle2"} {
		if scope.Lookup(name) == nil {
			t.Errorf("no enum constant %s", name)
		}
	}
	if !strings.Contains(string(src), `func (ShapesV1) HeraldType() string { return "shapes.v1" }`) {
		t.Errorf("no HeraldType method for shapes.v1:\n%s", src)
	}
	if !strings.Contains(string(src), "`json:\"id\"`") || !strings.Contains(string(src), "`json:\"note,omitempty\"`") {
		t.Errorf("tags: required fields without omitempty, optional ones with it:\n%s", src)
	}
}

func TestGenerateRefusesABadPackageName(t *testing.T) {
	for _, pkg := range []string{"", "my-types", "1types", "a b"} {
		if _, err := Generate(pkg, nil); err == nil {
			t.Errorf("package %q accepted", pkg)
		}
	}
}

func TestExported(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"notification.v1", "NotificationV1"},
		{"deep_link", "DeepLink"},
		{"request_id", "RequestID"},
		{"delay_ms", "DelayMS"},
		{"upload-url", "UploadURL"},
		{"2fa", "X2fa"},
		{"é_x", "ÉX"},
		{"", "X"},
	} {
		if got := exported(c.in); got != c.want {
			t.Errorf("exported(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
