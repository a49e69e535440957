package protocol

import (
	"strings"
	"testing"
)

func TestValidRegion(t *testing.T) {
	for _, tt := range []struct {
		name string
		in   string
		want bool
	}{
		{"one letter", "a", true},
		{"letters digits and dashes", "eu-west-1", true},
		{"32 bytes", "a" + strings.Repeat("b", 31), true},
		{"33 bytes", "a" + strings.Repeat("b", 32), false},
		{"empty", "", false},
		{"a capital", "A", false},
		{"starts with a digit", "1eu", false},
		{"starts with a dash", "-eu", false},
		{"a dot", "eu.west", false},
		{"an underscore", "eu_west", false},
		{"a space", "eu west", false},
		{"non-ASCII", "eé", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidRegion(tt.in); got != tt.want {
				t.Errorf("ValidRegion(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}
