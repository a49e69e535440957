package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/tracing"
)

// DefaultLinkQueue is the default number of frames waiting for one edge link.
const DefaultLinkQueue = 4096

// LinkPath is the internal endpoint edges link to each other on.
const LinkPath = "/internal/v1/link"

// ErrClusterKeyRefused is the error of a link the other edge refused with 401:
// it accepts none of the keys this process presents (LinksConfig.ClusterKey).
// The link stays down and is dialled again after backoff, so a rotation that
// adds the key there heals it.
var ErrClusterKeyRefused = errors.New("edge: link refused (401): the other edge does not accept this process's cluster key")

// EdgeAddresser finds a live edge's internal address.
type EdgeAddresser interface {
	EdgeAddr(ctx context.Context, edge string) (string, error)
}

// Defaults of LinksConfig.
const (
	DefaultLinkDialTimeout  = 2 * time.Second
	DefaultLinkMinBackoff   = 100 * time.Millisecond
	DefaultLinkMaxBackoff   = 5 * time.Second
	DefaultLinkPingInterval = 5 * time.Second
	DefaultLinkPongTimeout  = 5 * time.Second
)

// ErrLinkNoPong ends a link whose other end did not answer a ping within
// LinksConfig.PongTimeout: a process that hangs, or a network that drops
// everything without a reset, as a lost region's may.
var ErrLinkNoPong = errors.New("edge: link: no pong in time")

// LinksConfig configures Links.
type LinksConfig struct {
	// Addresses finds the edges to dial. Required.
	Addresses EdgeAddresser
	// ClusterKey authenticates this process to other edges: the key it presents,
	// which they must list among their ClusterKeys. Required.
	ClusterKey string
	// Path is the endpoint dialled at each address: default LinkPath;
	// RegionLinkPath for the links between regions.
	Path string
	// Queue bounds the frames waiting for one link; a message for a full queue is
	// rejected with "link queue full". Default DefaultLinkQueue.
	Queue int
	// DialTimeout bounds one dial; WriteTimeout one write.
	DialTimeout, WriteTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait before a failed link is dialled
	// again; until then deliveries through it fail fast as unavailable.
	MinBackoff, MaxBackoff time.Duration
	// PingInterval is how often a link pings the other end, PongTimeout how
	// long it waits for the pong before it takes the link as lost: without
	// it, a link to a process that hangs or a network that drops everything
	// without a reset looks up until TCP gives up, and every delivery through
	// it waits for its whole timeout. Defaults DefaultLinkPingInterval and
	// DefaultLinkPongTimeout.
	PingInterval, PongTimeout time.Duration
	// HTTPClient dials the links; nil uses a default client. An edge advertised
	// with an https:// address is dialled over TLS, verified by the client's
	// Transport.TLSClientConfig (the system roots when nil).
	HTTPClient *http.Client
	// Logger receives link events; nil discards them.
	Logger *slog.Logger
	// Tracer traces the msgs sent over the links and puts their trace
	// context in the frames ("tp"); nil is tracing off.
	Tracer *tracing.Tracer
}

// Links holds this process's links to other edges: one persistent WebSocket per
// edge, opened on first use, reused, and dialled again after a failure with
// backoff. Close stops them.
type Links struct {
	cfg    LinksConfig
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	links  map[string]*peer // guarded by mu
	closed bool             // guarded by mu
}

