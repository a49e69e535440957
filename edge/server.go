package edge

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/edge/wsconn"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

// Server is one edge. Create it with New, serve Handler, stop it with Shutdown
// (after Drain, for a deploy that spreads the reconnects).
type Server struct {
	cfg     Config
	wheel   *wheel
	poller  *wsconn.Poller // nil where idle connections cannot park
	devices *deviceCache
	met     *metrics
	noisy   logLimiter

	penalties *penalties // devices in backoff after a policy close

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup // every goroutine the server starts or adopts

	mu       sync.Mutex
	accounts map[string]*session // guarded by mu: account -> its live sessions, linked by session.sibling
	open     int                 // guarded by mu: number of live sessions
	closing  bool                // guarded by mu
	joining  map[string]*session // guarded by mu: session id -> a session registered and not yet attached (nudge.go)
	topics   topicIndex          // the sessions subscribed to each topic (topics.go)
	// topicResync: a topic call failed, add every topic at the next
	// heartbeat; topicsAdded: when the heartbeat last added them all (its
	// goroutine only).
	topicResync atomic.Bool
	// topicTickets orders the reads of devices' persistent topics
	// (devicetopics.go).
	topicTickets atomic.Uint64
	// topicRepair: the edge's catch-up of its subscribers could not read a
	// topic's log; the next heartbeat tries again (topicrepair.go).
	topicRepair atomic.Bool
	topicsAdded time.Time
	links       map[*link.Conn]struct{} // guarded by mu: incoming edge links
	conns       int                     // guarded by mu: device connections admitted and not yet left
	idle        chan struct{}           // guarded by mu: made by Drain, closed when conns reaches 0
	connBucket  bucket                  // guarded by mu: the ConnectRate bucket

	draining atomic.Bool // written under mu: Drain was called; new device connections are refused
	resync   atomic.Bool // a registration failed: re-register everything at the next good heartbeat
	// storedRetry is set when a session's inbox read failed: the next heartbeat
	// reads again the inboxes of the sessions that say so (storedretry.go).
	storedRetry atomic.Bool

	unlistedMu sync.Mutex
	unlisted   map[*session]struct{} // guarded by unlistedMu: connected devices the device list could not take yet

	dropped  atomic.Int64 // frames refused because a send queue was full
	accepted atomic.Int64 // connections accepted
}

// Stats are counters of an edge, for tests and metrics.
type Stats struct {
	// Connections is the number of open device connections.
	Connections int
	// Accepted counts connections accepted since start.
	Accepted int64
	// Dropped counts frames refused because a connection's send queue was full.
	Dropped int64
}

// New validates cfg and returns a Server that runs until Shutdown.
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	met, err := newMetrics(cfg.Metrics)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, met: met, accounts: make(map[string]*session), joining: make(map[string]*session), links: make(map[*link.Conn]struct{})}
	if s.penalties, err = newPenalties(&s.cfg, cfg.Metrics); err != nil {
		return nil, fmt.Errorf("edge: register metrics: %w", err)
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wheel = newWheel(cfg.PingInterval, deadlineResolution(cfg.MinLifetime, cfg.ReconnectGrace), cfg.PongTimeout)
	s.devices = newDeviceCache(cfg.Devices, cfg.DeviceTopics, cfg.Versions, cfg.DeviceCache)
	if s.poller, err = wsconn.NewPoller(); err != nil {
		s.cancel()
		return nil, err
	}
	if s.poller != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.poller.Run()
		}()
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.wheel.run(s.ctx, wheelHooks{visit: s.keepalive, check: func(ss *session, now time.Duration) { s.checkPong(ss, now) }, expire: s.expire})
	}()
	if r := newReleaser(cfg.ReleaseMemoryAfterConns, cfg.ReleaseMemoryQuiet, releaseTick, releaseQuietRate, 0); r != nil {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.releaseMemory(r)
		}()
	}
	if cfg.Liveness != nil {
		s.beat() // routable from the start, not one interval later
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.heartbeat()
	}()
	return s, nil
}

// ID returns the edge's id.
func (s *Server) ID() string { return s.cfg.ID }

// Handler returns the device-facing HTTP handler: GET /v1/connect, GET /v1/events,
// POST /v1/acks and POST /v1/refresh.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/connect", s.serveConnect)
	mux.HandleFunc("GET /v1/events", s.serveEvents)
	mux.HandleFunc("POST /v1/acks", s.serveAcks)
	mux.HandleFunc("POST /v1/refresh", s.serveRefresh)
	return mux
}

