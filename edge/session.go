package edge

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// errQueueFull is the reason a message for a full send queue is rejected.
var errQueueFull = errors.New("send queue full")

// errClosed reports a frame that could not be written because the session ended.
var errClosed = errors.New("connection closed")

// errReconnecting reports a message for a session that was sent a reconnect
// frame: a device that follows the contract closes on that frame and drops what
// comes after it, so a message queued behind it would be written and lost.
var errReconnecting = errors.New("the device was told to reconnect")

// errOutRate is the reason a message over the connection's MaxOutRate is
// rejected; its text is the error code the result carries.
var errOutRate = errors.New(string(protocol.CodeRateLimited))

// outFrame is one encoded frame waiting in a send queue. done, when set, receives
// whether the frame was written (a channel of a pointer-free type costs one
// allocation; one of errors, two).
type outFrame struct {
	data []byte
	id   string      // message id, for SSE "id:" lines
	done chan<- bool // buffered; nil when nobody waits
	ping bool        // SSE keepalive comment
	// queued: never written by the enqueuing goroutine itself, always by the
	// session's writer, so that a fan-out over many sessions never waits on
	// one slow device (topics.go).
	queued bool

	close  bool // the last frame: close the connection with code and reason
	code   websocket.StatusCode
	reason string
}

// transport writes frames to one device connection.
type transport interface {
	// write writes one frame, giving up at deadline.
	write(deadline time.Time, f outFrame) error
	// close ends the connection with a WebSocket close code and reason, without
	// blocking, then calls done. Cancelling a WebSocket read aborts the close
	// handshake, so the session's context is cancelled only through done.
	close(code websocket.StatusCode, reason string, done func())
}

// directWriter is a transport that can write a frame without waiting, from the
// goroutine that delivers it, while no writer runs.
type directWriter interface {
	// tryWrite writes f whole, or nothing (wrote false), or, with torn, a part
	// of it: finishTorn must then write the rest before anything else.
	tryWrite(f outFrame) (wrote, torn bool, err error)
	// finishTorn writes the rest of a torn frame, giving up at deadline.
	finishTorn(deadline time.Time) error
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

	// after is the device's resume cursor: the seq of the last stored message
	// it received. Set before the session begins, read-only after.
	after uint64

	// lifetime is how long the connection may live before it is asked to
	// reconnect; drawn once, sent in the welcome.
	lifetime time.Duration
	// tokenEnd is when the device token stops being accepted, Unix ns; 0: never.
	// Set before the session is on the wheel; then guarded by the wheel's mu
	// (a refresh moves it: refresh.go).
	tokenEnd int64

	pinging   atomic.Bool   // a keepalive ping is in flight
	inflight  atomic.Int32  // device messages being delivered
	cause     atomic.Uint32 // the first cause of the end (a cause); set once
	reconnect atomic.Uint32 // the cause of the reconnect frame sent (a cause), 0 before
	finished  atomic.Bool   // a WebSocket reader finished the session

	// Guarded by srv.wheel.mu: the session's place in the wheel's keepalive and
	// deadline lists.
	slot slotLink
	due  dueLink
	// Guarded by srv.mu: the next live session of the same account.
	sibling *session

	mu       sync.Mutex
	queue    []outFrame           // guarded by mu
	writing  bool                 // guarded by mu: a writer goroutine is draining queue, or a delivery writes directly
	torn     *outFrame            // the writer's: a frame written in part by writeDirect, to finish first
	closed   bool                 // guarded by mu
	endCode  websocket.StatusCode // guarded by mu: the close code, once closed
	acks     map[string]*ackWait  // guarded by mu: message id -> the sender's wait for its ack
	presence bool                 // guarded by mu: the device asked for presence frames
	platform string               // guarded by mu: from the device's hello

	// Guarded by mu: the ids of the stored messages with ack queued on the
	// session, which the device's ack removes from the inbox (edge/inbox.go),
	// each with the device that sent it ("" for a service), which then gets a
	// late acked receipt (late.go). At most what the device's inbox holds:
	// each is queued once per session.
	storedAcks map[string]string

	// Guarded by mu: the topics the token grants and those subscribed
	// (topics.go); nil for a token that grants none.
	topics *sessionTopics

	// Guarded by mu: the session's stored reader (nudge.go), which reads the
	// inbox and queues what it holds. At most one runs per session: begin's
	// first read, then one forwardStored goroutine at a time.
	storedSeq   uint64 // the seq of the last stored message queued or skipped; a read again starts after it
	storedBusy  bool   // the reader runs
	storedAgain bool   // a nudge came while it ran: it reads again before it stops
	storedRetry bool   // a read failed: the next heartbeat reads again (storedretry.go)

	// Guarded by mu: the hello metadata waiting to be written, and whether a
	// write is in flight (storeHello).
	helloNext *protocol.DeviceInfo
	helloBusy bool
	out       bucket // guarded by mu: the MaxOutRate bucket
	httpAcks  bucket // guarded by mu: FrameRate, FrameBurst for the ids of POST /v1/acks

	// Owned by the reader goroutine only: the inbound budgets (frames.go).
	rateHits int    // frames over a budget in a row
	msgs     bucket // MsgRate, MsgBurst: device messages, a token per target
	frames   bucket // FrameRate, FrameBurst: every inbound frame
	hellos   bucket // HelloRate, HelloBurst: hello frames
	errs     bucket // ErrorRate, ErrorBurst: error frames sent in reply
	bad      bucket // MaxBadFrames per BadFrameWindow: undecodable frames
}

