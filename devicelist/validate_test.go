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
	withDevice := func(change func(d *Device)) Device {
		d := phone("a1", "p1")
		change(&d)
		return d
	}
	long := func(n int) string { return strings.Repeat("x", n+1) }
	ctx := testContext(t)
	for _, tc := range []struct {
		name  string
		call  func() error
		field string
	}{
		{"put empty account", func() error { _, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Account = "" })); return err }, "account"},
		{"put bad account", func() error { _, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Account = "a b" })); return err }, "account"},
		{"put long id", func() error { _, _, err := s.Put(ctx, withDevice(func(d *Device) { d.ID = long(MaxIDLen) })); return err }, "id"},
		{"put bad id", func() error { _, _, err := s.Put(ctx, withDevice(func(d *Device) { d.ID = "p/1" })); return err }, "id"},
		{"put long platform", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Platform = long(MaxPlatformLen) }))
			return err
		}, "platform"},
		{"put long name", func() error { _, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Name = long(MaxNameLen) })); return err }, "name"},
		{"put name not UTF-8", func() error { _, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Name = "\xff" })); return err }, "name"},
		{"put platform with NUL", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Platform = "a\x00b" }))
			return err
		}, "platform"},
		{"put long app version", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.AppVersion = long(MaxAppVersionLen) }))
			return err
		}, "app_version"},
		{"put too many capabilities", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Capabilities = manyStrings(MaxCapabilities + 1) }))
			return err
		}, "capabilities"},
		{"put long capability", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Capabilities = []string{"a", long(MaxCapabilityLen)} }))
			return err
		}, "capabilities"},
		{"put empty capability", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Capabilities = []string{""} }))
			return err
		}, "capabilities"},
		{"put too many attributes", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Attributes = manyAttributes(MaxAttributes + 1) }))
			return err
		}, "attributes"},
		{"put long attribute key", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Attributes = map[string]string{long(MaxAttributeKeyLen): "v"} }))
			return err
		}, "attributes"},
		{"put empty attribute key", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Attributes = map[string]string{"": "v"} }))
			return err
		}, "attributes"},
		{"put long attribute value", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Attributes = map[string]string{"k": long(MaxAttributeValueLen)} }))
			return err
		}, "attributes"},
		{"put attribute value with NUL", func() error {
			_, _, err := s.Put(ctx, withDevice(func(d *Device) { d.Attributes = map[string]string{"k": "\x00"} }))
			return err
		}, "attributes"},
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
