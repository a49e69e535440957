package protocol

import (
	"strings"
	"testing"
)

func TestValidRegion(t *testing.T) {
	for _, c := range []struct {
		s    string
		want bool
	}{
		{"eu", true},
		{"us-east-1", true},
		{"a", true},
		{strings.Repeat("a", 32), true},
		{strings.Repeat("a", 33), false},
		{"", false},
		{"1eu", false},
		{"-eu", false},
		{"EU", false},
		{"eu.west", false}, // a dot would split a mirrored Kafka topic's prefix
		{"eu_west", false},
		{"eu west", false},
		{"eu\n", false},
		{"é", false},
	} {
		if got := ValidRegion(c.s); got != c.want {
			t.Errorf("ValidRegion(%q) = %v, want %v", c.s, got, c.want)
		}
	}
}
