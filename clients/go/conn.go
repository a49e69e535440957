package herald

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldpush/herald/protocol"
)

const (
	// handshakeTimeout bounds the dial plus the wait for the welcome.
	handshakeTimeout = 30 * time.Second
	// readLimit is the largest frame the client accepts. The server's own
	// limit (64 KiB by default) applies to what it forwards, so this only
	// guards against a misbehaving peer.
	readLimit = 1 << 20
)

// conn is one WebSocket connection after its welcome. Its read loop runs on
// one goroutine; writes may come from any goroutine (websocket.Conn.Write is
// safe for concurrent use).
type conn struct {
	c  *Client
	ws *websocket.Conn

	done chan struct{} // closed when the read loop has ended
	seen *atomic.Int64 // unix nanoseconds of the last message or ping received

	mu      sync.Mutex
	pending map[string]*waiter // guarded by mu: Sends waiting for a receipt, by msg id
	ended   bool               // guarded by mu: the read loop has ended
}

// idleLimit is how long a connection may stay silent (no message, no ping)
// before the client takes it for dead: two and a half ping intervals of the
// welcome. It catches half-open TCP connections, which a read would wait on
// forever. Zero means no limit (the server announced no pings).
func idleLimit(w *protocol.Welcome) time.Duration {
	return time.Duration(w.PingMS) * time.Millisecond * 5 / 2
}

// idleFor returns how long the connection has been silent.
func (cn *conn) idleFor() time.Duration {
	return time.Since(time.Unix(0, cn.seen.Load()))
}

// sendResult answers a pending Send: a receipt or a *ServerError.
type sendResult struct {
	receipt   *protocol.Receipt
	refreshed *protocol.Refreshed // the answer to a refresh (refresh.go)
	err       error
}

// waiter is a Send or SendAndWait waiting for the answers to its msg. A Send
// takes the first answer; a SendAndWait (final) keeps waiting after a first
// receipt that is not final, for the second receipt with the same id.
type waiter struct {
	ch       chan sendResult // buffered for both answers: resolve never blocks
	final    bool            // wait past a first receipt that is not final
	answered bool            // guarded by conn.mu: a first answer was sent on ch
}

// receiptFinal reports whether every result of r is a final outcome, so that
// no later receipt can change it: anything but "delivered", which an ack (or
// its timeout) still turns into "acked" or "timeout".
func receiptFinal(r *protocol.Receipt) bool {
	for _, res := range r.Results {
		if res.Status == protocol.StatusDelivered {
			return false
		}
	}
	return true
}

// dial opens a connection to the connect URL and reads its welcome.
func dial(ctx context.Context, c *Client, connect, token string) (*conn, *protocol.Welcome, error) {
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	seen := new(atomic.Int64)
	seen.Store(time.Now().UnixNano())
	ws, resp, err := websocket.Dial(hctx, c.urlAfter(connect), &websocket.DialOptions{
		HTTPClient:   c.cfg.HTTPClient,
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + token}},
		Subprotocols: []string{protocol.Subprotocol},
		OnPingReceived: func(context.Context, []byte) bool {
			seen.Store(time.Now().UnixNano())
			return true
		},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, nil, &handshakeError{status: resp.StatusCode, retryAfter: retryAfter(resp.Header), err: err}
		}
		return nil, nil, fmt.Errorf("herald: dial: %w", err)
	}
	if ws.Subprotocol() != protocol.Subprotocol {
		ws.Close(websocket.StatusPolicyViolation, "subprotocol "+protocol.Subprotocol+" required")
		return nil, nil, fmt.Errorf("herald: dial: server did not agree to subprotocol %s", protocol.Subprotocol)
	}
	ws.SetReadLimit(readLimit)

	_, data, err := ws.Read(hctx) // hctx ending closes ws
	if err != nil {
		ws.CloseNow()
		return nil, nil, fmt.Errorf("herald: waiting for welcome: %w", err)
	}
	f, err := protocol.Decode(data)
	if err != nil {
		ws.Close(websocket.StatusProtocolError, "bad welcome")
		return nil, nil, fmt.Errorf("herald: waiting for welcome: %w", err)
	}
	c.onFrame(f)
	w, ok := f.(*protocol.Welcome)
	if !ok {
		ws.Close(websocket.StatusProtocolError, "welcome expected")
		return nil, nil, fmt.Errorf("herald: first frame is %s, not welcome", f.Kind())
	}
	return &conn{
		c:       c,
		ws:      ws,
		done:    make(chan struct{}),
		seen:    seen,
		pending: make(map[string]*waiter),
	}, w, nil
}

// readLoop reads and handles frames until the connection ends, and returns
// why it ended: the read error (with the close status, if any) or a
// *reconnectRequest. It releases the pending Sends on the way out.
func (cn *conn) readLoop() error {
	defer func() {
		cn.mu.Lock()
		cn.ended = true
		cn.pending = nil
		cn.mu.Unlock()
		close(cn.done)
	}()
	for {
		typ, data, err := cn.ws.Read(context.Background())
		if err != nil {
			return fmt.Errorf("herald: read: %w", err)
		}
		cn.seen.Store(time.Now().UnixNano())
		if typ != websocket.MessageText {
			cn.c.log.Warn("herald: binary message ignored", "bytes", len(data))
			continue
		}
		f, err := protocol.Decode(data)
		if err != nil {
			// An unknown kind or field shape from a newer server must not
			// cost the connection.
			cn.c.log.Warn("herald: frame ignored", "err", err)
			continue
		}
		if err := cn.handle(f); err != nil {
			return err
		}
	}
}

