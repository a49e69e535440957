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
				if got, _ := d.add(id); got != tt.want[i] {
					t.Fatalf("add #%d (%q) = %v, want %v", i, id, got, tt.want[i])
				}
				if len(d.seen) > tt.size || len(d.ring) > tt.size {
					t.Fatalf("remembers %d ids (ring %d), more than %d", len(d.seen), len(d.ring), tt.size)
				}
			}
		})
	}
}

// TestDedupAcked checks that an ack is remembered with its id, for the
// window's size only, and that an ack of an id not remembered takes no place
// in the window.
func TestDedupAcked(t *testing.T) {
	type step struct {
		ack       bool   // ack id instead of adding it
		id        string //
		new, seen bool   // add's answers (isNew, acked)
	}
	tests := []struct {
		name  string
		size  int
		steps []step
	}{
		{"not acked", 2, []step{{id: "a", new: true}, {id: "a"}}},
		{"acked", 2, []step{{id: "a", new: true}, {ack: true, id: "a"}, {id: "a", seen: true}, {id: "a", seen: true}}},
		{"ack of another id", 2, []step{{id: "a", new: true}, {ack: true, id: "b"}, {id: "a"}}},
		{"ack before receipt is not remembered", 2, []step{{ack: true, id: "a"}, {id: "a", new: true}, {id: "a"}}},
		{"unknown acks take no place", 2, []step{{id: "a", new: true}, {ack: true, id: "x"}, {ack: true, id: "y"}, {id: "b", new: true}, {id: "a"}}},
		{"forgotten with its id", 1, []step{{id: "a", new: true}, {ack: true, id: "a"}, {id: "b", new: true}, {id: "a", new: true}, {id: "a"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDedup(tt.size)
			for i, s := range tt.steps {
				if s.ack {
					d.ack(s.id)
					continue
				}
				isNew, acked := d.add(s.id)
				if isNew != s.new || acked != s.seen {
					t.Fatalf("step %d: add(%q) = %v, %v; want %v, %v", i, s.id, isNew, acked, s.new, s.seen)
				}
			}
			if len(d.seen) > tt.size {
				t.Fatalf("remembers %d ids, more than %d", len(d.seen), tt.size)
			}
		})
	}
}
