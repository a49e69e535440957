package tsgen

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/schemas"
)

// tsTestType is a message type whose schema is doc, for the translator's tests.
func tsTestType(name, doc string) *protocol.Type {
	return &protocol.Type{
		Name:   name,
		Policy: protocol.Policy{Directions: []protocol.Direction{protocol.DeviceToDevice}, Priority: protocol.PriorityNormal, MaxBytes: 4096, Description: "A test type."},
		Schema: []byte(doc),
	}
}

// translateCases are the translator's table: each schema of test.thing.v1 must
// produce every want and no notWant in the generated module.
var translateCases = []struct {
	name    string
	schema  string
	want    []string
	notWant []string
}{
	{
		name: "primitive types and required",
		schema: `{"type":"object","additionalProperties":false,"required":["s"],"properties":{
			"s":{"type":"string"},"n":{"type":"number"},"i":{"type":"integer"},"b":{"type":"boolean"},"z":{"type":"null"}}}`,
		want: []string{"export type TestThingV1 = {\n", "  s: string;\n", "  n?: number;\n", "  i?: number;\n", "  b?: boolean;\n", "  z?: null;\n", "not by this type: integer."},
	},
	{
		name:   "nullable through a type array",
		schema: `{"type":["string","null"]}`,
		want:   []string{"export type TestThingV1 = string | null;\n"},
	},
	{
		name:   "integer and number together are number",
		schema: `{"type":["integer","number"]}`,
		want:   []string{"export type TestThingV1 = number;\n"},
		// number allows fractions, so integer is no constraint here
		notWant: []string{"integer."},
	},
	{
		name:   "enum of odd strings and other values",
		schema: `{"enum":["it's","a\\b","line\nbreak","*/","\u2028",1,-2.5,true,null]}`,
		want:   []string{`export type TestThingV1 = 'it\'s' | 'a\\b' | 'line\nbreak' | '*/' | '\u2028' | 1 | -2.5 | true | null;` + "\n"},
	},
	{
		name:   "const of a string and of an object",
		schema: `{"type":"object","properties":{"k":{"const":"fixed"},"o":{"const":{"a b":[1,"x"],"c":{}}}}}`,
		want:   []string{"k?: 'fixed';", "o?: { 'a b': [1, 'x']; c: { [key: string]: never } };"},
	},
	{
		name: "property names that are not identifiers",
		schema: `{"type":"object","required":["with-dash"],"properties":{"with-dash":{"type":"string"},"0digit":{"type":"string"},
			"has space":{"type":"string"},"quote'd":{"type":"string"},"$ok":{"type":"string"},"_ok1":{"type":"string"},"":{"type":"string"}}}`,
		want: []string{"  'with-dash': string;\n", "  '0digit'?: string;\n", "  'has space'?: string;\n", `  'quote\'d'?: string;` + "\n",
			"  $ok?: string;\n", "  _ok1?: string;\n", "  ''?: string;\n"},
	},
	{
		name:    "closed object",
		schema:  `{"type":"object","additionalProperties":false,"properties":{"a":{"type":"string"}}}`,
		want:    []string{"  a?: string;\n};"},
		notWant: []string{"[key: string]"},
	},
	{
		name:    "declared properties without additionalProperties are closed",
		schema:  `{"type":"object","properties":{"a":{"type":"string"}}}`,
		notWant: []string{"[key: string]"},
	},
	{
		name:   "additionalProperties true",
		schema: `{"type":"object","additionalProperties":true,"properties":{"a":{"type":"string"}}}`,
		want:   []string{"  a?: string;\n  [key: string]: unknown;\n"},
	},
	{
		name:   "additionalProperties schema that fits the properties",
		schema: `{"type":"object","additionalProperties":{"type":"string","maxLength":5},"properties":{"a":{"type":"string"}}}`,
		want:   []string{"  [key: string]: string;\n", "each additional property (maxLength 5)"},
	},
	{
		name:   "additionalProperties schema that does not fit the properties",
		schema: `{"type":"object","additionalProperties":{"type":"string"},"properties":{"a":{"type":"integer"}}}`,
		want:   []string{"  [key: string]: unknown;\n", "the type of additional properties"},
	},
	{
		name:   "patternProperties",
		schema: `{"type":"object","patternProperties":{"^x-":{"type":"boolean"}}}`,
		want:   []string{"  [key: string]: boolean;\n"},
	},
	{
		name:   "empty closed object and any object",
		schema: `{"type":"object","properties":{"none":{"type":"object","additionalProperties":false},"any":{"type":"object"}}}`,
		want:   []string{"  none?: {\n    [key: string]: never;\n  };\n", "  any?: {\n    [key: string]: unknown;\n  };\n"},
	},
	{
		name: "arrays and tuples",
		schema: `{"type":"object","properties":{
			"list":{"type":"array","items":{"enum":["a","b"]},"minItems":1},
			"plain":{"type":"array"},
			"tuple":{"type":"array","prefixItems":[{"type":"string"},{"type":["number","null"]}],"items":false,"minItems":1},
			"rest":{"type":"array","prefixItems":[{"type":"string"}],"items":{"type":"boolean"}},
			"objs":{"type":"array","items":{"type":"object","properties":{"x":{"type":"string"}}}}}}`,
		want: []string{"  list?: ('a' | 'b')[];\n", "minItems 1", "  plain?: unknown[];\n", "  tuple?: [string, (number | null)?];\n",
			"  rest?: [string?, ...boolean[]];\n", "  objs?: {\n    x?: string;\n  }[];\n"},
	},
	{
		name:   "anyOf, oneOf and allOf",
		schema: `{"type":"object","properties":{"u":{"anyOf":[{"type":"string"},{"type":"integer","minimum":3}]},"o":{"oneOf":[{"const":1},{"const":2}]},"i":{"allOf":[{"type":"object","properties":{"a":{"type":"string"}}},{"type":"object","properties":{"b":{"type":"number"}}}]}}}`,
		want:   []string{"  u?: string | number;\n", "anyOf alternative 2 (integer, minimum 3)", "  o?: 1 | 2;\n", "  i?: {\n    a?: string;\n  } & {\n    b?: number;\n  };\n"},
	},
	{
		name:   "a union inside an intersection is parenthesized",
		schema: `{"type":"object","properties":{"a":{"type":"string"}},"anyOf":[{"required":["a"]},{"properties":{"b":{"const":1}}}]}`,
		want:   []string{"} & ({\n  a: unknown;\n} | {\n  b?: 1;\n});\n"},
	},
	{
		name: "$ref to $defs and definitions, nested objects",
		schema: `{"type":"object","properties":{"home":{"$ref":"#/$defs/address"},"old":{"$ref":"#/definitions/old-thing"},
			"nested":{"type":"object","properties":{"deeper":{"type":"object","description":"Deep.","properties":{"x":{"$ref":"#/$defs/address"}}}}}},
			"$defs":{"address":{"type":"object","description":"A postal address.","required":["city"],"properties":{"city":{"type":"string"}}}},
			"definitions":{"old-thing":{"type":"boolean"}}}`,
		want: []string{"  home?: TestThingV1Address;\n", "  old?: TestThingV1OldThing;\n",
			"  nested?: {\n    /** Deep. */\n    deeper?: {\n      x?: TestThingV1Address;\n    };\n  };\n",
			"/**\n * A postal address.\n *\n * The subschema at `#/$defs/address` of `test.thing.v1`.\n */\nexport type TestThingV1Address = {\n  city: string;\n};\n",
			"export type TestThingV1OldThing = boolean;\n"},
	},
	{
		name:   "$ref with escapes in the pointer",
		schema: `{"$ref":"#/$defs/a~1b%20c~0d","$defs":{"a/b c~d":{"type":"string"}}}`,
		want:   []string{"export type TestThingV1 = TestThingV1ABCD;\n", "export type TestThingV1ABCD = string;\n"},
	},
	{
		name:   "recursion through $ref",
		schema: `{"$ref":"#/$defs/node","$defs":{"node":{"type":"object","properties":{"value":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/node"}},"parent":{"$ref":"#/$defs/node"}}}}}`,
		want:   []string{"export type TestThingV1 = TestThingV1Node;\n", "  children?: TestThingV1Node[];\n", "  parent?: TestThingV1Node;\n"},
	},
	{
		name:   "recursion to the root",
		schema: `{"type":"object","properties":{"next":{"anyOf":[{"$ref":"#"},{"type":"null"}]}}}`,
		want:   []string{"  next?: TestThingV1 | null;\n"},
	},
	{
		name:   "a circular alias becomes unknown",
		schema: `{"type":"object","properties":{"x":{"$ref":"#/$defs/a"}},"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/b"},{"type":"string"}]},"b":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"number"}]}}}`,
		want:   []string{"export type TestThingV1A = unknown;\n", "export type TestThingV1B = unknown;\n", "Refers to itself through `$ref`"},
	},
	{
		name:   "a root that refers to itself",
		schema: `{"anyOf":[{"$ref":"#"},{"type":"string"}]}`,
		want:   []string{"export type TestThingV1 = unknown;\n", "Refers to itself"},
	},
	{
		name: "if/then/else",
		schema: `{"type":"object","properties":{"action":{"enum":["play","seek"]},"position_ms":{"type":"integer"}},"required":["action"],
			"allOf":[{"if":{"properties":{"action":{"const":"seek"}},"required":["action"]},"then":{"required":["position_ms"]},"else":{"required":["action"]}}],
			"if":{"properties":{"action":{"type":"string"}}},"then":false}`,
		want: []string{"  position_ms?: number;\n", "Not expressed in this type (the server checks it):\n",
			"- when `action` is `'seek'`, `position_ms` is required; otherwise, `action` is required.", "- an `if`/`then`/`else` condition."},
	},
	{
		name:   "descriptions as TSDoc, escaped",
		schema: `{"type":"object","description":"Line one */ still\nline two @param x","properties":{"a":{"type":"string","description":"Short."}}}`,
		want:   []string{" * Line one *\\/ still\n * line two \\@param x\n", "  /** Short. */\n  a?: string;\n"},
	},
	{
		name: "constraints as notes",
		schema: `{"type":"object","properties":{"u":{"type":"string","format":"uri","pattern":"^https://","minLength":1,"maxLength":9},
			"n":{"type":"number","minimum":0,"exclusiveMaximum":1.5,"multipleOf":0.5},"d":{"type":"string","default":"x","deprecated":true}}}`,
		want: []string{"not by this type: format uri, pattern `^https://`, minLength 1, maxLength\n   * 9.",
			"not by this type: minimum 0, exclusiveMaximum 1.5, multipleOf 0.5.", "   * @defaultValue `\"x\"`\n   *\n   * @deprecated\n"},
		notWant: []string{"\\@defaultValue", "\\@deprecated"},
	},
	{
		name: "what cannot be translated is unknown",
		schema: `{"type":"object","properties":{"ext":{"$ref":"other.json#/x"},"missing":{"$ref":"#/$defs/none"},"dyn":{"$dynamicRef":"#meta"},
			"odd":{"type":"float"},"neg":{"not":{"type":"string"}},"weird":[1],"never":false,"any":true}}`,
		want: []string{"  ext?: unknown;\n", "`$ref` `other.json#/x` does not point into this schema", "  missing?: unknown;\n",
			"  dyn?: unknown;\n", "`$dynamicRef` is not expressed", "  odd?: unknown;\n", `Unknown JSON type "float"`,
			"  neg?: unknown;\n", "a `not` condition", "  weird?: unknown;\n", "neither an object nor a boolean", "  never?: never;\n", "  any?: unknown;\n"},
	},
	{
		name:   "a schema that is not JSON",
		schema: `{"type":`,
		want:   []string{"export type TestThingV1 = unknown;\n", "The schema could not be read"},
	},
	{
		name:   "a schema that is not an object",
		schema: `[1,2]`,
		want:   []string{"export type TestThingV1 = unknown;\n", "neither an object nor a boolean"},
	},
}

