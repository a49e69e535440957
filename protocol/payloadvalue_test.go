package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"testing"
)

// decoderValue is what decodePayload made of every payload before plainValue.
func decoderValue(payload []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON value")
	}
	return v, nil
}

var plainValueSeeds = []string{
	`{"title":"hi","body":"x","data":{"k":"v"}}`,
	` { "a" : [ 1 , -2.5e+3 , 0 , true , false , null , "é" ] } `,
	`[]`, `{}`, `"s"`, `0`, `-0.0`, `1E9`, `null`,
	`{"a":1,"a":2}`,
	`{"a":"\n"}`, `"\u00e9"`, "\"\xff\"", `01`, `1.`, `-`, `1e`, `{"a":1,}`, `[1,]`, `{"a" 1}`, `tru`, `{} {}`, ``,
	`[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
}

func TestPlainValue(t *testing.T) {
	for _, s := range plainValueSeeds {
		checkPlainValue(t, []byte(s))
	}
	for _, s := range []string{`{"title":"hi","n":12}`, `[1,"a",{"b":null}]`, ` "x" `} {
		if _, ok := plainValue([]byte(s)); !ok {
			t.Errorf("plainValue(%s) went to encoding/json", s)
		}
	}
	for _, s := range []string{`{"a":"\n"}`, "\"\xff\"", `{} {}`} {
		if _, ok := plainValue([]byte(s)); ok {
			t.Errorf("plainValue(%q) took a payload that is not plain", s)
		}
	}
}

func FuzzPlainValue(f *testing.F) {
	for _, s := range plainValueSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkPlainValue(t, b) })
}

// checkPlainValue fails t when plainValue takes b and makes anything else of
// it than encoding/json does.
func checkPlainValue(t *testing.T, b []byte) {
	t.Helper()
	got, ok := plainValue(b)
	if !ok {
		return
	}
	want, err := decoderValue(b)
	if err != nil {
		t.Fatalf("plainValue(%q) took what encoding/json refuses: %v", b, err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("plainValue(%q) = %#v, encoding/json %#v", b, got, want)
	}
}
