package herald

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/heraldpush/herald/protocol"
)

// Defaults for the zero fields of Config.
const (
	DefaultMinBackoff  = 500 * time.Millisecond
	DefaultMaxBackoff  = 30 * time.Second
	DefaultDedupSize   = 4096
	DefaultSendTimeout = 10 * time.Second
)

// connectPath is the device endpoint of every edge.
const connectPath = "/v1/connect"

// Config configures a Client. Only URL and a token source are required; New
// fills the zero fields with defaults.
type Config struct {
	// URL is the edge's base URL, such as "ws://localhost:8080" or
	// "https://edge.example.com" (http becomes ws, https becomes wss). The
	// client dials URL + "/v1/connect", unless the path already ends in
	// /v1/connect. With FallbackURLs, it is the preferred endpoint: the
	// nearest region.
	URL string

	// FallbackURLs are the endpoints to fail over to when URL cannot be
	// reached, in order, each in URL's form (typically one per other
	// region). The client stays on URL while it works; when a dial fails it
	// tries the next endpoint for the next attempt, and after a while on a
	// fallback it returns to URL (see FallbackRetry and "Endpoints" in the
	// package documentation). Client.Endpoint says which one is in use.
	FallbackURLs []string

	// FallbackRetry is how long the client stays connected to a fallback
	// before it checks whether URL answers again, and if it does, moves back
	// to it, plus a random jitter of up to 20% (so that the devices of a
	// region do not all return at once); default DefaultFallbackRetry.
	FallbackRetry time.Duration

	// Token is the device token (a JWT), sent as "Authorization: Bearer <token>".
	Token string

	// TokenFunc, when set, is called before every connection attempt and wins
	// over Token, so that the app can hand out a fresh token after a 4001 close
	// (the edge closes a connection when its token expires) or an HTTP 401. An
	// error retries with backoff, unless it wraps ErrUnauthorized or
	// ErrForbidden, which end Run. Without it, a 4001 close ends Run with
	// ErrTokenExpired.
	TokenFunc func(ctx context.Context) (string, error)

	// RefreshBefore, with TokenFunc, is how long before the connection's
	// token expires the client calls TokenFunc and sends the new token on
	// the live connection (a refresh frame), which then outlives the old
	// token without a reconnect; half way to the expiry when that is sooner.
	// A refresh the edge refuses leaves the old expiry, at which the client
	// reconnects as before. 0 is DefaultRefreshBefore; negative turns
	// refreshes off.
	RefreshBefore time.Duration

	// OnMessage is called for each msg that is not a duplicate, in order. It
	// runs on the connection's read goroutine, so while it runs no other frame
	// is read (and no receipt reaches a waiting Send): return quickly, and call
	// Send from another goroutine, not from OnMessage itself. Run returns
	// only after a running OnMessage has returned.
	OnMessage func(m *protocol.Msg)

	// OnFrame, when set, sees every frame as received, before the client
	// handles it: welcome, msg (duplicates too), receipt (including the later
	// receipts that Send does not return), error, presence and reconnect.
	OnFrame func(f protocol.Frame)

	// OnReceipt, when set, is called for every receipt, in the order received:
	// the first receipt of a msg and, for a msg sent with an ack, the later
	// one with the same id that has the final outcomes ("acked" or "timeout")
	// and that neither Send nor a SendAndWait that already returned gets. It
	// runs on the read goroutine, before a waiting Send or SendAndWait is
	// answered, so the same rules as for OnMessage apply: return quickly, and
	// do not call Send from it.
	OnReceipt func(r *protocol.Receipt)

	// OnPresence, when set, is called for each presence frame: a sibling
	// device came online or went offline. The server sends them only after a
	// Hello that asked for them. It runs on the read goroutine, like
	// OnMessage.
	OnPresence func(p *protocol.Presence)

	// OnState, when set, is told of every state change, with the error that
	// caused it for StateDisconnected and StateClosed. A disconnect that the
	// server asked for with a reconnect frame (reason "lifetime", "drain" or
	// "rebalance") is no error: its StateDisconnected comes with nil, and
	// OnFrame sees the frame. Neither is a 4001 close (token expired) when
	// TokenFunc is set to fetch the next token.
	OnState func(s State, err error)

	// AutoAck sends an ack frame after OnMessage returns, for each msg that
	// asked for one (ack:true). Duplicates are acknowledged again without
	// calling OnMessage, since a redelivery usually means the first ack was lost.
	// Without AutoAck the app acks with Ack; the client then acks again only
	// the duplicates of msgs the app acked (see "Duplicates and acks" in the
	// package documentation).
	AutoAck bool

	// MinBackoff and MaxBackoff bound the delay between reconnect attempts:
	// exponential with equal jitter (see the package documentation).
	// Defaults DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration

	// DedupSize is how many recent message ids are remembered to drop
	// duplicates; default DefaultDedupSize.
	DedupSize int

	// SendTimeout bounds how long Send waits for its receipt, and how long a
	// write may take; default DefaultSendTimeout.
	SendTimeout time.Duration

	// After is the resume cursor to start from: the seq of the last stored
	// message the device received, as Cursor returned before the app last
	// stopped. The edge then writes only the stored messages after it. Zero
	// starts with everything the device's inbox holds. Messages leave the
	// inbox once written, so After matters most when a connection was cut
	// before the edge could remove what it wrote.
	After uint64

	// HTTPClient, when set, is used for the WebSocket handshake.
	HTTPClient *http.Client

	// Logger receives connection events; the default discards them.
	Logger *slog.Logger
}

