package edge

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// errQueueFull is the reason a message for a full send queue is rejected.
var errQueueFull = errors.New("send queue full")

// errClosed reports a frame that could not be written because the session ended.
var errClosed = errors.New("connection closed")

// outFrame is one encoded frame waiting in a send queue. done, when set, receives
// the outcome of the write.
type outFrame struct {
	data []byte
	id   string       // message id, for SSE "id:" lines
	done chan<- error // buffered; nil when nobody waits
	ping bool         // SSE keepalive comment
}

// transport writes frames to one device connection.
type transport interface {
	// write writes one frame; it must honour ctx.
	write(ctx context.Context, f outFrame) error
	// close ends the connection with a WebSocket close code and reason.
	close(code websocket.StatusCode, reason string)
}

// session is one live device connection: a WebSocket or an SSE stream.
type session struct {
	srv     *Server
	id      string
	account string
	device  string
	since   time.Time
	t       transport
	log     *slog.Logger
	ctx     context.Context // done when the session ends
	cancel  context.CancelFunc
	// kick, when set (SSE), wakes the goroutine that drains the queue; when nil
	// (WebSocket) the session starts a writer goroutine on demand.
	kick chan struct{}

	pinging  atomic.Bool  // a keepalive ping is in flight
	inflight atomic.Int32 // device messages being delivered

	mu       sync.Mutex
	queue    []outFrame               // guarded by mu
	writing  bool                     // guarded by mu: a writer goroutine is draining queue
	closed   bool                     // guarded by mu
	acks     map[string]chan struct{} // guarded by mu: message id -> closed on ack
	presence bool                     // guarded by mu: the device asked for presence frames

	// Owned by the reader goroutine only.
	badFrames int
	rateHits  int
	tokens    float64
	lastFill  time.Time
}

// enqueue adds f to the send queue without blocking. It returns errQueueFull or
// errClosed when the frame was not queued.
func (s *session) enqueue(f outFrame) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	if len(s.queue) >= s.srv.cfg.SendQueue {
		s.mu.Unlock()
		s.srv.dropped.Add(1)
		return errQueueFull
	}
	s.queue = append(s.queue, f)
	start := false
	if s.kick == nil && !s.writing {
		s.writing = true
		start = true
	}
	s.mu.Unlock()
	if s.kick != nil {
		select {
		case s.kick <- struct{}{}:
		default:
		}
		return nil
	}
	if start {
		// The session's reader holds a count on the server's WaitGroup, so this Add
		// never races with Shutdown's Wait.
		s.srv.wg.Add(1)
		go func() {
			defer s.srv.wg.Done()
			s.drain()
		}()
	}
	return nil
}

// drain writes queued frames until the queue is empty or the session ends. For
// WebSocket sessions it runs on its own short-lived goroutine; SSE sessions call it
// from their handler.
func (s *session) drain() {
	for {
		s.mu.Lock()
		if len(s.queue) == 0 || s.closed {
			rest := s.queue
			s.queue = nil
			s.writing = false
			s.mu.Unlock()
			for _, f := range rest {
				f.finish(errClosed)
			}
			return
		}
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		for i, f := range batch {
			ctx, cancel := context.WithTimeout(s.ctx, s.srv.cfg.WriteTimeout)
			err := s.t.write(ctx, f)
			cancel()
			f.finish(err)
			if err != nil {
				for _, rest := range batch[i+1:] {
					rest.finish(errClosed)
				}
				s.log.Debug("write failed, closing", "err", err)
				s.end(CloseInternal, "write failed")
				return
			}
		}
	}
}

func (f outFrame) finish(err error) {
	if f.done != nil {
		f.done <- err
	}
}

// end closes the session once: no more frames are queued, ack waiters are released
// and the transport is closed. It never blocks on the peer.
func (s *session) end(code websocket.StatusCode, reason string) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.acks = nil
	s.mu.Unlock()
	s.cancel()
	s.t.close(code, reason)
}

// waitAck registers interest in the ack of message id; the returned channel is
// closed when it arrives. release must be called when the wait is over.
func (s *session) waitAck(id string) (ch <-chan struct{}, release func()) {
	c := make(chan struct{})
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return c, func() {}
	}
	if s.acks == nil {
		s.acks = make(map[string]chan struct{})
	}
	s.acks[id] = c
	return c, func() {
		s.mu.Lock()
		if s.acks[id] == c {
			delete(s.acks, id)
		}
		s.mu.Unlock()
	}
}

// ack records the device's ack of message id and reports whether anyone waited.
func (s *session) ack(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.acks[id]
	if ok {
		delete(s.acks, id)
		close(c)
	}
	return ok
}

// wantsPresence reports whether the device asked for presence frames.
func (s *session) wantsPresence() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presence
}

// allowMsg takes a token from the session's message bucket. Reader goroutine only.
func (s *session) allowMsg(now time.Time) bool {
	cfg := &s.srv.cfg
	if s.lastFill.IsZero() {
		s.tokens = float64(cfg.MsgBurst)
	} else {
		s.tokens += now.Sub(s.lastFill).Seconds() * cfg.MsgRate
		if s.tokens > float64(cfg.MsgBurst) {
			s.tokens = float64(cfg.MsgBurst)
		}
	}
	s.lastFill = now
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}
