package protocol

import (
	"strings"
	"testing"
)

func TestValidID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"letters digits and punctuation", "Tv-1.a_b:c@d", true},
		{"longest", strings.Repeat("a", MaxIDLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", MaxIDLen+1), false},
		{"space", "tv 1", false},
		{"newline", "tv\n1", false},
		{"slash", "a/b", false},
		{"non-ASCII", "télé", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidID(tt.id); got != tt.ok {
				t.Fatalf("ValidID(%q) = %v, want %v", tt.id, got, tt.ok)
			}
			if p := IDProblem(tt.id); (p == "") != tt.ok {
				t.Fatalf("IDProblem(%q) = %q, want empty: %v", tt.id, p, tt.ok)
			}
		})
	}
}

func TestValidMsgID(t *testing.T) {
	tests := []struct {
		name string
		id   string
		ok   bool
	}{
		{"ulid", NewID(), true},
		{"printable punctuation", `a!"#$%&'()*+,-./:;<=>?@[\]^_{|}~z`, true},
		{"longest", strings.Repeat("i", MaxMsgIDLen), true},
		{"empty", "", false},
		{"too long", strings.Repeat("i", MaxMsgIDLen+1), false},
		{"LF", "x\n\ndata: {}", false},
		{"CR", "x\rdata", false},
		{"space", "a b", false},
		{"tab", "a\tb", false},
		{"NUL", "a\x00b", false},
		{"DEL", "a\x7fb", false},
		{"non-ASCII", "é", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ValidMsgID(tt.id); got != tt.ok {
				t.Fatalf("ValidMsgID(%q) = %v, want %v", tt.id, got, tt.ok)
			}
		})
	}
}
