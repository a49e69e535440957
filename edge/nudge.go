package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// A nudge closes the window in which a message put in a device's inbox would
// wait there for the device's next connection although the device is online
// (docs/design.md, "Stored messages and a connecting device"). Each writer
// puts the message, then looks the device up once more and, if an edge holds
// it, nudges that edge; the edge registers a device before it reads its
// inbox. So either the edge's read sees the put, or the writer's lookup sees
// the registration and the nudge makes the edge read again. The edge reads again on the session's one
// stored reader, after the last stored message it queued on that session, so
// that no message is written twice on one connection.

// Nudger tells the edge that holds a device, if one does, to read the
// device's inbox again: the writers call it after a put answered queued.
// Router implements it.
type Nudger interface {
	Nudge(ctx context.Context, account, device string) error
}

var _ Nudger = (*Router)(nil)

// The results of herald_inbox_nudges_total: a writer sent a nudge, or could
// not (the registry or the link failed); an edge read a device's inbox again
// for one, or ignored one for a session it does not hold.
const (
	nudgeSent = iota
	nudgeFailed
	nudgeRead
	nudgeIgnored
	nudgeResults
)

var nudgeLabel = [nudgeResults]string{"sent", "failed", "read", "ignored"}

// NudgeCounters count nudges by result in herald_inbox_nudges_total: the
// writers' side (sent, failed) in a Router, the edges' (read, ignored) in a
// Server. One process's Router and Server share the series.
type NudgeCounters struct {
	c [nudgeResults]prometheus.Counter
}

// NewNudgeCounters registers herald_inbox_nudges_total in reg, or takes the
// collector reg already has under that name.
func NewNudgeCounters(reg prometheus.Registerer) (*NudgeCounters, error) {
	vec := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "herald_inbox_nudges_total",
		Help: "Nudges to read a device's inbox again after a put that its edge's read may have missed, by result: sent and failed by the writers, read and ignored (a session not held) by the edges.",
	}, []string{"result"})
	if err := reg.Register(vec); err != nil {
		are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err)
		if !ok {
			return nil, fmt.Errorf("edge: register herald_inbox_nudges_total: %w", err)
		}
		if vec, ok = are.ExistingCollector.(*prometheus.CounterVec); !ok {
			return nil, fmt.Errorf("edge: register herald_inbox_nudges_total: %w", err)
		}
	}
	n := &NudgeCounters{}
	for i, l := range nudgeLabel {
		n.c[i] = vec.WithLabelValues(l)
	}
	return n, nil
}

func (n *NudgeCounters) inc(result int) {
	if n != nil {
		n.c[result].Inc()
	}
}

// freshLocator is a Locator whose Lookup may answer from a cache
// (registry.Redis): LookupFresh asks the registry itself, so that it sees
// every registration that completed before it, as the nudge's argument needs.
type freshLocator interface {
	LookupFresh(ctx context.Context, account, device string) (registry.Entry, error)
}

// Nudge tells the edge that holds device of account, if one does, to read the
// device's inbox again, for a message put there after the edge may have read
// it: directly when that edge is Local, else over its link, where the nudge
// only queues a frame. The edge is the one the registry names, read past its
// cache: a session held here that the registry does not name (an older one, or
// one the registry could not take) is nudged too. A device not registered is
// no error: it gets its inbox when it connects.
func (r *Router) Nudge(ctx context.Context, account, device string) error {
	err := r.nudge(ctx, account, device)
	if err != nil {
		r.count(nudgeFailed)
	}
	return err
}

