package protocol

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

// FuzzDecode checks that Decode never panics, that its errors are *DecodeError, and
// that a decoded frame survives Encode and Decode unchanged.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fr, err := Decode(data)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
			if fr != nil {
				t.Fatalf("frame %#v returned with error %v", fr, err)
			}
			return
		}
		b1, err := Encode(fr)
		if err != nil {
			t.Fatalf("Encode(%#v) after a successful Decode: %v", fr, err)
		}
		fr2, err := Decode(b1)
		if err != nil {
			t.Fatalf("Decode(Encode(Decode(%q))) = %v; encoding %s", data, err, b1)
		}
		b2, err := Encode(fr2)
		if err != nil {
			t.Fatalf("second Encode: %v", err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", b1, b2)
		}
		fr3, err := Decode(b2)
		if err != nil || !reflect.DeepEqual(fr2, fr3) {
			t.Fatalf("round trip changed the frame: %#v -> %#v (%v)", fr2, fr3, err)
		}
	})
}

// FuzzValidate checks that Validate never panics and fails only with a
// *ValidationError whose details all have a message.
func FuzzValidate(f *testing.F) {
	typ := mustParseType(f, "playback.control.v1", playbackSchema)
	for _, s := range []string{
		`{"action":"seek","position_ms":1000}`,
		`{"action":"volume","volume":101}`,
		`{"action":"seek"}`,
		`{"action":"play","extra":1}`,
		`{"action":"seek","position_ms":1e400}`,
		`[`,
		`null`,
		``,
		`{"action":"pause"} {}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		err := typ.Validate(payload)
		if err == nil {
			return
		}
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Fatalf("error %T is not a *ValidationError: %v", err, err)
		}
		if len(ve.Details) == 0 {
			t.Fatalf("ValidationError without details: %v", ve)
		}
		for _, d := range ve.Details {
			if d.Message == "" {
				t.Fatalf("detail at %q without a message", d.Pointer)
			}
		}
	})
}
