package devicelist

import (
	"errors"
	"strings"
	"testing"

	"github.com/heraldpush/herald/protocol"
)

func TestValidID(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   string
		want bool
	}{
		{"letters and digits", "Abc123", true},
		{"every punctuation allowed", "a.b_c:d@e-f", true},
		{"one byte", "x", true},
		{"longest", strings.Repeat("x", MaxIDLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("x", MaxIDLen+1), false},
		{"space", "a b", false},
		{"slash", "a/b", false},
		{"percent", "a%20", false},
		{"non-ASCII", "é", false},
		{"NUL", "a\x00", false},
		{"newline", "a\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidID(tc.id); got != tc.want {
				t.Errorf("ValidID(%q) = %v, want %v", tc.id, got, tc.want)
			}
		})
	}
}

func TestInvalidErrorMessage(t *testing.T) {
	err := error(&InvalidError{Field: "name", Reason: "longer than 128 bytes"})
	if got, want := err.Error(), "devicelist: invalid name: longer than 128 bytes"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

// manyStrings returns n distinct short strings.
func manyStrings(n int) []string {
	s := make([]string, n)
	for i := range s {
		s[i] = "c" + strings.Repeat("x", i)
	}
	return s
}

// manyAttributes returns n distinct short attributes.
func manyAttributes(n int) map[string]string {
	m := make(map[string]string, n)
	for i := range n {
		m["k"+strings.Repeat("x", i)] = "v"
	}
	return m
}

// testInvalid checks that every method refuses bad ids and metadata with an
// InvalidError naming the field, and stores nothing.
func testInvalid(t *testing.T, s store, _ *clock) {
	ctx := testContext(t)
	// put returns a Put of a valid device that change spoils.
	put := func(change func(d *Device)) func() error {
		return func() error {
			d := phone("a1", "p1")
			change(&d)
			_, _, err := s.Put(ctx, d)
			return err
		}
	}
	long := func(n int) string { return strings.Repeat("x", n+1) }
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"put empty account", put(func(d *Device) { d.Account = "" }), "account"},
		{"put bad account", put(func(d *Device) { d.Account = "a b" }), "account"},
		{"put long id", put(func(d *Device) { d.ID = long(MaxIDLen) }), "id"},
		{"put bad id", put(func(d *Device) { d.ID = "p/1" }), "id"},
		{"put long platform", put(func(d *Device) { d.Platform = long(MaxPlatformLen) }), "platform"},
		{"put long name", put(func(d *Device) { d.Name = long(MaxNameLen) }), "name"},
		{"put name not UTF-8", put(func(d *Device) { d.Name = "\xff" }), "name"},
		{"put platform with NUL", put(func(d *Device) { d.Platform = "a\x00b" }), "platform"},
		{"put long app version", put(func(d *Device) { d.AppVersion = long(MaxAppVersionLen) }), "app_version"},
		{"put too many capabilities", put(func(d *Device) { d.Capabilities = manyStrings(MaxCapabilities + 1) }), "capabilities"},
		{"put long capability", put(func(d *Device) { d.Capabilities = []string{"a", long(MaxCapabilityLen)} }), "capabilities"},
		{"put empty capability", put(func(d *Device) { d.Capabilities = []string{""} }), "capabilities"},
		{"put too many attributes", put(func(d *Device) { d.Attributes = manyAttributes(MaxAttributes + 1) }), "attributes"},
		{"put long attribute key", put(func(d *Device) { d.Attributes = map[string]string{long(MaxAttributeKeyLen): "v"} }), "attributes"},
		{"put empty attribute key", put(func(d *Device) { d.Attributes = map[string]string{"": "v"} }), "attributes"},
		{"put long attribute value", put(func(d *Device) { d.Attributes = map[string]string{"k": long(MaxAttributeValueLen)} }), "attributes"},
		{"put attribute value with NUL", put(func(d *Device) { d.Attributes = map[string]string{"k": "\x00"} }), "attributes"},
		{"touch bad account", func() error { return s.Touch(ctx, "", "p1", nil) }, "account"},
		{"touch bad id", func() error { return s.Touch(ctx, "a1", "p 1", nil) }, "id"},
		{"touch long platform", func() error {
			return s.Touch(ctx, "a1", "p1", &protocol.DeviceInfo{Platform: long(MaxPlatformLen)})
		}, "platform"},
		{"touch too many capabilities", func() error {
			return s.Touch(ctx, "a1", "p1", &protocol.DeviceInfo{Capabilities: manyStrings(MaxCapabilities + 1)})
		}, "capabilities"},
		{"get bad account", func() error { _, err := s.Get(ctx, "a/1", "p1"); return err }, "account"},
		{"get bad id", func() error { _, err := s.Get(ctx, "a1", ""); return err }, "id"},
		{"list bad account", func() error { _, err := s.List(ctx, "é"); return err }, "account"},
		{"ids bad account", func() error { _, err := s.IDs(ctx, ""); return err }, "account"},
		{"delete bad id", func() error { _, err := s.Delete(ctx, "a1", "p\n"); return err }, "id"},
		{"owners bad id", func() error { _, err := s.Owners(ctx, long(MaxIDLen)); return err }, "id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			var invalid *InvalidError
			if !errors.As(err, &invalid) {
				t.Fatalf("err = %v, want an *InvalidError", err)
			}
			if invalid.Field != tc.field {
				t.Errorf("Field = %q (%v), want %q", invalid.Field, err, tc.field)
			}
			if errors.Is(err, ErrUnavailable) {
				t.Errorf("err = %v also wraps ErrUnavailable", err)
			}
		})
	}
	if ids, err := s.IDs(ctx, "a1"); err != nil || len(ids) != 0 {
		t.Errorf("IDs after invalid calls = %q, %v; want none stored", ids, err)
	}
}
