package edge

import (
	"context"
	"errors"
	"os"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// stuckTransport is a transport whose writes block until released: a device that
// stopped reading.
type stuckTransport struct {
	release chan struct{}
	closed  chan websocket.StatusCode
}

func (t *stuckTransport) write(deadline time.Time, _ outFrame) error {
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	select {
	case <-t.release:
		return nil
	case <-timer.C:
		return os.ErrDeadlineExceeded
	}
}

func (t *stuckTransport) close(code websocket.StatusCode, _ string, done func()) {
	t.closed <- code
	done()
}

func TestSendQueuePolicy(t *testing.T) {
	const queue = 4
	e := mustEdge(t, func(c *Config) { c.SendQueue = queue; c.WriteTimeout = time.Hour })
	st := &stuckTransport{release: make(chan struct{}), closed: make(chan websocket.StatusCode, 1)}
	if _, _, ok := e.srv.enterDevice(); !ok {
		t.Fatal("not admitted")
	}
	ss := e.srv.newSession("a1", "slow1", "test", st, nil)
	loopDone := make(chan struct{})
	go func() {
		defer e.srv.leave()
		defer close(loopDone)
		e.srv.run(ss, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	}()
	eventually(t, "registration", func() bool { return e.srv.session("a1", "slow1") == ss })

	// The writer is stuck on the welcome. The queue takes exactly SendQueue frames
	// more; the next is rejected at once, never blocking the sender.
	results := make(chan protocol.Result, queue)
	for i := range queue {
		go func() {
			results <- e.srv.Deliver(context.Background(), "a1", "slow1", &protocol.Msg{ID: "q" + string(rune('0'+i)), Type: "tiny.echo.v1", Payload: payload(map[string]string{})}, nil)
		}()
	}
	eventually(t, "a full queue", func() bool {
		ss.mu.Lock()
		defer ss.mu.Unlock()
		return len(ss.queue) == queue
	})
	start := time.Now()
	r := e.srv.Deliver(context.Background(), "a1", "slow1", &protocol.Msg{ID: "over", Type: "tiny.echo.v1", Payload: payload(map[string]string{})}, nil)
	if r.Status != protocol.StatusRejected || r.Error != errQueueFull.Error() {
		t.Fatalf("delivery to a full queue: %+v", r)
	}
	if waited := time.Since(start); waited > 5*time.Second {
		t.Fatalf("the sender was blocked for %v", waited)
	}
	if got := e.srv.Stats().Dropped; got != 1 {
		t.Fatalf("Dropped = %d, want 1", got)
	}
	// Once the device reads again, every queued frame is written.
	close(st.release)
	for range queue {
		if r := <-results; r.Status != protocol.StatusDelivered {
			t.Fatalf("queued delivery: %+v", r)
		}
	}
	ss.end(CloseNormal, causeClientClosed)
	if code := <-st.closed; code != CloseNormal {
		t.Fatalf("closed with %v", code)
	}
	<-loopDone
}

func TestWriteTimeoutAborts(t *testing.T) {
	e := mustEdge(t, func(c *Config) { c.WriteTimeout = 20 * time.Millisecond })
	st := &stuckTransport{release: make(chan struct{}), closed: make(chan websocket.StatusCode, 1)}
	if _, _, ok := e.srv.enterDevice(); !ok {
		t.Fatal("not admitted")
	}
	ss := e.srv.newSession("a1", "slow2", "test", st, nil)
	go func() {
		defer e.srv.leave()
		e.srv.run(ss, func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	}()
	// The welcome's write times out: the connection is aborted, not left hanging.
	if code := <-st.closed; code != closeAbort {
		t.Fatalf("closed with %v, want an abort", code)
	}
	eventually(t, "the session to go", func() bool { return e.srv.session("a1", "slow2") == nil })
	if err := ss.enqueue(outFrame{data: []byte("{}")}); !errors.Is(err, errClosed) {
		t.Fatalf("enqueue after close: %v", err)
	}
}