// handle acts on one frame; an error ends the read loop.
func (cn *conn) handle(f protocol.Frame) error {
	c := cn.c
	c.onFrame(f)
	switch f := f.(type) {
	case *protocol.Msg:
		c.deliver(cn, f)
	case *protocol.Receipt:
		if c.cfg.OnReceipt != nil {
			c.cfg.OnReceipt(f)
		}
		cn.resolve(f.ID, sendResult{receipt: f})
	case *protocol.Error:
		if f.Re == "" || !cn.resolve(f.Re, sendResult{err: &ServerError{Frame: f}}) {
			c.log.Warn("herald: error frame", "re", f.Re, "code", f.Code, "message", f.Message)
		}
	case *protocol.Refreshed:
		cn.resolve(f.ID, sendResult{refreshed: f})
	case *protocol.Presence:
		if c.cfg.OnPresence != nil {
			c.cfg.OnPresence(f)
		}
	case *protocol.Welcome:
		c.mu.Lock()
		c.welcome = f
		c.mu.Unlock()
	case *protocol.Reconnect:
		// Close first, so that TIME_WAIT stays on the device, not the edge.
		cn.ws.Close(websocket.StatusNormalClosure, "reconnect")
		return &reconnectRequest{after: time.Duration(f.AfterMS) * time.Millisecond, reason: f.Reason}
	}
	return nil
}

// deliver passes a msg to OnMessage unless it is a duplicate (a stored
// message written again, after a connection cut before the edge removed it,
// is one too: it keeps its id), moves the cursor to its seq, then acks it if
// AutoAck is on and the msg asked for it. A duplicate that asks for an ack is
// acked again when AutoAck is on or the app acked it already (its first ack
// was lost with the connection); otherwise it is left for the app's own Ack,
// which goes out on the current connection.
func (c *Client) deliver(cn *conn, m *protocol.Msg) {
	isNew, acked := true, false
	if m.ID != "" {
		isNew, acked = c.dedup.add(m.ID)
	}
	if isNew {
		if c.cfg.OnMessage != nil {
			c.cfg.OnMessage(m)
		}
	} else {
		c.log.Debug("herald: duplicate dropped", "id", m.ID, "acked", acked)
	}
	switch {
	case m.Topic != "" && m.Seq != 0:
		// A topic message's seq is its topic's cursor, not the inbox's.
		c.advanceTopic(m.Topic, m.Seq)
	case m.Seq != 0:
		c.advance(m.Seq)
	}
	if m.Ack && m.ID != "" && (c.cfg.AutoAck || acked) {
		c.dedup.ack(m.ID)
		err := cn.writeFrame(context.Background(), &protocol.Ack{ID: m.ID}, c.cfg.SendTimeout)
		if err != nil {
			c.log.Warn("herald: ack", "id", m.ID, "err", err)
		}
	}
}

func (c *Client) onFrame(f protocol.Frame) {
	if c.cfg.OnFrame != nil {
		c.cfg.OnFrame(f)
	}
}

// expect registers a Send waiting for the receipt of id; with final, it
// waits past a first receipt that is not final (SendAndWait).
func (cn *conn) expect(id string, final bool) (<-chan sendResult, error) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	if cn.ended {
		return nil, ErrNotConnected
	}
	if _, ok := cn.pending[id]; ok {
		return nil, fmt.Errorf("herald: a Send with id %s is already waiting", id)
	}
	w := &waiter{ch: make(chan sendResult, 2), final: final}
	cn.pending[id] = w
	return w.ch, nil
}

// forget drops the registration of id, once its Send returns.
func (cn *conn) forget(id string) {
	cn.mu.Lock()
	defer cn.mu.Unlock()
	delete(cn.pending, id)
}

// resolve hands r to the Send waiting for id, if any, and reports whether
// there was one. A Send gets the first answer only; a SendAndWait also gets
// the second when the first was a receipt that is not final. Since only the
// read goroutine calls resolve, the answers reach the waiter in order, and
// at most two of them, which the channel's buffer holds.
func (cn *conn) resolve(id string, r sendResult) bool {
	cn.mu.Lock()
	w, ok := cn.pending[id]
	if ok {
		keep := w.final && !w.answered && r.err == nil && !receiptFinal(r.receipt)
		if !keep {
			delete(cn.pending, id)
		}
		w.answered = true
	}
	cn.mu.Unlock()
	if ok {
		w.ch <- r
	}
	return ok
}

// writeFrame encodes f and writes it, waiting at most timeout. A write that
// cannot finish in time closes the connection (websocket.Conn does so: half a
// frame cannot be taken back), and the client reconnects.
func (cn *conn) writeFrame(ctx context.Context, f protocol.Frame, timeout time.Duration) error {
	data, err := protocol.Encode(f)
	if err != nil {
		return fmt.Errorf("herald: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err // before Write, which would close the connection for it
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := cn.ws.Write(ctx, websocket.MessageText, data); err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return fmt.Errorf("herald: write %s: %w", f.Kind(), cerr)
		}
		return fmt.Errorf("%w: %w", ErrNotConnected, err)
	}
	return nil
}