// enqueue adds f to the send queue without blocking. It returns errQueueFull,
// errOutRate, errReconnecting (a message, once the session was sent reconnect)
// or errClosed when the frame was not queued.
func (s *session) enqueue(f outFrame) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errClosed
	}
	// Checked under mu, as reconnect's own enqueue is: a message either goes
	// ahead of the reconnect frame or is refused.
	if f.id != "" && s.reconnect.Load() != uint32(causeNone) {
		s.mu.Unlock()
		return errReconnecting
	}
	if len(s.queue) >= s.srv.cfg.SendQueue {
		s.mu.Unlock()
		s.srv.dropped.Add(1)
		s.srv.met.dropped[dropQueueFull].Inc()
		return errQueueFull
	}
	if f.id != "" && s.srv.cfg.MaxOutRate > 0 && !s.takeOutLocked(s.srv.cfg.Now()) {
		s.mu.Unlock()
		s.srv.met.dropped[dropOutRate].Inc()
		s.srv.met.rateLimited[dirOut].Inc()
		return errOutRate
	}
	if dw, ok := s.t.(directWriter); ok && s.kick == nil && !s.writing && !f.close && !f.queued {
		// Nothing queued and no writer: write it from here, without waking one.
		s.writing = true
		s.mu.Unlock()
		s.writeDirect(dw, f)
		return nil
	}
	s.queue = append(s.queue, f)
	start := false
	if s.kick == nil && !s.writing {
		s.writing = true
		start = true
	}
	s.mu.Unlock()
	s.wake(start)
	return nil
}

// writeDirect writes f, for which the caller made itself the session's writer
// (writing is true), without waiting on the socket. What the socket does not take
// at once goes to a writer goroutine, ahead of the frames queued meanwhile.
func (s *session) writeDirect(dw directWriter, f outFrame) {
	wrote, torn, err := dw.tryWrite(f)
	if err != nil {
		f.finish(err)
		s.log.Debug("write failed, closing", "err", err)
		s.end(closeAbort, causeWriteTimeout) // writing stays true: no writer starts
		return
	}
	s.mu.Lock()
	switch {
	case torn:
		s.torn = &f
	case !wrote:
		s.queue = slices.Insert(s.queue, 0, f)
	default:
		f.finish(nil)
		if len(s.queue) == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
	}
	s.mu.Unlock()
	s.wake(true)
}

// release lets the writer go after run held it back for the welcome.
func (s *session) release() {
	s.mu.Lock()
	start := s.kick == nil && len(s.queue) > 0
	s.writing = start
	s.mu.Unlock()
	s.wake(start)
}

// wake gets queued frames written: SSE sessions signal their handler; WebSocket
// sessions start a writer when start says none runs.
func (s *session) wake(start bool) {
	if s.kick != nil {
		select {
		case s.kick <- struct{}{}:
		default:
		}
		return
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
}

// drain writes queued frames until the queue is empty, the close frame was sent,
// or a write failed. For WebSocket sessions it runs on its own short-lived
// goroutine; SSE sessions call it from their handler.
func (s *session) drain() {
	if s.torn != nil {
		f := *s.torn
		s.torn = nil
		err := s.t.(directWriter).finishTorn(time.Now().Add(s.srv.cfg.WriteTimeout))
		f.finish(err)
		if err != nil {
			s.log.Debug("write failed, closing", "err", err)
			s.end(closeAbort, causeWriteTimeout)
			return
		}
	}
	for {
		s.mu.Lock()
		if len(s.queue) == 0 {
			s.writing = false
			s.mu.Unlock()
			return
		}
		batch := s.queue
		s.queue = nil
		s.mu.Unlock()
		for i, f := range batch {
			if f.close {
				// The last frame: writing stays true, so no other writer starts.
				s.t.close(f.code, f.reason, s.cancel)
				finishAll(batch[i+1:], errClosed)
				return
			}
			err := s.t.write(time.Now().Add(s.srv.cfg.WriteTimeout), f)
			f.finish(err)
			if err != nil {
				finishAll(batch[i+1:], errClosed)
				s.log.Debug("write failed, closing", "err", err)
				s.end(closeAbort, causeWriteTimeout)
				return
			}
		}
	}
}

func (f outFrame) finish(err error) {
	if f.done != nil {
		f.done <- err == nil
	}
}

func finishAll(frames []outFrame, err error) {
	for _, f := range frames {
		f.finish(err)
	}
}

// end closes the session once, for cause c: no more frames are queued and ack
// waiters are released. A graceful close goes out after the frames already queued
// (so the error frame that explains a close arrives first); closeAbort drops them
// and closes at once. It never blocks on the peer. It reports whether this call
// closed the session (false when it was closed already).
func (s *session) end(code websocket.StatusCode, c cause) bool {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return false
	}
	s.closed = true
	s.endCode = code
	s.acks = nil
	s.cause.CompareAndSwap(uint32(causeNone), uint32(c))
	if code == closeAbort {
		rest := s.queue
		s.queue = nil
		s.mu.Unlock()
		finishAll(rest, errClosed)
		s.t.close(code, c.reason(), s.cancel)
		return true
	}
	s.queue = append(s.queue, outFrame{close: true, code: code, reason: c.reason()})
	start := s.kick == nil && !s.writing
	s.writing = s.writing || start
	s.mu.Unlock()
	s.wake(start)
	return true
}