// NewLinks validates cfg and returns Links.
func NewLinks(cfg LinksConfig) (*Links, error) {
	if cfg.Addresses == nil || cfg.ClusterKey == "" {
		return nil, errors.New("edge: links: Addresses and ClusterKey are required")
	}
	if cfg.Path == "" {
		cfg.Path = LinkPath
	}
	if cfg.Queue == 0 {
		cfg.Queue = DefaultLinkQueue
	}
	if cfg.DialTimeout == 0 {
		cfg.DialTimeout = DefaultLinkDialTimeout
	}
	if cfg.WriteTimeout == 0 {
		cfg.WriteTimeout = DefaultWriteTimeout
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultLinkMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultLinkMaxBackoff
	}
	if cfg.PingInterval == 0 {
		cfg.PingInterval = DefaultLinkPingInterval
	}
	if cfg.PongTimeout == 0 {
		cfg.PongTimeout = DefaultLinkPongTimeout
	}
	if cfg.Queue < 0 || cfg.DialTimeout < 0 || cfg.WriteTimeout < 0 || cfg.MinBackoff < 0 || cfg.MaxBackoff < cfg.MinBackoff ||
		cfg.PingInterval < 0 || cfg.PongTimeout < 0 {
		return nil, errors.New("edge: links: limits must be positive and MaxBackoff at least MinBackoff")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l := &Links{cfg: cfg, links: make(map[string]*peer)}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	return l, nil
}

// LinkStats describes one link, for metrics.
type LinkStats struct {
	Edge    string
	Up      bool
	Queue   int // frames waiting to be written
	Pending int // deliveries waiting for their outcome
	// Err is why the link is down (ErrClusterKeyRefused among others), nil
	// while it is up or was never dialled.
	Err error
}

// Stats describes every link.
func (l *Links) Stats() []LinkStats {
	l.mu.Lock()
	all := make([]*peer, 0, len(l.links))
	for _, k := range l.links {
		all = append(all, k)
	}
	l.mu.Unlock()
	out := make([]LinkStats, 0, len(all))
	for _, k := range all {
		k.mu.Lock()
		st := LinkStats{Edge: k.edge, Up: k.conn != nil, Pending: len(k.pending), Err: k.lastErr}
		if k.conn != nil {
			st.Queue = k.conn.Depth()
		}
		k.mu.Unlock()
		out = append(out, st)
	}
	return out
}

// Close closes every link and waits for their goroutines.
func (l *Links) Close() {
	l.mu.Lock()
	l.closed = true
	all := make([]*peer, 0, len(l.links))
	for _, k := range l.links {
		all = append(all, k)
	}
	l.mu.Unlock()
	l.cancel()
	for _, k := range all {
		k.mu.Lock()
		c := k.conn
		k.mu.Unlock()
		if c != nil {
			c.Close()
		}
	}
	l.wg.Wait()
}

func (l *Links) get(edge string) (*peer, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil, link.ErrClosed
	}
	k := l.links[edge]
	if k == nil {
		k = &peer{links: l, edge: edge, pending: make(map[pendingKey]chan protocol.Result), publishing: make(map[string]chan link.Published), counting: make(map[string]chan int)}
		l.links[edge] = k
	}
	return k, nil
}

type pendingKey struct{ id, device string }

// peer is the link to one edge.
type peer struct {
	links *Links
	edge  string

	mu       sync.Mutex
	conn     *link.Conn                          // guarded by mu: nil while down
	dialing  chan struct{}                       // guarded by mu: closed when the dial in progress ends
	retryAt  time.Time                           // guarded by mu: no dial before this after a failure
	failures int                                 // guarded by mu: failed dials in a row
	lastErr  error                               // guarded by mu
	pending  map[pendingKey]chan protocol.Result // guarded by mu
	// publishing are the publishes waiting for their published answer, by
	// message id; guarded by mu.
	publishing map[string]chan link.Published
	// counting are the counts waiting for their counted answer, by request
	// id; guarded by mu.
	counting map[string]chan int
}

// Deliver sends m to device of account over the link to edge and returns the
// target edge's final outcome. A link that cannot be had rejects the message as
// unavailable; a link lost before the outcome gives timeout.
func (l *Links) Deliver(ctx context.Context, edge, account, device string, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	res := protocol.Result{Device: device}
	k, err := l.get(edge)
	if err != nil {
		res.Status, res.Error = protocol.StatusRejected, string(protocol.CodeUnavailable)
		return res
	}
	c, err := k.connect(ctx)
	if err != nil {
		if ctx.Err() != nil {
			res.Status = protocol.StatusTimeout
			return res
		}
		res.Status, res.Error = protocol.StatusRejected, fmt.Sprintf("%s: link to %s: %v", protocol.CodeUnavailable, edge, err)
		return res
	}
	wait := time.Duration(0)
	if dl, ok := ctx.Deadline(); ok {
		wait = time.Until(dl)
	}
	span, tp := l.cfg.Tracer.LinkSend(ctx, edge, account, device, m.ID)
	res = l.send(ctx, k, c, account, device, tp, wait, m, progress)
	tracing.End(span, string(res.Status), res.Error)
	return res
}