// State is the state of a Client's connection.
type State int

// The states of a Client. A Client goes from StateConnecting to
// StateConnected (welcome received) or StateDisconnected, and back to
// StateConnecting for each reconnect attempt, until StateClosed when Run
// returns.
const (
	StateConnecting State = iota + 1
	StateConnected
	StateDisconnected
	StateClosed
)

// String returns the state's name, such as "connected".
func (s State) String() string {
	switch s {
	case StateConnecting:
		return "connecting"
	case StateConnected:
		return "connected"
	case StateDisconnected:
		return "disconnected"
	case StateClosed:
		return "closed"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Client is a device's connection to Herald: one WebSocket to an edge, kept up
// by Run. Its methods are safe for concurrent use.
type Client struct {
	cfg   Config
	eps   []endpoint // URL, then FallbackURLs: in order of preference
	log   *slog.Logger
	dedup *dedup // msg ids received, and whether acked

	// probeAt is when to check, while connected to a fallback, whether the
	// preferred endpoint is back; zero while on the preferred one. Owned by
	// Run's goroutine, like lastWelcomed: the endpoint of the last
	// connection that received its welcome, -1 before the first.
	probeAt      time.Time
	lastWelcomed int

	// cursor is the highest seq received (or Config.After), sent as
	// ?after= on every connection.
	cursor atomic.Uint64

	// helloMu serializes the writes of hello frames (Hello, and publish on a
	// new connection). Lock order: helloMu, then mu.
	helloMu sync.Mutex

	mu        sync.Mutex
	cur       int               // guarded by mu: the index in eps of the endpoint in use or dialed next
	started   bool              // guarded by mu: Run was called
	closed    bool              // guarded by mu: Run returned
	conn      *conn             // guarded by mu: the connection with a welcome, or nil
	welcome   *protocol.Welcome // guarded by mu: the latest welcome
	connected chan struct{}     // guarded by mu: closed while conn != nil
	hello     *protocol.Hello   // guarded by mu: the latest Hello, sent again after each welcome
	topics    []string          // guarded by mu: the topics subscribed (Subscribe), again after each welcome
	// topicSeq is, per topic, the seq of the last message of it received:
	// the cursor the client subscribes again with, so that it catches up on
	// what it missed while not connected. Guarded by mu.
	topicSeq map[string]uint64
}

// New validates cfg and returns a Client with its defaults filled in. The
// Client does nothing until Run.
func New(cfg Config) (*Client, error) {
	eps, err := parseEndpoints(cfg.URL, cfg.FallbackURLs)
	if err != nil {
		return nil, err
	}
	if cfg.Token == "" && cfg.TokenFunc == nil {
		return nil, errors.New("herald: Config.Token or Config.TokenFunc is required")
	}
	if cfg.MinBackoff < 0 || cfg.MaxBackoff < 0 || cfg.DedupSize < 0 || cfg.SendTimeout < 0 || cfg.FallbackRetry < 0 {
		return nil, errors.New("herald: negative duration or size in Config")
	}
	if cfg.FallbackRetry == 0 {
		cfg.FallbackRetry = DefaultFallbackRetry
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		return nil, fmt.Errorf("herald: Config.MaxBackoff %v is below MinBackoff %v", cfg.MaxBackoff, cfg.MinBackoff)
	}
	if cfg.DedupSize == 0 {
		cfg.DedupSize = DefaultDedupSize
	}
	if cfg.SendTimeout == 0 {
		cfg.SendTimeout = DefaultSendTimeout
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Client{
		cfg:          cfg,
		eps:          eps,
		log:          cfg.Logger,
		dedup:        newDedup(cfg.DedupSize),
		connected:    make(chan struct{}),
		lastWelcomed: -1,
	}
	c.cursor.Store(cfg.After)
	return c, nil
}

// Cursor returns the resume cursor: the highest seq of the stored messages
// received so far (live messages carry none), or Config.After before the
// first. The client sends it as ?after= on each reconnect by itself; an app
// that persists it across restarts passes it back as Config.After, so that
// the edge does not write again what the device already has. It moves only
// after OnMessage returned for the message (or, for a duplicate, at once),
// so a cursor read in OnMessage does not yet cover the message being handled.
func (c *Client) Cursor() uint64 {
	return c.cursor.Load()
}

// advance moves the cursor to seq when seq is above it.
func (c *Client) advance(seq uint64) {
	for {
		cur := c.cursor.Load()
		if seq <= cur || c.cursor.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// urlAfter returns the URL to dial: the connect URL with ?after= set to the
// cursor, when there is one.
func (c *Client) urlAfter(connect string) string {
	seq := c.cursor.Load()
	if seq == 0 {
		return connect
	}
	u, err := url.Parse(connect) // checked by connectURL in New
	if err != nil {
		return connect
	}
	q := u.Query()
	q.Set("after", strconv.FormatUint(seq, 10))
	u.RawQuery = q.Encode()
	return u.String()
}

// Endpoint returns the endpoint in use, as configured (Config.URL or one of
// Config.FallbackURLs): the one connected to, or, between connections, the
// one the next attempt dials. Call it from OnState to log which region a
// device is on.
func (c *Client) Endpoint() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eps[c.cur].base
}

// endpoint returns the endpoint in use and its index.
func (c *Client) endpoint() (endpoint, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eps[c.cur], c.cur
}

// moveTo makes eps[i] the endpoint of the next attempt and reports whether
// that is another endpoint.
func (c *Client) moveTo(i int) bool {
	c.mu.Lock()
	from := c.cur
	c.cur = i
	c.mu.Unlock()
	if i == from {
		return false
	}
	c.log.Info("herald: switching endpoint", "from", c.eps[from].base, "to", c.eps[i].base)
	return true
}

// Welcome returns the latest welcome frame, nil before the first. It stays
// set across disconnects. The frame must not be modified.
func (c *Client) Welcome() *protocol.Welcome {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.welcome
}

// Connected returns a channel that is closed once the client has a connection
// that received its welcome. While connected, the channel is already closed;
// while not (before the first welcome, between connections), it is closed
// when the next connection receives its welcome. Call Connected again after a
// disconnect: a channel once closed stays closed. After Run returns, the
// channel is never closed, so wait on it together with a context.
func (c *Client) Connected() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.connected
}

// current returns the connection to write to.
func (c *Client) current() (*conn, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, ErrClosed
	case c.conn == nil:
		return nil, ErrNotConnected
	}
	return c.conn, nil
}

// Run connects and keeps the client connected, reconnecting as the table in
// the package documentation says, until ctx is done (Run then closes the
// connection with 1000 and returns nil) or a final error (ErrReplaced,
// ErrUnauthorized, ErrForbidden, wrapped). Every goroutine Run starts has
// ended when it returns; closing waits for the server's answer to the close
// handshake, up to about 10 seconds if the server is unresponsive. A Client
// runs once: later calls return ErrClosed.
func (c *Client) Run(ctx context.Context) (err error) {
	c.mu.Lock()
	if c.started {
		c.mu.Unlock()
		return fmt.Errorf("herald: Run called again: %w", ErrClosed)
	}
	c.started = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.closed = true
		c.mu.Unlock()
		c.setState(StateClosed, err)
	}()

	bo := newBackoff(c.cfg.MinBackoff, c.cfg.MaxBackoff)
	lastNow := false // the previous connection ended with a reconnect-at-once
	for {
		c.setState(StateConnecting, nil)
		st, err := c.session(ctx, bo)
		if ctx.Err() != nil {
			return nil
		}
		act, final := classify(err, c.cfg.TokenFunc != nil)
		moved := false
		if act != actFinal {
			_, cur := c.endpoint()
			moved = c.moveTo(nextEndpoint(cur, len(c.eps), st, err))
		}
		var rr *reconnectRequest
		if errors.As(err, &rr) || act == actNow {
			// The server asked for it (OnFrame saw the frame), or the token
			// expired and TokenFunc provides the next: no error.
			c.setState(StateDisconnected, nil)
		} else {
			c.setState(StateDisconnected, err)
		}
		if act == actNow && lastNow {
			act = actBackoff // a second 4001 in a row: do not spin
		}
		lastNow = act == actNow
		var wait time.Duration
		switch act {
		case actFinal:
			return final
		case actNow:
		case actScheduled:
			bo.reset()
			wait = jitterAfter(rr.after, rand.Int64N)
		case actBackoff:
			wait = bo.next()
			if !moved {
				// A 429 or 503 with Retry-After: it speaks for the endpoint
				// that sent it, not for the next one in the list.
				wait = max(wait, serverWait(err))
			}
		}
		next := c.Endpoint()
		if rr != nil {
			c.log.Info("herald: reconnecting as the server asked", "reason", rr.reason, "retry_in", wait, "endpoint", next)
		} else {
			c.log.Info("herald: disconnected", "err", err, "retry_in", wait, "endpoint", next)
		}
		if !sleep(ctx, wait) {
			return nil
		}
	}
}

// session dials the endpoint in use, waits for the welcome, and serves the
// connection until it ends. It returns how far it got and why it ended.
func (c *Client) session(ctx context.Context, bo *backoff) (stage, error) {
	token := c.cfg.Token
	if c.cfg.TokenFunc != nil {
		t, err := c.cfg.TokenFunc(ctx)
		if err != nil {
			return stageToken, fmt.Errorf("herald: token: %w", err)
		}
		token = t
	}
	ep, cur := c.endpoint()
	cn, w, err := dial(ctx, c, ep.connect, token)
	if err != nil {
		return stageDial, err
	}
	bo.reset()
	c.log.Info("herald: connected", "session", w.Session, "edge", w.Edge, "endpoint", ep.base)
	switch {
	case cur == 0:
		c.probeAt = time.Time{}
	case c.lastWelcomed != cur || c.probeAt.IsZero():
		// Newly on this fallback: give the preferred endpoint time to recover.
		c.probeAt = time.Now().Add(jitterRetry(c.cfg.FallbackRetry, rand.Int64N))
	}
	c.lastWelcomed = cur

	if err := c.publish(ctx, cn, w); err != nil {
		cn.ws.CloseNow()
		return stageConnected, err
	}
	c.setState(StateConnected, nil)

	err = c.serve(ctx, cn, idleLimit(w), tokenExpiry(token))

	c.mu.Lock()
	c.conn = nil
	c.connected = make(chan struct{})
	c.mu.Unlock()
	cn.ws.CloseNow() // the read loop may have ended on a decode error
	return stageConnected, err
}

// publish sends the remembered hello on a new connection, then makes it the
// one that Send, Ack and Hello use. Holding helloMu throughout, it and Hello
// agree on which hello the connection gets last.
func (c *Client) publish(ctx context.Context, cn *conn, w *protocol.Welcome) error {
	c.helloMu.Lock()
	defer c.helloMu.Unlock()
	c.mu.Lock()
	hello := c.hello
	topics := slices.Clone(c.topics)
	var after map[string]uint64
	for _, t := range topics {
		if seq, ok := c.topicSeq[t]; ok {
			if after == nil {
				after = make(map[string]uint64)
			}
			after[t] = seq
		}
	}
	c.mu.Unlock()
	if hello != nil {
		if err := cn.writeFrame(ctx, hello, c.cfg.SendTimeout); err != nil {
			return err
		}
	}
	if len(topics) > 0 {
		if err := cn.writeFrame(ctx, &protocol.Sub{Topics: topics, After: after}, c.cfg.SendTimeout); err != nil {
			return err
		}
	}
	c.mu.Lock()
	c.conn = cn
	c.welcome = w
	close(c.connected)
	c.mu.Unlock()
	return nil
}

// serve runs the connection's read loop on its own goroutine and waits for
// it to end, closing the connection when ctx is done or it stays silent past
// idle (when idle > 0). On a fallback endpoint, it also checks from
// c.probeAt on whether the preferred endpoint answers again, and if it does,
// closes the connection with errPreferredBack. With TokenFunc, it refreshes
// the connection's token, which expires at exp, ahead of time (refresh.go).
func (c *Client) serve(ctx context.Context, cn *conn, idle time.Duration, exp time.Time) error {
	readDone := make(chan error, 1)
	go func() { readDone <- cn.readLoop() }()
	var tick <-chan time.Time
	if idle > 0 {
		t := time.NewTicker(idle / 5)
		defer t.Stop()
		tick = t.C
	}
	var (
		probe      <-chan time.Time
		probeTimer *time.Timer
	)
	if !c.probeAt.IsZero() {
		probeTimer = time.NewTimer(time.Until(c.probeAt))
		defer probeTimer.Stop()
		probe = probeTimer.C
	}
	var refresh <-chan time.Time
	refreshTimer := time.NewTimer(time.Hour)
	defer refreshTimer.Stop()
	schedule := func(at time.Time) {
		refresh = nil
		if !at.IsZero() {
			refreshTimer.Reset(time.Until(at))
			refresh = refreshTimer.C
		}
	}
	schedule(c.refreshAt(exp, time.Now()))
	for {
		select {
		case err := <-readDone:
			return err
		case <-ctx.Done():
			cn.ws.Close(websocket.StatusNormalClosure, "client stopped") // the read loop sees the close and ends
			return <-readDone
		case <-probe:
			if err := c.probe(ctx, c.eps[0]); err != nil {
				wait := jitterRetry(c.cfg.FallbackRetry, rand.Int64N)
				c.log.Info("herald: preferred endpoint still down", "err", err, "retry_in", wait)
				c.probeAt = time.Now().Add(wait)
				probeTimer.Reset(wait)
				continue
			}
			c.log.Info("herald: preferred endpoint answers again, moving back", "endpoint", c.eps[0].base)
			cn.ws.Close(websocket.StatusNormalClosure, "moving to the preferred endpoint")
			<-readDone
			return errPreferredBack
		case <-refresh:
			next, err := c.refresh(ctx, cn)
			if err != nil {
				// Once more half way to the old expiry, if there is time.
				c.log.Warn("herald: token refresh failed", "err", err)
				at := time.Time{}
				if left := time.Until(exp); left > 2*time.Second {
					at = time.Now().Add(left / 2)
				}
				schedule(at)
				continue
			}
			c.log.Debug("herald: token refreshed", "exp", next)
			exp = next
			schedule(c.refreshAt(exp, time.Now()))
		case <-tick:
			if d := cn.idleFor(); d > idle {
				c.log.Warn("herald: connection silent, closing", "silent_for", d)
				cn.ws.CloseNow()
				return fmt.Errorf("herald: nothing received for %v: %w", d.Round(time.Millisecond), <-readDone)
			}
		}
	}
}

// setState reports a state change to OnState.
func (c *Client) setState(s State, err error) {
	if c.cfg.OnState != nil {
		c.cfg.OnState(s, err)
	}
}

// sleep waits d or until ctx is done, and reports whether it waited d.
func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
