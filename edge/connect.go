package edge

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// wsTransport writes frames to a WebSocket.
type wsTransport struct {
	c  *websocket.Conn
	wg *sync.WaitGroup // the server's: the close handshake runs on a tracked goroutine
}

func (t *wsTransport) write(ctx context.Context, f outFrame) error {
	return t.c.Write(ctx, websocket.MessageText, f.data)
}

// close performs the close handshake without making the caller wait for the peer:
// CloseNow follows if the peer does not answer. The reader goroutine sees the
// connection end and cleans up.
func (t *wsTransport) close(code websocket.StatusCode, reason string, done func()) {
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
		_ = t.c.Close(code, reason)
	}()
}

// serveConnect upgrades GET /v1/connect to a device WebSocket and runs its reader on
// the handler goroutine until the connection ends.
func (s *Server) serveConnect(w http.ResponseWriter, r *http.Request) {
	claims, ok := s.admit(w, r)
	if !ok {
		return
	}
	defer s.leave()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{protocol.Subprotocol},
		InsecureSkipVerify: true, // the Origin was checked by authenticate
	})
	if err != nil {
		s.cfg.Logger.Debug("websocket accept failed", "account", claims.Account, "device", claims.Device, "remote", r.RemoteAddr, "err", err)
		return
	}
	if c.Subprotocol() != protocol.Subprotocol {
		_ = c.Close(websocket.StatusPolicyViolation, "subprotocol "+protocol.Subprotocol+" required")
		return
	}
	c.SetReadLimit(s.cfg.MaxFrameBytes)
	ss := s.newSession(claims.Account, claims.Device, r.RemoteAddr, &wsTransport{c: c, wg: &s.wg}, nil)
	s.run(ss, func(ctx context.Context) error {
		for {
			typ, data, err := c.Read(ctx)
			if err != nil {
				return err
			}
			if typ != websocket.MessageText {
				if s.badFrame(ss, "", "binary messages are not frames: send one JSON object per text message", true, "binary", "") {
					return nil
				}
				continue
			}
			if s.handleFrame(ss, data) {
				return nil
			}
		}
	})
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
	ss.log = s.cfg.Logger.With(slog.String("account", account), slog.String("device", device),
		slog.String("session", ss.id), slog.String("remote", remote))
	return ss
}

// run sends the welcome, attaches the session, runs loop until it returns, then
// detaches and ends the session and counts the disconnect.
func (s *Server) run(ss *session, loop func(ctx context.Context) error) {
	// The welcome is queued first and the writer held back until the device is
	// registered: the welcome is always the first frame, and a device that has it
	// can already be reached.
	ss.mu.Lock()
	ss.writing = true
	ss.mu.Unlock()
	if err := s.send(ss, s.welcome(ss), nil); err != nil {
		ss.end(CloseInternal, causeInternal)
		return
	}
	late := s.attach(ss)
	ss.release()
	if late {
		// Admitted just before Drain, attached after it took its snapshot.
		s.reconnect(ss, causeDrain)
	}
	ss.log.Debug("connected", "lifetime", ss.lifetime)
	err := loop(ss.ctx)
	s.detach(ss)
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
func (s *Server) send(ss *session, f protocol.Frame, done chan<- error) error {
	data, err := protocol.Encode(f)
	if err != nil {
		return err
	}
	return ss.enqueue(outFrame{data: data, done: done})
}