// send is Deliver once the link is had: the msg frame out, its receipts back.
func (l *Links) send(ctx context.Context, k *peer, c *link.Conn, account, device, tp string, wait time.Duration, m *protocol.Msg, progress func(protocol.Result)) protocol.Result {
	res := protocol.Result{Device: device}
	frame := link.GetFrame()
	var err error
	*frame, err = link.AppendMsg(*frame, account, wait.Milliseconds(), device, tp, m)
	if err != nil {
		link.PutFrame(frame)
		res.Status, res.Error = protocol.StatusRejected, err.Error()
		return res
	}
	key := pendingKey{m.ID, device}
	ch := getResultChan()
	k.mu.Lock()
	if _, dup := k.pending[key]; dup {
		k.mu.Unlock()
		putResultChan(ch)
		link.PutFrame(frame)
		res.Status, res.Error = protocol.StatusRejected, "the same message is already in flight to this device"
		return res
	}
	k.pending[key] = ch
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		if k.pending[key] == ch {
			delete(k.pending, key)
		}
		k.mu.Unlock()
		// Results are sent only under k.mu to a channel in pending, so none can
		// arrive any more and the channel can serve another delivery.
		putResultChan(ch)
	}()
	if err := c.SendPooled(frame); err != nil {
		res.Status, res.Error = protocol.StatusRejected, err.Error()
		return res
	}
	for {
		select {
		case r := <-ch:
			r.Device = device
			if m.Ack && r.Status == protocol.StatusDelivered {
				if progress != nil {
					progress(r)
				}
				continue
			}
			return r
		case <-ctx.Done():
			res.Status = protocol.StatusTimeout
			return res
		}
	}
}

// Replace tells edge to close the device's session, which a newer connection on
// another edge replaced. It only queues the frame.
func (l *Links) Replace(ctx context.Context, edge, account, device, session string) error {
	return l.close(ctx, edge, account, device, session, CloseReplaced)
}

// close asks edge to close the device's session with code.
func (l *Links) close(ctx context.Context, edge, account, device, session string, code websocket.StatusCode) error {
	k, err := l.get(edge)
	if err != nil {
		return err
	}
	c, err := k.connect(ctx)
	if err != nil {
		return fmt.Errorf("edge: replace on %s: %w", edge, err)
	}
	frame, err := json.Marshal(link.Replace{T: link.KindReplace, Account: account, Device: device, Session: session, Code: int(code)})
	if err != nil {
		return err
	}
	return c.Send(frame)
}

// Presence sends presence news about a device of account to edge, which passes it
// to the account's devices it holds that asked for presence. It only queues the
// frame.
func (l *Links) Presence(ctx context.Context, edge, account string, p *protocol.Presence) error {
	k, err := l.get(edge)
	if err != nil {
		return err
	}
	c, err := k.connect(ctx)
	if err != nil {
		return fmt.Errorf("edge: presence to %s: %w", edge, err)
	}
	frame, err := json.Marshal(link.Presence{T: protocol.KindPresence, Account: account, Presence: *p})
	if err != nil {
		return err
	}
	return c.Send(frame)
}

