package edge

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
)

// DefaultLinkInflight bounds the deliveries one incoming link runs at once.
const DefaultLinkInflight = 8192

// LinkHandler returns the internal HTTP handler: GET /internal/v1/link, where other
// edges and API processes open links to this edge. Serve it on a listener that is
// kept off the public network. Every route of the handler, including the 404 of
// an unknown path, requires one of the cluster keys first (401 otherwise), so
// that the internal listener tells a caller without a key nothing.
//
// A gateway (Config.RegionKeys) also serves GET /internal/v1/region-link, where
// the gateways of other regions link to it with a region key (regions.go); a
// cluster key does not open it, nor a region key the edge link.
func (s *Server) LinkHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+LinkPath, func(w http.ResponseWriter, r *http.Request) { s.serveLink(w, r, false) })
	mux.HandleFunc("GET "+RegionLinkPath, func(w http.ResponseWriter, r *http.Request) { s.serveLink(w, r, true) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		keys := s.cfg.ClusterKeys
		if r.URL.Path == RegionLinkPath {
			keys = s.cfg.RegionKeys
		}
		if !keyOK(r, keys) {
			s.authFailed(r, "no valid cluster key")
			w.Header().Set("WWW-Authenticate", `Bearer realm="herald-internal"`)
			protocol.NewProblem(protocol.CodeUnauthorized, "a cluster key is required").Write(w)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// keyOK reports whether the request carries one of keys. Every key is
// compared, each through its SHA-256 digest in constant time, so that the time
// taken reveals neither which key matched nor how long the keys are. No keys
// accept nothing.
func keyOK(r *http.Request, keys []string) bool {
	scheme, key, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		return false
	}
	got := sha256.Sum256([]byte(key))
	match := 0
	for _, k := range keys {
		want := sha256.Sum256([]byte(k))
		match |= subtle.ConstantTimeCompare(want[:], got[:])
	}
	return match == 1
}

// serveLink runs one incoming edge link: msg frames for devices held here come in,
// receipts go back. Every delivery runs on a goroutine of its own so that a slow
// device never holds up the others on the link. A region link (region set)
// takes msg and locate frames only, and routes them through
// Config.RegionRouter to whichever edge of this region holds the device.
func (s *Server) serveLink(w http.ResponseWriter, r *http.Request, region bool) {
	if err := s.enter(); err != nil {
		protocol.NewProblem(protocol.CodeUnavailable, "edge is shutting down").Write(w)
		return
	}
	defer s.wg.Done()
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: protocol.LinkSubprotocols})
	if err != nil {
		return
	}
	if !slices.Contains(protocol.LinkSubprotocols, c.Subprotocol()) {
		_ = c.Close(websocket.StatusPolicyViolation, "subprotocol "+protocol.LinkSubprotocol+" required")
		return
	}
	c.SetReadLimit(maxLinkMessage)
	lc := link.NewConn(c, s.cfg.LinkQueue)
	s.mu.Lock()
	s.links[lc] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.links, lc)
		s.mu.Unlock()
	}()
	sem := make(chan struct{}, s.cfg.LinkInflight)
	log := s.cfg.Logger.With("link_from", r.RemoteAddr, "region_link", region)
	jobs := watchLinkJobs(s.ctx)
	jobs.region = region
	defer jobs.unserved()
	var sc link.Scanner // used by this goroutine only, which reads the link
	err = lc.Run(s.ctx, s.cfg.WriteTimeout, func(data []byte) {
		if err := s.onLinkFrame(&sc, lc, jobs, sem, data); err != nil {
			log.Warn("edge link: bad frame", "err", err)
		}
	})
	log.Debug("edge link ended", "err", err)
}