func TestGenerateTSTranslation(t *testing.T) {
	outputs := map[string][]byte{}
	for i, tt := range translateCases {
		t.Run(tt.name, func(t *testing.T) {
			out := string(Generate([]*protocol.Type{tsTestType("test.thing.v1", tt.schema)}))
			outputs[fmt.Sprintf("case%02d.ts", i)] = []byte(out)
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(out, w) {
					t.Errorf("output has %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("every case compiles", func(t *testing.T) {
		mustTypecheck(t, outputs)
	})
}

func TestGenerateTSModule(t *testing.T) {
	types := []*protocol.Type{
		tsTestType("b.thing.v1", `{"type":"string"}`),
		tsTestType("a_b.v1", `{"type":"string"}`),
		tsTestType("a-b.v1", `{"type":"number","$ref":"#/$defs/x","$defs":{"x":true}}`),
		tsTestType("3d.scene.v1", `{"type":"boolean"}`),
	}
	out := string(Generate(types))
	reversed := string(Generate([]*protocol.Type{types[3], types[2], types[1], types[0]}))
	if out != reversed {
		t.Errorf("the output depends on the order of the types")
	}
	if again := string(Generate(types)); again != out {
		t.Errorf("two runs differ")
	}
	for _, w := range []string{
		"// Code generated by herald schema ts; DO NOT EDIT.\n",
		"export type HeraldMessageTypes = {\n  /** A test type. */\n  '3d.scene.v1': Type3dSceneV1;\n",
		"  'a-b.v1': ABV1;\n  /** A test type. */\n  'a_b.v1': ABV1_2;\n",
		"export const heraldTypeNames = [\n  '3d.scene.v1',\n  'a-b.v1',\n  'a_b.v1',\n  'b.thing.v1',\n] as const;\n",
		"export type ABV1 = number & ABV1X;\n",
		"export type ABV1_2 = string;\n",
		"Sent device_to_device; priority normal; no TTL; not acknowledged by default; payload at most\n * 4096 bytes.",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if !strings.HasPrefix(out, "// Code generated by herald schema ts; DO NOT EDIT.") {
		t.Errorf("output does not start with the generated-code header:\n%s", out)
	}
	mustTypecheck(t, map[string][]byte{"module.ts": []byte(out)})
}

// generatedTSFile is the SDK's copy of the built-in types, relative to the
// repository root.
const generatedTSFile = "clients/js/src/types.gen.ts"

func TestGeneratedTSFileIsCurrent(t *testing.T) {
	const regen = "run: go run ./cmd/herald schema ts --out " + generatedTSFile
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	want := Generate(types.List())
	got, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(generatedTSFile)))
	if err != nil {
		t.Fatalf("%v\n%s", err, regen)
	}
	if bytes.Equal(got, want) {
		return
	}
	gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gl), len(wl)); i++ {
		var g, w string
		if i < len(gl) {
			g = gl[i]
		}
		if i < len(wl) {
			w = wl[i]
		}
		if g != w {
			t.Fatalf("%s is out of date with schemas/ (first difference at line %d:\n  have %q\n  want %q)\n%s", generatedTSFile, i+1, g, w, regen)
		}
	}
}

// mustWrite writes content to the file at path.
func mustWrite(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
}