// connect returns the link's connection, dialling it if it is down and its backoff
// has passed. Concurrent callers share one dial.
func (k *peer) connect(ctx context.Context) (*link.Conn, error) {
	for {
		k.mu.Lock()
		if k.conn != nil {
			c := k.conn
			k.mu.Unlock()
			return c, nil
		}
		if wait := k.dialing; wait != nil {
			if k.failures > 0 {
				// A link that failed is taken as down until a dial proves
				// otherwise: only the caller that dials waits for it, so that
				// a peer that hangs costs one caller a DialTimeout, not every
				// caller meanwhile.
				err := k.lastErr
				k.mu.Unlock()
				return nil, fmt.Errorf("down, dialling again: %w", err)
			}
			k.mu.Unlock()
			select {
			case <-wait:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		if time.Now().Before(k.retryAt) {
			err := k.lastErr
			k.mu.Unlock()
			return nil, fmt.Errorf("down, retrying after backoff: %w", err)
		}
		done := make(chan struct{})
		k.dialing = done
		k.mu.Unlock()

		c, err := k.dial(ctx)
		k.mu.Lock()
		k.dialing = nil
		close(done)
		if err != nil && ctx.Err() != nil {
			// The caller gave up (its deadline, or a sibling's answer that
			// made it stop waiting): no fault of the other edge's, so no
			// backoff that would fail the next callers fast.
			k.mu.Unlock()
			return nil, err
		}
		if err != nil {
			k.failures++
			k.lastErr = err
			k.retryAt = time.Now().Add(backoffFor(k.failures, k.links.cfg.MinBackoff, k.links.cfg.MaxBackoff))
			k.mu.Unlock()
			k.links.cfg.Logger.Warn("edge link dial failed", "edge", k.edge, "err", err)
			return nil, err
		}
		k.failures, k.lastErr, k.conn = 0, nil, c
		k.mu.Unlock()
		return c, nil
	}
}

// backoffFor is the wait after n failures in a row: doubling from min, at most max.
func backoffFor(n int, min, max time.Duration) time.Duration {
	d := min
	for i := 1; i < n && d < max; i++ {
		d *= 2
	}
	if d > max {
		d = max
	}
	return d
}

// dial opens the link and starts its goroutine, owned by Links.
func (k *peer) dial(ctx context.Context) (*link.Conn, error) {
	l := k.links
	addr, err := l.cfg.Addresses.EdgeAddr(ctx, k.edge)
	if err != nil {
		return nil, fmt.Errorf("address of %s: %w", k.edge, err)
	}
	url := addr
	if !strings.Contains(url, "://") {
		url = "ws://" + url
	}
	url = strings.Replace(strings.Replace(url, "http://", "ws://", 1), "https://", "wss://", 1) + l.cfg.Path
	dctx, cancel := context.WithTimeout(l.ctx, l.cfg.DialTimeout)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	c, resp, err := websocket.Dial(dctx, url, &websocket.DialOptions{
		HTTPClient:   l.cfg.HTTPClient,
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + l.cfg.ClusterKey}},
		Subprotocols: protocol.LinkSubprotocols,
	})
	if err != nil {
		if resp != nil && resp.StatusCode == http.StatusUnauthorized {
			return nil, ErrClusterKeyRefused
		}
		return nil, err
	}
	c.SetReadLimit(maxLinkMessage)
	lc := link.NewConn(c, l.cfg.Queue)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		lc.Close()
		return nil, link.ErrClosed
	}
	l.wg.Add(2)
	l.mu.Unlock()
	go func() {
		defer l.wg.Done()
		var sc link.Scanner
		err := lc.Run(l.ctx, l.cfg.WriteTimeout, func(data []byte) { k.onFrame(&sc, data) })
		k.lost(lc, err)
	}()
	go func() {
		defer l.wg.Done()
		l.keepalive(lc)
	}()
	l.cfg.Logger.Info("edge link up", "edge", k.edge, "addr", addr)
	return lc, nil
}

