package msgtypes_test

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"testing"

	"github.com/heraldpush/herald/clients/go/msgtypes"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/schemas"
	"github.com/heraldpush/herald/schemas/gogen"
)

// The committed file is what `herald schema go` makes of the built-in types:
// after changing a schema, run
// go run ./cmd/herald schema go --out clients/go/msgtypes/types.gen.go
func TestGeneratedFileIsCurrent(t *testing.T) {
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	want, err := gogen.Generate("msgtypes", types.List())
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("types.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("types.gen.go is not what herald schema go generates: run go run ./cmd/herald schema go --out clients/go/msgtypes/types.gen.go")
	}
}

// heraldTyped is what the generated types all implement.
type heraldTyped interface{ HeraldType() string }

// A payload valid for its schema decodes into its Go type without a field
// left over and encodes back to the same JSON, valid again; a Go value
// encodes to a valid payload.
func TestRoundTrip(t *testing.T) {
	types, err := protocol.LoadTypes(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		v    heraldTyped
		good string
	}{
		{&msgtypes.NotificationV1{}, `{"title":"New episode","body":"","deep_link":"herald://title/81","image":"https://img.example.com/a.png","data":{"k":"v"}}`},
		{&msgtypes.ProfileUpdatedV1{}, `{"profile_id":"p1","fields":["avatar","name"],"version":0}`},
		{&msgtypes.PlaybackControlV1{}, `{"action":"seek","position_ms":120000,"title_id":"81"}`},
		{&msgtypes.DiagnosticsRequestV1{}, `{"request_id":"r1","kinds":["logs","network"],"upload_url":"https://diag.example.com/u/r1","since_ms":1763884800000}`},
		{&msgtypes.AppRestartV1{}, `{"reason":"config change","delay_ms":5000,"clear_cache":false}`},
	} {
		name := c.v.HeraldType()
		typ, ok := types.Lookup(name)
		if !ok {
			t.Fatalf("%s: no such built-in type", name)
		}
		if err := typ.Validate([]byte(c.good)); err != nil {
			t.Fatalf("%s: the sample is not valid: %v", name, err)
		}
		dec := json.NewDecoder(bytes.NewReader([]byte(c.good)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(c.v); err != nil {
			t.Fatalf("%s: decoding a valid payload: %v", name, err)
		}
		out, err := json.Marshal(c.v)
		if err != nil {
			t.Fatal(err)
		}
		if err := typ.Validate(out); err != nil {
			t.Errorf("%s: the encoded value %s is not valid: %v", name, out, err)
		}
		var a, b any
		_ = json.Unmarshal([]byte(c.good), &a)
		_ = json.Unmarshal(out, &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: %s encodes back as %s", name, c.good, out)
		}
	}
	// Built in Go: an optional field left out is left out, an enum is its
	// constant.
	pos := int64(1000)
	for _, v := range []heraldTyped{
		msgtypes.NotificationV1{Title: "hi"},
		msgtypes.PlaybackControlV1{Action: msgtypes.PlaybackControlV1ActionSeek, PositionMS: &pos},
		msgtypes.DiagnosticsRequestV1{RequestID: "r", Kinds: []msgtypes.DiagnosticsRequestV1KindsItem{msgtypes.DiagnosticsRequestV1KindsItemLogs}},
	} {
		typ, _ := types.Lookup(v.HeraldType())
		out, _ := json.Marshal(v)
		if err := typ.Validate(out); err != nil {
			t.Errorf("%s: %s is not valid: %v", v.HeraldType(), out, err)
		}
	}
}
