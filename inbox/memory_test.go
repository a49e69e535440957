package inbox

import (
	"strconv"
	"testing"
	"time"
)

// TestMemoryForgetsEmptiedInboxes checks that Memory stays bounded: an emptied
// inbox is kept only for seqHold, then dropped by a later sweep.
func TestMemoryForgetsEmptiedInboxes(t *testing.T) {
	c := newClock()
	s, err := NewMemory(Config{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	for i := range sweepEvery {
		m := msg("m", "")
		m.Device = "d" + strconv.Itoa(i)
		mustPut(t, s, m)
		if _, err := s.Remove(ctx, "a1", m.Device, "m"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(s.boxes); n != sweepEvery {
		t.Fatalf("%d inboxes held within seqHold, want %d", n, sweepEvery)
	}
	c.Add(seqHold + time.Millisecond)
	for i := range sweepEvery {
		m := msg("m", "")
		m.Device = "e" + strconv.Itoa(i)
		mustPut(t, s, m)
	}
	if n := len(s.boxes); n != sweepEvery {
		t.Fatalf("%d inboxes after the sweep, want the %d live ones", n, sweepEvery)
	}
}