// Stats returns the edge's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	n := s.open
	s.mu.Unlock()
	return Stats{Connections: n, Accepted: s.accepted.Load(), Dropped: s.dropped.Load()}
}

// Shutdown stops accepting connections, closes every connection with 1001 (going
// away) and waits for all of the server's goroutines, or for ctx. It may follow
// Drain, which leaves it only the links and goroutines to stop.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	open := s.sessionsLocked()
	links := make([]*link.Conn, 0, len(s.links))
	for lc := range s.links {
		links = append(links, lc)
	}
	s.mu.Unlock()
	for _, ss := range open {
		ss.end(CloseGoingAway, causeShutdown)
	}
	for _, lc := range links {
		lc.Close()
	}
	if s.poller != nil {
		// Connections still parked (attached while Shutdown took its snapshot) get
		// readers back, which see them end.
		s.poller.Close()
		for _, c := range s.poller.UnparkAll() {
			c.Owner().StartReader()
		}
	}
	if s.cfg.Liveness != nil {
		rctx, cancel := context.WithTimeout(ctx, s.cfg.RegistryTimeout)
		if err := s.cfg.Liveness.RemoveEdge(rctx, s.cfg.ID); err != nil {
			s.cfg.Logger.Warn("removing the edge's liveness key failed", "err", err)
		}
		cancel()
	}
	s.cancel()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("edge: shutdown: %w", ctx.Err())
	}
}

// errShuttingDown refuses new connections during Shutdown.
var errShuttingDown = errors.New("edge: shutting down")

// enter adopts the calling handler goroutine into the server's WaitGroup, unless the
// server is shutting down. The caller must call s.wg.Done when it returns.
func (s *Server) enter() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return errShuttingDown
	}
	s.wg.Add(1)
	return nil
}

// register records ss in the registry as its device's connection, and closes
// the device's older connection on another edge (Replacer). A failed
// registration leaves ss reachable only here until the next good heartbeat
// registers it again.
func (s *Server) register(ss *session) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
	defer cancel()
	prev, err := s.cfg.Registry.Register(ctx, ss.account, ss.device, registry.Entry{Edge: s.cfg.ID, Session: ss.id, Since: ss.since})
	if err != nil {
		// The connection stays usable for local delivery; it is unreachable from
		// other processes until the registry takes it again.
		ss.log.Warn("registry register failed", "err", err)
		s.resync.Store(true)
	}
	if prev.Edge != "" && prev.Edge != s.cfg.ID && s.cfg.Replacer != nil {
		if err := s.cfg.Replacer.Replace(ctx, prev.Edge, ss.account, ss.device, prev.Session); err != nil {
			ss.log.Debug("closing the older connection on another edge failed", "edge", prev.Edge, "err", err)
		}
	}
}

// attach makes ss, registered already (register), the live session of its
// device, where deliveries find it, replacing (and closing with 4000) any older
// local session of the same device; then it lists the device and announces it
// online. It reports whether the server was draining already, in which case
// Drain does not know ss.
func (s *Server) attach(ss *session) (draining bool) {
	s.mu.Lock()
	delete(s.joining, ss.id)
	draining = s.draining.Load()
	old := s.swapLocked(ss)
	if old == nil {
		s.open++
		s.met.connections.Inc()
	}
	s.mu.Unlock()
	s.accepted.Add(1)
	if ss.kick != nil {
		s.met.connects[transportSSE].Inc()
	} else {
		s.met.connects[transportWS].Inc()
	}
	if old != nil {
		old.end(CloseReplaced, causeReplaced)
	}
	s.wheel.add(ss, time.Now().Add(ss.lifetime))
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
	defer cancel()
	s.listDevice(ctx, ss)
	s.announce(ss, true)
	return draining
}

// detach removes ss if it is still its device's live session, and unregisters it
// (compare-and-delete, so a newer registration elsewhere survives).
func (s *Server) detach(ss *session) {
	s.mu.Lock()
	live := s.unlinkLocked(ss)
	if live {
		s.open--
		s.met.connections.Dec()
	}
	s.mu.Unlock()
	if live {
		s.announce(ss, false)
	}
	s.wheel.remove(ss)
	// Unregister even during shutdown: the server context may be cancelled already.
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RegistryTimeout)
	defer cancel()
	if _, err := s.cfg.Registry.Unregister(ctx, ss.account, ss.device, ss.id); err != nil {
		ss.log.Warn("registry unregister failed", "err", err)
	}
}

