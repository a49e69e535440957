package edge

import (
	"slices"
	"testing"
	"time"
)

func TestWheelDeadlines(t *testing.T) {
	const res = 10 * time.Millisecond
	at := func(w *wheel, d time.Duration) time.Time { return w.start.Add(d) }
	fire := func(w *wheel, d time.Duration) []*session {
		var got []*session
		for _, f := range w.expired(at(w, d), nil) {
			got = append(got, f.ss)
		}
		return got
	}
	t.Run("a deadline fires at its tick, never before", func(t *testing.T) {
		w := newWheel(time.Second, res, 0)
		a, b := &session{}, &session{}
		w.add(a, at(w, 25*time.Millisecond))
		w.add(b, at(w, 30*time.Millisecond))
		if got := fire(w, 29*time.Millisecond); len(got) != 0 {
			t.Fatalf("fired %d early", len(got))
		}
		if got := fire(w, 30*time.Millisecond); !slices.Equal(got, []*session{b, a}) && !slices.Equal(got, []*session{a, b}) {
			t.Fatalf("fired %v, want both", got)
		}
		if got := fire(w, time.Second); len(got) != 0 {
			t.Fatalf("fired %d twice", len(got))
		}
	})
	t.Run("a removed session never fires and cannot be scheduled", func(t *testing.T) {
		w := newWheel(time.Second, res, 0)
		a := &session{}
		w.add(a, at(w, 10*time.Millisecond))
		w.remove(a)
		if w.schedule(a, at(w, 20*time.Millisecond), dueGrace) {
			t.Fatal("scheduled a removed session")
		}
		if got := fire(w, time.Second); len(got) != 0 {
			t.Fatalf("fired %d", len(got))
		}
	})
	t.Run("rescheduling replaces the deadline", func(t *testing.T) {
		w := newWheel(time.Second, res, 0)
		a := &session{}
		w.add(a, at(w, 10*time.Millisecond))
		w.schedule(a, at(w, 500*time.Millisecond), dueGrace)
		if got := fire(w, 400*time.Millisecond); len(got) != 0 {
			t.Fatal("the replaced deadline fired")
		}
		got := w.expired(at(w, 500*time.Millisecond), nil)
		if len(got) != 1 || got[0].ss != a || got[0].kind != dueGrace {
			t.Fatalf("fired %+v", got)
		}
	})
	t.Run("deadlines several turns ahead wait for their turn", func(t *testing.T) {
		w := newWheel(time.Second, res, 0)
		turn := deadlineSlots * res
		a := &session{}
		w.add(a, at(w, 3*turn+5*res))
		for d := res; d < 3*turn+5*res; d += res {
			if got := fire(w, d); len(got) != 0 {
				t.Fatalf("fired at %v, due at %v", d, 3*turn+5*res)
			}
		}
		if got := fire(w, 3*turn+5*res); len(got) != 1 {
			t.Fatal("did not fire when due")
		}
	})
	t.Run("a late tick catches up on everything due", func(t *testing.T) {
		w := newWheel(time.Second, res, 0)
		var all []*session
		for i := range 2 * deadlineSlots {
			ss := &session{}
			all = append(all, ss)
			w.add(ss, at(w, time.Duration(i+1)*res))
		}
		if got := fire(w, 5*deadlineSlots*res); len(got) != len(all) {
			t.Fatalf("fired %d of %d", len(got), len(all))
		}
	})
	t.Run("a deadline in the past fires at the next tick", func(t *testing.T) {
		w := newWheel(time.Second, res, 0)
		fire(w, time.Second)
		a := &session{}
		w.add(a, at(w, 0))
		if got := fire(w, time.Second+res); len(got) != 1 {
			t.Fatalf("fired %d", len(got))
		}
	})
}

func TestDeadlineResolution(t *testing.T) {
	tests := []struct {
		name       string
		life, grac time.Duration
		want       time.Duration
	}{
		{"defaults", DefaultMinLifetime, DefaultReconnectGrace, DefaultReconnectGrace / 16},
		{"short lifetimes", 200 * time.Millisecond, time.Hour, 12500 * time.Microsecond},
		{"never under a millisecond", time.Millisecond, time.Millisecond, time.Millisecond},
		{"never over a second", time.Hour, time.Hour, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := deadlineResolution(tt.life, tt.grac); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}