func (r *Router) nudge(ctx context.Context, account, device string) error {
	local, e, err := r.locateFresh(ctx, account, device)
	if local != "" && (err != nil || e.Session != local) {
		r.count(nudgeSent)
		r.Local.nudged(account, device, local)
	}
	switch {
	case errors.Is(err, registry.ErrNotFound) && local == "" && r.Regions != nil && r.RegionInbox != nil:
		// Connected in another region since the lookup that stored the
		// message? Asked past the cache, as the registry is read past its own.
		if region, _ := r.Regions.ask(ctx, regionKey{account, device}, ""); region != "" && r.RegionInbox.Start(region, account, device) {
			r.count(nudgeSent)
		}
		return nil
	case errors.Is(err, registry.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("edge: nudge %s/%s: %w", account, device, err)
	}
	if r.Local != nil && e.Edge == r.Local.ID() {
		r.count(nudgeSent)
		r.Local.nudged(account, device, e.Session)
		return nil
	}
	if r.Links == nil {
		return fmt.Errorf("edge: nudge %s/%s: no links configured to reach edge %s", account, device, e.Edge)
	}
	if err := r.Links.Nudge(ctx, e.Edge, account, device, e.Session); err != nil {
		return fmt.Errorf("edge: nudge %s/%s: %w", account, device, err)
	}
	r.count(nudgeSent)
	return nil
}

// count counts one nudge of the writer's side, when the Router has counters.
func (r *Router) count(result int) { r.Nudges.inc(result) }

// Nudge asks edge to read the inbox of device of account again for its
// session. It only queues the frame, on the link's bounded queue: a full
// queue refuses it.
func (l *Links) Nudge(ctx context.Context, edge, account, device, session string) error {
	k, err := l.get(edge)
	if err != nil {
		return err
	}
	c, err := k.connect(ctx)
	if err != nil {
		return fmt.Errorf("link to %s: %w", edge, err)
	}
	frame, err := json.Marshal(link.Nudge{T: link.KindNudge, Account: account, Device: device, Session: session})
	if err != nil {
		return err
	}
	return c.Send(frame)
}

// nudgeStored nudges the edge that holds device of account after a put of a
// device's msg answered queued (devstore.go), through Config.Nudger.
func (s *Server) nudgeStored(src *session, device string) {
	if s.cfg.Nudger == nil {
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
	defer cancel()
	if err := s.cfg.Nudger.Nudge(ctx, src.account, device); err != nil {
		src.log.Debug("nudging the edge of a sibling failed; the message waits for its next connection", "target", device, "err", err)
	}
}

// join records ss, about to be registered, where a nudge finds it before it is
// attached (attach forgets it).
func (s *Server) join(ss *session) {
	s.mu.Lock()
	s.joining[ss.id] = ss
	s.mu.Unlock()
}

// heldLocked returns session of device of account if this edge holds it,
// attached or between its registration and its attach, else nil. The caller
// holds mu.
func (s *Server) heldLocked(account, device, session string) *session {
	if ss := s.joining[session]; ss != nil && ss.account == account && ss.device == device {
		return ss
	}
	if ss := s.findLocked(account, device); ss != nil && ss.id == session {
		return ss
	}
	return nil
}

// nudged acts on a nudge for session id of device of account: if this edge
// holds that session, its stored reader reads the inbox again, after the last
// message it queued; a nudge for another session, or for a device not held
// here, changes nothing. It never waits: the read runs on the session's
// stored reader, which it starts when none runs.
func (s *Server) nudged(account, device, id string) {
	s.mu.Lock()
	var ss *session
	if !s.closing && s.cfg.Inbox != nil {
		ss = s.heldLocked(account, device, id)
	}
	if ss == nil || ss.ctx.Err() != nil {
		s.mu.Unlock()
		s.met.nudges.inc(nudgeIgnored)
		return
	}
	// Under mu, with closing false: the count never races with Shutdown's Wait.
	s.wg.Add(1)
	s.mu.Unlock()
	s.met.nudges.inc(nudgeRead)
	if !ss.nudge() {
		s.wg.Done()
		return
	}
	go func() {
		defer s.wg.Done()
		s.forwardStored(ss, s.readStored(ss))
	}()
}

// forward hands the session's stored reader on from begin, which queued
// stored (nil: nothing): to a forwardStored goroutine for it, or for the read
// again a nudge asked for meanwhile; else the reader stops.
func (s *Server) forward(ss *session, stored *storedPage) {
	if stored == nil && !ss.storedNext() {
		return
	}
	s.wg.Add(1) // begin's caller holds a count
	go func() {
		defer s.wg.Done()
		if stored == nil {
			stored = s.readStored(ss)
		}
		s.forwardStored(ss, stored)
	}()
}

// nextStored returns the page forwardStored queues after p, which was written
// whole: the next one when p was full, or the first of a read again a nudge
// asked for; nil, the reader stopped, when there is neither.
func (s *Server) nextStored(ss *session, p *storedPage) *storedPage {
	if !p.full && !ss.storedNext() {
		return nil
	}
	return s.readStored(ss)
}

// readStored reads ss's inbox after the last stored message queued on ss and
// returns the page it queued; while it finds nothing, it reads again as long
// as nudges ask for it, and returns nil, the reader stopped, when they don't.
func (s *Server) readStored(ss *session) *storedPage {
	for {
		if p := s.queueStored(ss, ss.lastStored()); p != nil {
			return p
		}
		if !ss.storedNext() {
			return nil
		}
	}
}

// nudge records a nudge on ss and reports whether the caller must start the
// stored reader: true when none ran (the caller now is it); when one runs, it
// reads again before it stops.
func (ss *session) nudge() (start bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.storedBusy {
		ss.storedAgain = true
		return false
	}
	ss.storedBusy = true
	return true
}

// storedNext is asked by the stored reader that has nothing more to queue:
// it reports true, and clears the request, when a nudge asked for a read
// again; else the reader stops (false).
func (ss *session) storedNext() bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.storedAgain {
		ss.storedAgain = false
		return true
	}
	ss.storedBusy = false
	return false
}

// stopStored stops the stored reader of a session that ended.
func (ss *session) stopStored() {
	ss.mu.Lock()
	ss.storedBusy, ss.storedAgain = false, false
	ss.mu.Unlock()
}

// setStoredSeq records seq as the last stored message queued or skipped on ss.
func (ss *session) setStoredSeq(seq uint64) {
	ss.mu.Lock()
	ss.storedSeq = max(ss.storedSeq, seq)
	ss.mu.Unlock()
}

// lastStored returns the seq of the last stored message queued or skipped on
// ss.
func (ss *session) lastStored() uint64 {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.storedSeq
}

// locateFresh returns the session of device of account that Local holds
// ("" for none) and the registry's entry for the device, read past its cache
// (freshLocator), as a nudge and a change of persistent topics need: either
// the registry names a registration that completed before the read, or the
// device registers after it and reads what changed itself.
func (r *Router) locateFresh(ctx context.Context, account, device string) (local string, e registry.Entry, err error) {
	if r.Local != nil {
		if ss := r.Local.session(account, device); ss != nil {
			local = ss.id
		}
	}
	if fl, ok := r.Registry.(freshLocator); ok {
		e, err = fl.LookupFresh(ctx, account, device)
	} else {
		e, err = r.Registry.Lookup(ctx, account, device)
	}
	return local, e, err
}