// heartbeat refreshes the edge's liveness key (with Liveness), retries the
// devices the device list could not take (relist) and forgets the devices whose
// policy backoff is over (penalties.sweep) every HeartbeatInterval until the
// server stops.
func (s *Server) heartbeat() {
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			fresh := false
			if s.cfg.Liveness != nil {
				fresh = s.beat()
			}
			s.refreshTopics(fresh)
			s.relist()
			s.retryStored()
			s.penalties.sweep(s.cfg.Now())
		}
	}
}

// beat refreshes the liveness key once. When the key had been lost (the registry
// restarted, or the edge was cut off for longer than its TTL) or a registration had
// failed, every device held here is registered again.
func (s *Server) beat() (fresh bool) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
	defer cancel()
	fresh, err := s.cfg.Liveness.Heartbeat(ctx, s.cfg.ID, s.cfg.InternalAddr)
	if err != nil {
		s.cfg.Logger.Warn("edge heartbeat failed", "err", err)
		s.resync.Store(true)
		return false
	}
	if fresh || s.resync.Swap(false) {
		s.reregister()
	}
	return fresh
}

// reregister registers every held device again, and reads the inbox of each
// it registered again (rereadStored).
func (s *Server) reregister() {
	all := s.sessions()
	failed := 0
	for _, ss := range all {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
		_, err := s.cfg.Registry.Register(ctx, ss.account, ss.device, registry.Entry{Edge: s.cfg.ID, Session: ss.id, Since: ss.since})
		cancel()
		if err != nil {
			failed++
			continue
		}
		s.rereadStored(ss)
	}
	if failed > 0 {
		s.resync.Store(true)
	}
	s.cfg.Logger.Info("re-registered held devices", "devices", len(all), "failed", failed)
}

// announce tells the account's other devices that ss came online or went
// offline: those held here directly, those on other edges through one presence
// frame per edge over the links, and, in a deployment of regions, those of the
// other regions through their gateways when a sibling is not in this region.
// Only devices that asked for presence get it. A device replaced by a newer
// connection of its own is not announced offline.
func (s *Server) announce(ss *session, online bool) {
	ss.mu.Lock()
	p := &protocol.Presence{Device: ss.device, Online: online, Platform: ss.platform, TS: s.cfg.Now().UnixMilli()}
	ss.mu.Unlock()
	if s.presenceInRegion(ss.account, p, ss.log) && s.cfg.RegionNews != nil {
		s.cfg.RegionNews.Presence(ss.account, p)
	}
}

// presenceInRegion sends p, news about a device of account, to the account's
// other devices in this region that asked for presence: those held here
// directly, those on other edges through one presence frame per edge. It
// reports whether some sibling is not registered in this region (it may be
// in another).
func (s *Server) presenceInRegion(account string, p *protocol.Presence, log *slog.Logger) (missing bool) {
	s.presenceHere(account, p)
	if s.cfg.Locator == nil || s.cfg.Presencer == nil {
		return s.cfg.RegionNews != nil // no registry to ask: the others may hold siblings
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.RegistryTimeout)
	defer cancel()
	ids, err := s.devices.ids(ctx, account)
	if err != nil {
		log.Debug("presence: device list unavailable", "err", err)
		return false
	}
	edges := map[string]bool{}
	for _, d := range ids {
		if d == p.Device {
			continue
		}
		e, err := s.cfg.Locator.Lookup(ctx, account, d)
		switch {
		case errors.Is(err, registry.ErrNotFound):
			missing = true
		case err == nil && e.Edge != s.cfg.ID:
			edges[e.Edge] = true
		}
	}
	for e := range edges {
		if err := s.cfg.Presencer.Presence(ctx, e, account, p); err != nil {
			log.Debug("presence to another edge failed", "edge", e, "err", err)
		}
	}
	return missing
}

// presenceHere sends p to the devices of account held here that asked for
// presence, except the device it is about.
func (s *Server) presenceHere(account string, p *protocol.Presence) {
	s.mu.Lock()
	var to []*session
	for other := s.accounts[account]; other != nil; other = other.sibling {
		if other.device != p.Device {
			to = append(to, other)
		}
	}
	s.mu.Unlock()
	for _, other := range to {
		if other.wantsPresence() {
			_ = s.send(other, p, nil)
		}
	}
}

// session returns the live local session of a device, or nil.
func (s *Server) session(account, device string) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.findLocked(account, device)
}

// The session table keeps one map entry per account, the head of a list of the
// account's live sessions linked through session.sibling: a map per account would
// cost each connection of a one-device account a few hundred bytes. Accounts have
// a handful of devices, so walking the list is cheap.

