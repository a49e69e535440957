package edge

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/wsconn"
	"github.com/heraldpush/herald/protocol"
)

// wsTransport writes frames to a WebSocket.
type wsTransport struct {
	c  *websocket.Conn
	nc *wsconn.Conn    // the connection under c: write deadlines, pings
	wg *sync.WaitGroup // the server's: the close handshake runs on a tracked goroutine

	// closeWrite and closeLinger bound a close for misbehaviour (Config's
	// CloseWriteTimeout and CloseLinger; see closeprompt.go).
	closeWrite, closeLinger time.Duration
}

// write bounds the write with a deadline on the connection rather than a context:
// coder/websocket would register a context.AfterFunc for every write, and keep
// the last write's context, timer and all, for the connection's life.
func (t *wsTransport) write(deadline time.Time, f outFrame) error {
	if err := t.nc.SetWriteDeadline(deadline); err != nil {
		return err
	}
	if err := t.c.Write(context.Background(), websocket.MessageText, f.data); err != nil {
		return err
	}
	// Pings and close frames are written with contexts of their own.
	return t.nc.SetWriteDeadline(time.Time{})
}

// tryWrite writes f at once if the socket takes it without waiting (see
// wsconn.Conn.TryWriteText).
func (t *wsTransport) tryWrite(f outFrame) (wrote, torn bool, err error) {
	return t.nc.TryWriteText(f.data)
}

// finishTorn writes the rest of a frame that tryWrite wrote in part.
func (t *wsTransport) finishTorn(deadline time.Time) error { return t.nc.FinishTorn(deadline) }

// close performs the close handshake without making the caller wait for the peer:
// CloseNow follows if the peer does not answer (within closeLinger for a device
// closed for its misbehaviour, see closeprompt.go). The reader goroutine sees the
// connection end and cleans up.
func (t *wsTransport) close(code websocket.StatusCode, reason string, done func()) {
	t.nc.StopParking() // the handshake reads the device's close frame
	// Callers hold a count on wg (a reader, writer, pinger or Shutdown's sessions'
	// readers), so this Add never races with Wait.
	t.wg.Add(1)
	go func() {
		defer t.wg.Done()
		defer done()
		if code == closeAbort {
			_ = t.c.CloseNow()
			return
		}
		if misbehaved(code) {
			t.cutShort() // see closeprompt.go
		}
		_ = t.c.Close(code, reason)
	}()
}

// serveConnect upgrades GET /v1/connect to a device WebSocket, opens its session
// and hands the connection to a reader goroutine of its own. The handler returns
// at once, so net/http lets go of the request, the response and the goroutine that
// served them; the reader parks the connection when it has nothing to read (see
// wsconn.Conn): an idle connection keeps only what it needs (see docs/design.md, "What
// an idle connection costs").
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request) {
	after, ok := cursor(w, r)
	if !ok {
		return
	}
	claims, ok := s.admit(w, r)
	if !ok {
		return
	}
	// Nothing that comes with the request may be kept (OnPongReceived stays with
	// the connection): it would keep the request and net/http's buffers.
	hw := &wsconn.HijackWriter{ResponseWriter: w, Conn: new(wsconn.Conn)}
	c, err := websocket.Accept(hw, r, &websocket.AcceptOptions{
		Subprotocols:       []string{protocol.Subprotocol},
		InsecureSkipVerify: true, // the Origin was checked by authenticate
		// Pongs the connection leaves in the stream (see wsconn.Conn).
		OnPongReceived: hw.Conn.OnPong,
	})
	if err != nil {
		s.cfg.Logger.Debug("websocket accept failed", "account", claims.Account, "device", claims.Device, "remote", r.RemoteAddr, "err", err)
		s.leave()
		return
	}
	if c.Subprotocol() != protocol.Subprotocol {
		hw.Conn.StopParking()
		_ = c.Close(websocket.StatusPolicyViolation, "subprotocol "+protocol.Subprotocol+" required")
		s.leave()
		return
	}
	c.SetReadLimit(s.cfg.MaxFrameBytes)
	ss := s.newSession(claims.Account, claims.Device, r.RemoteAddr, &wsTransport{c: c, nc: hw.Conn, wg: &s.wg, closeWrite: s.cfg.CloseWriteTimeout, closeLinger: s.cfg.CloseLinger}, nil)
	ss.setTokenEnd(claims.Until)
	ss.grantTopics(claims.Topics)
	ss.after = after
	hw.Conn.SetOwner(ss)
	if s.poller != nil && hw.Conn.HasFD() {
		s.poller.Add(hw.Conn)
	}
	if !s.begin(ss) {
		_ = c.CloseNow()
		s.leave()
		return
	}
	// The readers hold the count admit took on the server's WaitGroup until the
	// last one has finished the session.
	s.startReader(ss)
}

// startReader starts a goroutine that reads ss's frames until its connection
// parks or ends. The reader that sees the end finishes the session and gives the
// connection's admission back. Callers hold a count on the server's WaitGroup (a
// handler adopted by admit, the poller, a closer), so this Add never races with
// Shutdown's Wait.
func (s *Server) startReader(ss *session) {
	c := ss.t.(*wsTransport).c
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.readFrames(ss, c)
		// A reader that parked ends; so does one that raced another reader to the
		// end (one that parked as the connection closed, and the one Close started).
		if errors.Is(err, wsconn.ErrParked) || !ss.finished.CompareAndSwap(false, true) {
			return
		}
		s.finish(ss, err)
		s.leave()
	}()
}

