package tsgen

import (
	"bytes"
	iofs "io/fs"
	"path"
	"testing"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/schemas"
)

// FuzzSchemaTS feeds Generate (`herald schema ts`) arbitrary schema documents: it
// never panics, and the module always declares the type's payload alias, once, at
// the start of a line (not swallowed by a comment).
func FuzzSchemaTS(f *testing.F) {
	for _, tc := range translateCases {
		f.Add([]byte(tc.schema))
	}
	entries, err := iofs.ReadDir(schemas.FS, ".")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if path.Ext(e.Name()) == ".json" {
			b, err := iofs.ReadFile(schemas.FS, e.Name())
			if err != nil {
				f.Fatal(err)
			}
			f.Add(b)
		}
	}
	for _, s := range []string{``, `null`, `[]`, `true`, `{"$ref":"#"}`, `{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}}`,
		`{"type":"object","properties":{"*/":{"description":"*/ end"}}}`, `{"enum":[1,"a",null,{"x":[]}]}`, `{"a":1}{"b":2}`} {
		f.Add([]byte(s))
	}
	decl := []byte("\nexport type FuzzThingV1 = ")
	f.Fuzz(func(t *testing.T, doc []byte) {
		out := Generate([]*protocol.Type{tsTestType("fuzz.thing.v1", string(doc))})
		if n := bytes.Count(out, decl); n != 1 {
			t.Errorf("the module declares FuzzThingV1 %d times, want once:\n%s", n, out)
		}
	})
}