// keepalive pings the other end of lc every PingInterval until the link ends,
// and ends it with ErrLinkNoPong when a pong does not come within
// PongTimeout. The link's reader (Run) takes the pongs.
func (l *Links) keepalive(lc *link.Conn) {
	t := time.NewTicker(l.cfg.PingInterval)
	defer t.Stop()
	for {
		select {
		case <-lc.Done():
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(l.ctx, l.cfg.PongTimeout)
		err := lc.Ping(ctx)
		cancel()
		if err != nil && l.ctx.Err() == nil {
			select {
			case <-lc.Done(): // ended meanwhile, for its own reason
			default:
				lc.CloseFor(fmt.Errorf("%w (%v)", ErrLinkNoPong, err))
			}
			return
		}
	}
}

// maxLinkMessage bounds one link message (a batch of frames).
const maxLinkMessage = 32 << 20

// onFrame dispatches a receipt from the other edge to its waiting delivery,
// and a published answer to its waiting publish. sc is the scanner of the
// link's reader goroutine.
func (k *peer) onFrame(sc *link.Scanner, data []byte) {
	kind, err := sc.Kind(data)
	if err == nil && kind == link.KindCounted {
		var c link.Counted
		if err = sc.ReadCounted(&c); err == nil {
			k.mu.Lock()
			if ch := k.counting[c.ID]; ch != nil {
				select {
				case ch <- c.Subscribers:
				default:
				}
			}
			k.mu.Unlock()
			return
		}
	}
	if err == nil && kind == link.KindPublished {
		var p link.Published
		if err = sc.ReadPublished(&p); err == nil {
			k.mu.Lock()
			if ch := k.publishing[p.ID]; ch != nil {
				select {
				case ch <- p:
				default:
				}
			}
			k.mu.Unlock()
			return
		}
	}
	var r link.Result
	if err == nil {
		if kind != string(protocol.KindReceipt) {
			err = link.ErrFrame
		} else {
			err = sc.ReadReceipt(&r)
		}
	}
	if err != nil {
		k.links.cfg.Logger.Warn("edge link: bad frame", "edge", k.edge, "err", err)
		return
	}
	// The key's strings only look into the scanner's buffer: the map lookup
	// keeps nothing.
	key := pendingKey{bytesString(r.ID), bytesString(r.Device)}
	k.mu.Lock()
	if ch := k.pending[key]; ch != nil {
		select {
		case ch <- r.Result:
		default: // the waiter already has its outcome
		}
	}
	k.mu.Unlock()
}

// resultChans holds the channels on which deliveries over links wait for their
// outcome, each with room for the delivered and the final result.
var resultChans = sync.Pool{New: func() any { return make(chan protocol.Result, 2) }}

func getResultChan() chan protocol.Result { return resultChans.Get().(chan protocol.Result) }

// putResultChan empties ch and keeps it for reuse; nothing may send on it any
// more.
func putResultChan(ch chan protocol.Result) {
	for {
		select {
		case <-ch:
		default:
			resultChans.Put(ch)
			return
		}
	}
}

// lost marks the link down and fails the deliveries that were waiting on it.
func (k *peer) lost(lc *link.Conn, err error) {
	k.mu.Lock()
	if k.conn == lc {
		k.conn = nil
		k.failures++
		k.lastErr = err
		k.retryAt = time.Now().Add(backoffFor(k.failures, k.links.cfg.MinBackoff, k.links.cfg.MaxBackoff))
	}
	waiting := len(k.pending) + len(k.publishing) + len(k.counting)
	for id, ch := range k.counting {
		delete(k.counting, id)
		select {
		case ch <- -1: // lost: see Links.Count
		default:
		}
	}
	for id, ch := range k.publishing {
		delete(k.publishing, id)
		select {
		case ch <- link.Published{Devices: -1}: // lost: see Links.Publish
		default:
		}
	}
	lostRes := protocol.Result{Status: protocol.StatusTimeout, Error: "link to " + k.edge + " lost"}
	for key, ch := range k.pending {
		delete(k.pending, key)
		select { // under mu, so that the channel can be reused (see Deliver)
		case ch <- lostRes:
		default:
		}
	}
	k.mu.Unlock()
	if k.links.ctx.Err() == nil {
		k.links.cfg.Logger.Warn("edge link lost", "edge", k.edge, "err", err, "pending", waiting)
	}
}

// bytesString returns b as a string without copying, for a map lookup that
// keeps nothing; b must not change while the string is in use.
func bytesString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
