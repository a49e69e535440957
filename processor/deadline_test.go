package processor

import (
	"context"
	"testing"
	"time"
)

func TestDeadlines(t *testing.T) {
	const timeout = time.Second
	parent := context.Background()
	dl := newDeadlines(parent, timeout)
	defer dl.stop()

	first, cancel := dl.within(parent, timeout)
	cancel() // a no-op: the lane's context is shared
	if first.Err() != nil {
		t.Fatal("the lane's context ended when one attempt's cancel was called")
	}
	end, ok := first.Deadline()
	if !ok || time.Until(end) > timeout || time.Until(end) < timeout*9/10 {
		t.Fatalf("deadline %v from now, want within a tenth of %v", time.Until(end), timeout)
	}
	again, _ := dl.within(parent, timeout)
	if again != first {
		t.Error("an attempt right after the first did not share its context")
	}

	// Once a tenth of the timeout has passed, a new context; the old one
	// is not cancelled, another device's attempt may hold it.
	dl.mu.Lock()
	dl.end = time.Now().Add(timeout - timeout/10 - time.Millisecond)
	dl.mu.Unlock()
	renewed, _ := dl.within(parent, timeout)
	if renewed == first {
		t.Fatal("the context was not renewed after a tenth of the timeout")
	}
	if first.Err() != nil {
		t.Error("renewing cancelled the context an attempt may still hold")
	}
	if end, _ := renewed.Deadline(); time.Until(end) < timeout*9/10 {
		t.Errorf("renewed deadline %v from now", time.Until(end))
	}

	// A context that is not the lane's (a span added) gets its own.
	type key struct{}
	other := context.WithValue(parent, key{}, 1)
	own, cancelOwn := dl.within(other, timeout)
	if own == renewed || own.Value(key{}) != 1 {
		t.Error("a context with a span did not get its own deadline under it")
	}
	cancelOwn()
	if own.Err() == nil {
		t.Error("cancel of an own context did not end it")
	}

	// Outside a batch (nil), each attempt has its own.
	var none *deadlines
	c, cancelNone := none.within(parent, timeout)
	cancelNone()
	if c.Err() == nil {
		t.Error("a nil deadlines did not give an own context")
	}

	dl.stop()
	if renewed.Err() == nil {
		t.Error("stop did not end the lane's context")
	}
}