// swapLocked makes ss its device's live session and returns the one it replaces,
// if any. The caller holds mu.
func (s *Server) swapLocked(ss *session) (old *session) {
	if old = s.findLocked(ss.account, ss.device); old != nil {
		s.unlinkLocked(old)
	}
	ss.sibling = s.accounts[ss.account]
	s.accounts[ss.account] = ss
	return old
}

// findLocked returns the live session of device of account, or nil. The caller
// holds mu.
func (s *Server) findLocked(account, device string) *session {
	for ss := s.accounts[account]; ss != nil; ss = ss.sibling {
		if ss.device == device {
			return ss
		}
	}
	return nil
}

// unlinkLocked removes ss from the session table and reports whether it was there
// (whether it was its device's live session). The caller holds mu.
func (s *Server) unlinkLocked(ss *session) bool {
	head := s.accounts[ss.account]
	if head == ss {
		if ss.sibling == nil {
			delete(s.accounts, ss.account)
		} else {
			s.accounts[ss.account] = ss.sibling
		}
		ss.sibling = nil
		return true
	}
	for p := head; p != nil; p = p.sibling {
		if p.sibling == ss {
			p.sibling = ss.sibling
			ss.sibling = nil
			return true
		}
	}
	return false
}

// newSessionID returns a random session id.
func newSessionID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "s_" + hex.EncodeToString(b[:])
}

// welcome returns the first frame of a session.
func (s *Server) welcome(ss *session) *protocol.Welcome {
	return &protocol.Welcome{
		Session:    ss.id,
		Account:    ss.account,
		Device:     ss.device,
		Edge:       s.cfg.ID,
		PingMS:     s.cfg.PingInterval.Milliseconds(),
		LifetimeMS: ss.lifetime.Milliseconds(),
		ServerTime: s.cfg.Now().UnixMilli(),
	}
}

// keepalive is called by the wheel for each session whose turn it is: WebSocket
// sessions get a ping (answered within PongTimeout or the connection closes), SSE
// sessions a comment line. now is the wheel's clock.
func (s *Server) keepalive(ss *session, now time.Duration) {
	if ss.kick != nil {
		_ = ss.enqueue(outFrame{ping: true})
		return
	}
	ws, ok := ss.t.(*wsTransport)
	if !ok {
		return
	}
	if !ws.nc.HasFD() {
		s.pingAndWait(ss, ws)
		return
	}
	if s.pongOverdue(ss, ws, now) {
		return
	}
	// Written from this goroutine, without blocking; the pong is taken out of the
	// incoming stream by the connection (wsconn.Conn). A ping that cannot go now (a
	// write in progress, a full socket buffer) waits for the next round.
	if _, err := ws.nc.Ping(int64(now)); err != nil && ss.ctx.Err() == nil {
		ss.log.Debug("ping failed, closing", "err", err)
		ss.end(closeAbort, causeWriteTimeout)
	}
}

// checkPong closes ss, and reports true, when its ping has gone unanswered for
// PongTimeout by now on the wheel's clock.
func (s *Server) checkPong(ss *session, now time.Duration) bool {
	ws, ok := ss.t.(*wsTransport)
	return ok && s.pongOverdue(ss, ws, now)
}

// pongOverdue is checkPong for a WebSocket session's transport ws.
func (s *Server) pongOverdue(ss *session, ws *wsTransport, now time.Duration) bool {
	sent := ws.nc.PingSent()
	if sent == 0 || now-time.Duration(sent) < s.cfg.PongTimeout {
		return false
	}
	if ss.ctx.Err() == nil {
		ss.log.Debug("pong timeout, closing")
		ss.end(closeAbort, causePingTimeout)
	}
	return true
}

// pingAndWait pings a connection without a file descriptor (never one an
// http.Server hijacked) the way coder/websocket does: on a goroutine that waits
// for the pong.
func (s *Server) pingAndWait(ss *session, ws *wsTransport) {
	if !ss.pinging.CompareAndSwap(false, true) {
		return
	}
	// The wheel goroutine holds a count, so this Add never races with Wait.
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer ss.pinging.Store(false)
		ctx, cancel := context.WithTimeout(context.Background(), s.cfg.PongTimeout)
		defer cancel()
		if err := ws.c.Ping(ctx); err != nil && ss.ctx.Err() == nil {
			ss.log.Debug("pong timeout, closing", "err", err)
			ss.end(closeAbort, causePingTimeout)
		}
	}()
}