// onLinkFrame acts on one frame of an incoming link, read with sc. Every frame,
// whatever its kind, is read by the one link decoder (linkdecode.go), so that a
// frame means one thing only.
func (s *Server) onLinkFrame(sc *link.Scanner, lc *link.Conn, jobs *linkJobs, sem chan struct{}, data []byte) error {
	kind, err := sc.Kind(data)
	if err != nil {
		return err
	}
	s.met.linkFrames[linkKindOf(kind)].Inc()
	if jobs.region {
		return s.onRegionFrame(sc, lc, jobs, sem, kind)
	}
	switch kind {
	case link.KindReplace:
		var rp link.Replace
		if err := sc.ReadReplace(&rp); err != nil {
			return err
		}
		code := CloseReplaced
		if rp.Code == int(CloseRemoved) {
			code = CloseRemoved
		}
		s.closeSession(rp.Account, rp.Device, rp.Session, code)
	case link.KindNudge:
		var n link.Nudge
		if err := sc.ReadNudge(&n); err != nil {
			return err
		}
		s.nudged(n.Account, n.Device, n.Session)
	case link.KindTopics:
		var tf link.Topics
		if err := sc.ReadTopics(&tf); err != nil {
			return err
		}
		s.topicsChanged(tf.Account, tf.Device, tf.Session)
	case link.KindLate:
		var l link.Late
		if err := sc.ReadLate(&l); err != nil {
			return err
		}
		s.lateHere(l.Account, l.Device, l.ID, protocol.Result{Device: l.From, Status: l.Status})
	case string(protocol.KindPresence):
		var lp link.Presence
		if err := sc.ReadPresence(&lp); err != nil {
			return err
		}
		s.presenceHere(lp.Account, &lp.Presence)
	case link.KindCount:
		var c link.Count
		if err := sc.ReadCount(&c); err != nil {
			return err
		}
		// Answered on the reader: a count is one map read.
		b := link.GetFrame()
		*b = link.AppendCounted(*b, &link.Counted{ID: c.ID, Subscribers: s.TopicSubscribers(c.Topic)})
		if err := lc.SendPooled(b); err != nil {
			s.cfg.Logger.Debug("answering a count failed", "id", c.ID, "err", err)
		}
	case link.KindPublish:
		var in link.InMsg
		if err := readPublish(sc, lc, &in); err != nil {
			return err
		}
		s.linkPublish(lc, &in, sem, false)
	case string(protocol.KindMsg):
		j := newLinkJob(s, lc, jobs)
		if err := sc.ReadMsg(&j.in); err != nil {
			j.release()
			return err
		}
		s.startLinkJob(lc, j, sem)
	default:
		return link.ErrFrame // a receipt, which only goes the other way
	}
	return nil
}

// linkKindOf is the herald_edge_link_frames_total slot of a link frame's kind.
func linkKindOf(kind string) int {
	switch kind {
	case string(protocol.KindMsg):
		return linkMsg
	case link.KindPublish:
		return linkPublish
	case link.KindCount:
		return linkCount
	case link.KindReplace:
		return linkReplace
	case link.KindNudge:
		return linkNudge
	case link.KindLate:
		return linkLate
	case string(protocol.KindPresence):
		return linkPresence
	case link.KindLocate:
		return linkLocate
	}
	return linkOther
}

// startLinkJob runs the delivery of a msg that came in on lc on a goroutine of
// its own, or rejects it as "edge busy" when sem, the link's deliveries in
// flight, is full.
func (s *Server) startLinkJob(lc *link.Conn, j *linkJob, sem chan struct{}) {
	select {
	case sem <- struct{}{}:
	default:
		s.linkReceipt(lc, j.in.Msg.ID, protocol.Result{Device: j.in.Device, Status: protocol.StatusRejected, Error: "edge busy"})
		j.release()
		return
	}
	wait := time.Duration(j.in.WaitMS) * time.Millisecond
	if wait <= 0 || wait > s.cfg.AckTimeout {
		wait = s.cfg.AckTimeout
	}
	j.start(wait)
	// The link's handler holds a count, so this Add never races with Wait.
	s.wg.Add(1)
	go func() {
		defer func() { <-sem }()
		j.run()
	}()
}

// linkReceipt queues a one-result receipt on a link. A full queue drops it: the
// source's wait ends in timeout.
func (s *Server) linkReceipt(lc *link.Conn, id string, r protocol.Result) {
	b := link.GetFrame()
	*b = link.AppendReceipt(*b, id, &r)
	if err := lc.SendPooled(b); err != nil {
		s.cfg.Logger.Debug("edge link: receipt dropped", "id", id, "err", err)
	}
}

// closeSession closes a device's session with code, if this edge still holds that
// very session, attached or still joining (a newer connection is left alone).
func (s *Server) closeSession(account, device, session string, code websocket.StatusCode) {
	s.mu.Lock()
	ss := s.heldLocked(account, device, session)
	s.mu.Unlock()
	if ss != nil {
		c := causeReplaced
		if code == CloseRemoved {
			c = causeRemoved
		}
		ss.end(code, c)
	}
}
