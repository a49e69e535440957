package herald

import "testing"

func TestDedup(t *testing.T) {
	tests := []struct {
		name string
		size int
		ids  []string
		want []bool // add's answer for each id
	}{
		{"all new", 3, []string{"a", "b", "c"}, []bool{true, true, true}},
		{"repeat within size", 3, []string{"a", "b", "a", "b"}, []bool{true, true, false, false}},
		{"forgotten after size others", 2, []string{"a", "b", "c", "a"}, []bool{true, true, true, true}},
		{"duplicate does not refresh", 2, []string{"a", "b", "a", "c", "a"}, []bool{true, true, false, true, true}},
		{"size one", 1, []string{"a", "a", "b", "a", "a"}, []bool{true, false, true, true, false}},
		{"ring wraps many times", 2, []string{"a", "b", "c", "d", "e", "d", "e", "c"}, []bool{true, true, true, true, true, false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDedup(tt.size)
			for i, id := range tt.ids {
				if got := d.add(id); got != tt.want[i] {
					t.Fatalf("add #%d (%q) = %v, want %v", i, id, got, tt.want[i])
				}
				if len(d.seen) > tt.size || len(d.ring) > tt.size {
					t.Fatalf("remembers %d ids (ring %d), more than %d", len(d.seen), len(d.ring), tt.size)
				}
			}
		})
	}
}