// setEndCode records the close code the device chose, for a session that ended
// because the device closed it.
func (s *session) setEndCode(code websocket.StatusCode) {
	s.mu.Lock()
	s.endCode = code
	s.mu.Unlock()
}

// ended returns the cause and close code of an ended session.
func (s *session) ended() (cause, websocket.StatusCode) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return cause(s.cause.Load()), s.endCode
}

// ackWait is one sender's wait for the device's ack of a message id.
type ackWait struct {
	sender sender        // who sent the message
	ch     chan struct{} // closed when the ack arrives
	refs   int           // deliveries of the id waiting on ch
}

// errIDInUse rejects a delivery whose message id another sender's message to the
// same device is awaiting an ack for: the device's ack could not say which of
// the two it acknowledges. Its text is the result's error.
var errIDInUse = errors.New("duplicate_id")

// sender names who sent a message, to keep apart the ack waits of two senders
// whose messages carry the same id.
type sender struct {
	device bool   // a device of the account; else a service
	name   string // the device id or the service name
}

// senderOf returns who sent m.
func senderOf(m *protocol.Msg) sender {
	switch {
	case m.From == nil:
		return sender{}
	case m.From.Device != "":
		return sender{device: true, name: m.From.Device}
	}
	return sender{name: m.From.Service}
}

// waitAck registers the interest of from in the ack of message id; the returned
// channel is closed when it arrives, and release must be called when the wait is
// over. Deliveries of the same id by the same sender share one wait. It fails
// with errIDInUse while another sender waits for an ack of the same id.
func (s *session) waitAck(id string, from sender) (ch <-chan struct{}, release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return make(chan struct{}), func() {}, nil
	}
	w := s.acks[id]
	switch {
	case w == nil:
		if s.acks == nil {
			s.acks = make(map[string]*ackWait)
		}
		w = &ackWait{sender: from, ch: make(chan struct{})}
		s.acks[id] = w
	case w.sender != from:
		return nil, nil, errIDInUse
	}
	w.refs++
	return w.ch, func() {
		s.mu.Lock()
		if w.refs--; w.refs == 0 && s.acks[id] == w {
			delete(s.acks, id)
		}
		s.mu.Unlock()
	}, nil
}

// idFree reports whether from may deliver a message of id that asks for no
// ack: no other sender waits for an ack of that id (whose wait the device's ack
// of this message would end).
func (s *session) idFree(id string, from sender) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.acks[id]
	return w == nil || w.sender == from
}

// ack records the device's ack of message id and reports whether a sender
// waited for it, and whether it was a stored message of the session, which the
// caller then removes from the inbox; sender is the device that sent a stored
// message, "" for a service's.
func (s *session) ack(id string) (waited, stored bool, sender string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	w, waited := s.acks[id]
	if waited {
		delete(s.acks, id)
		close(w.ch)
	}
	if sender, stored = s.storedAcks[id]; stored {
		delete(s.storedAcks, id)
	}
	return waited, stored, sender
}

// awaitStoredAck records that the stored message id, which asks for an ack, is
// queued on the session: the device's ack of it removes it from the inbox, and
// tells sender, the device that sent it ("" for a service), that it was acked
// (lateAcked).
func (s *session) awaitStoredAck(id, sender string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.storedAcks == nil {
		s.storedAcks = make(map[string]string)
	}
	s.storedAcks[id] = sender
}

// wantsPresence reports whether the device asked for presence frames.
func (s *session) wantsPresence() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.presence
}

// allowMsg takes n tokens (one per target) from the session's message bucket.
// Reader goroutine only.
func (s *session) allowMsg(now time.Time, n int) bool {
	cfg := &s.srv.cfg
	return s.msgs.take(now.UnixNano(), cfg.MsgRate, cfg.MsgBurst, float64(n))
}

// takeHTTPAcks takes n tokens (one per acknowledged id) of the frame budget of
// POST /v1/acks, which a device may call besides its connection's frames.
func (s *session) takeHTTPAcks(now time.Time, n int) bool {
	cfg := &s.srv.cfg
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.httpAcks.take(now.UnixNano(), cfg.FrameRate, cfg.FrameBurst, float64(n))
}

// takeOutLocked takes a token from the connection's outbound message bucket
// (MaxOutRate, MaxOutBurst). The caller holds s.mu.
func (s *session) takeOutLocked(now time.Time) bool {
	return s.out.take(now.UnixNano(), s.srv.cfg.MaxOutRate, s.srv.cfg.MaxOutBurst, 1)
}