var _ wsconn.Owner = (*session)(nil)

// StartReader starts a reader goroutine for ss: the poller asks for one when
// ss's parked connection has bytes to read, and so does a close of a connection
// that nobody reads (see wsconn.Owner).
func (ss *session) StartReader() { ss.srv.startReader(ss) }

// readFrames reads and handles the device's frames until the connection ends.
//
// Its reads take a context that is never done: the session ends them by closing
// the connection (every end does, see wsTransport.close). A cancellable context
// would cost every idle connection a context.AfterFunc registration, which
// coder/websocket makes for each Read, and the parent's map of children.
func (s *Server) readFrames(ss *session, c *websocket.Conn) error {
	for {
		typ, data, err := c.Read(context.Background())
		if err != nil {
			return err
		}
		if s.handleFrame(ss, typ != websocket.MessageText, data) {
			return nil
		}
	}
}

// newSession creates a session for a verified device connected from remote, and
// draws its lifetime.
func (s *Server) newSession(account, device, remote string, t transport, kick chan struct{}) *session {
	ss := &session{
		srv:      s,
		id:       newSessionID(),
		account:  account,
		device:   device,
		since:    s.cfg.Now(),
		t:        t,
		kick:     kick,
		lifetime: drawLifetime(s.cfg.MinLifetime, s.cfg.MaxLifetime),
	}
	// Not derived from the server context: cancelling a read aborts the close
	// handshake, so Shutdown ends each session through its transport instead.
	ss.ctx, ss.cancel = context.WithCancel(context.Background())
	// Every per-connection line names the connection; never the token or a payload.
	ss.log = slog.New(&sessionLog{ss: ss, remote: remote, h: s.cfg.Logger.Handler()})
	return ss
}

// run begins the session, runs loop until it returns, then finishes the session.
func (s *Server) run(ss *session, loop func(ctx context.Context) error) {
	if !s.begin(ss) {
		return
	}
	s.finish(ss, loop(ss.ctx))
}

// begin queues the welcome, registers the session, queues what its inbox holds
// and attaches it. It reports false, having ended the session, when the welcome
// could not be queued.
//
// The order closes the window in which a message stored for the device while
// it connects would wait for its next connection (docs/design.md, "Stored
// messages and a connecting device"): the device is registered before its
// inbox is read, so that a writer whose put the read misses finds the
// registration and nudges the session (nudge.go), and it is attached here, where deliveries reach it, only
// once the stored page is queued, so that what the inbox held goes right after
// the welcome, before anything sent to the device live. A delivery between
// the registration and the attach finds the device not held and is answered
// offline: its writer stores it and nudges.
func (s *Server) begin(ss *session) bool {
	// The welcome is queued first and the writer held back until the device is
	// attached: the welcome is always the first frame, and a device that has it
	// can already be reached.
	ss.mu.Lock()
	ss.writing = true
	ss.storedBusy = s.cfg.Inbox != nil // begin is the session's stored reader until forward
	ss.mu.Unlock()
	if err := s.send(ss, s.welcome(ss), nil); err != nil {
		ss.end(CloseInternal, causeInternal)
		return false
	}
	s.join(ss)
	s.register(ss)
	// The inbox is read from the start: the device's cursor skips only the
	// messages without ack (queueStored).
	var stored *storedPage
	if s.cfg.Inbox != nil {
		stored = s.queueStored(ss, 0)
	}
	late := s.attach(ss)
	ss.release()
	if s.cfg.RegionNews != nil {
		// Only once attached: the other regions deliver their inboxes'
		// messages for the device here at once, and a delivery before the
		// attach is answered offline, which leaves a message stored there
		// until the device's next connection.
		s.cfg.RegionNews.Handover(ss.account, ss.device)
	}
	if s.cfg.Inbox != nil {
		s.forward(ss, stored)
	}
	if late {
		// Admitted just before Drain, attached after it took its snapshot.
		s.reconnect(ss, causeDrain)
	}
	ss.log.Debug("connected", "lifetime", ss.lifetime)
	return true
}

// finish detaches and ends a session whose loop returned err, and counts the
// disconnect.
func (s *Server) finish(ss *session, err error) {
	s.detach(ss)
	s.dropTopics(ss)
	code := websocket.CloseStatus(err)
	c := causeClientClosed
	switch {
	case errors.Is(err, websocket.ErrMessageTooBig):
		// The library has closed the connection with 1009 itself.
		c, code = causeTooBig, CloseTooBig
		ss.log.Debug("frame over the size limit")
	case err != nil && !errors.Is(err, context.Canceled) && code == -1:
		ss.log.Debug("connection ended", "err", err)
	}
	if code == -1 {
		code = closeAbort // the connection was lost without a close frame
	}
	// The read failed: the device's close frame was answered already, or the
	// connection is dead. Either way no handshake is due (nor worth a goroutine and
	// a wait for a peer that is gone), and frames still queued cannot be written.
	if ss.end(closeAbort, c) {
		ss.setEndCode(code) // the device ended it: count the device's code
	}
	why, code := ss.ended()
	s.met.disconnected(why, code)
	ss.log.Debug("disconnected", "reason", why.label(), "code", int(code))
}

// send encodes f and queues it on ss without blocking.
func (s *Server) send(ss *session, f protocol.Frame, done chan<- bool) error {
	data, err := protocol.Encode(f)
	if err != nil {
		return err
	}
	return ss.enqueue(outFrame{data: data, done: done})
}
