package edge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/heraldpush/herald/edge/link"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/registry"
)

// Persistent topics: a backend subscribes a device to topics through the REST
// API, the device list keeps them (DeviceTopics), and the edge subscribes the
// device's session to them:
//
//   - when it connects, before its welcome is written (listDevice, in attach):
//     only for a device that the account's cached device list says has any,
//     so that a device without them costs no query; a failed read is logged
//     and the device connects without them;
//   - when they change while it is connected: the API tells the edge that
//     holds it (Router.TopicsChanged, a topics link frame), which reads them
//     again on a goroutine of its own and applies the difference.
//
// Persistent topics are not checked against the token's topics claim (the
// backend subscribed the device) but take places of the connection's
// MaxTopics like any other; those beyond it are left out. An unsub frame
// ends a persistent subscription for the connection only; a change of the
// device's persistent topics ends the subscriptions to the topics it removed,
// whatever made them.
//
// Reads may finish out of order (the one at connect and one for a change):
// each takes a ticket before it reads, and a session applies only a read
// with a ticket later than the one it applied last, so an older read never
// undoes a newer one.

// droppedTopics is the topics state of a session that ended without any: a
// read of its persistent topics that finishes afterwards finds it and does
// nothing. It is never changed.
var droppedTopics = &sessionTopics{dropped: true}

// applyDeviceTopics reads ss's persistent topics and subscribes ss to them. A
// failure is logged: the device stays connected without them until it
// connects again or they change.
func (s *Server) applyDeviceTopics(ctx context.Context, ss *session) {
	if s.cfg.DeviceTopics == nil {
		return
	}
	ticket := s.topicTickets.Add(1)
	topics, err := s.cfg.DeviceTopics.Topics(ctx, ss.account, ss.device)
	if err != nil {
		if ok, suppressed := s.noisy.allow(noisyStore, time.Now()); ok {
			ss.log.Warn("reading the device's persistent topics failed; it stays connected without them until it reconnects or they change", "err", err, "suppressed", suppressed)
		}
		return
	}
	s.setDeviceTopics(ss, ticket, topics)
}

// setDeviceTopics makes topics, read under ticket, ss's persistent topics:
// it subscribes ss to those it did not have (while places last) and
// unsubscribes it from those no longer listed.
func (s *Server) setDeviceTopics(ss *session, ticket uint64, topics []string) {
	topics = slices.DeleteFunc(slices.Clone(topics), func(t string) bool { return !protocol.ValidTopic(t) })
	slices.Sort(topics)
	var firsts []string
	left := 0
	ss.mu.Lock()
	st := ss.topics
	if st == nil {
		// Also for no topics: the state keeps the read's ticket, so that an
		// older read that finishes later is not applied.
		st = &sessionTopics{}
		ss.topics = st
	}
	if st.dropped || ticket < st.applied {
		ss.mu.Unlock()
		return
	}
	st.applied = ticket
	for _, t := range topics {
		if sortedHas(st.persistent, t) || slices.Contains(st.subscribed, t) {
			continue
		}
		if len(st.subscribed) >= s.cfg.MaxTopics {
			left++
			continue
		}
		st.subscribed = append(st.subscribed, t)
		// Under ss.mu, as in subscribeOne: dropTopics sees every topic added.
		if s.topics.add(t, ss) {
			firsts = append(firsts, t)
		}
		s.met.topicSubs.Inc()
	}
	for _, t := range st.persistent {
		if sortedHas(topics, t) {
			continue
		}
		if j := slices.Index(st.subscribed, t); j >= 0 {
			st.subscribed = slices.Delete(st.subscribed, j, j+1)
			s.topics.remove(t, ss)
			s.met.topicSubs.Dec()
		}
	}
	st.persistent = topics
	ss.mu.Unlock()
	s.advertise(firsts)
	if left > 0 {
		ss.log.Warn("persistent topics left out: the connection holds --max-topics subscriptions", "left_out", left)
	}
}

// sortedHas reports whether t is in the sorted list.
func sortedHas(list []string, t string) bool {
	_, ok := slices.BinarySearch(list, t)
	return ok
}

// heldForTopics returns session id of device of account if this edge holds
// it, attached or joining, and takes a count on the server's WaitGroup for
// the caller to give back; nil when it does not hold it, or has no
// persistent topics, or is shutting down.
func (s *Server) heldForTopics(account, device, id string) *session {
	if s.cfg.DeviceTopics == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	ss := s.heldLocked(account, device, id)
	if ss != nil {
		// Under mu, with closing false: the count never races with Shutdown's Wait.
		s.wg.Add(1)
	}
	return ss
}

// topicsChanged acts on a topics link frame for session id of device of
// account: if this edge holds that session, it reads the device's persistent
// topics again and applies them, on a goroutine of its own (a query must not
// hold up the link's reader).
func (s *Server) topicsChanged(account, device, id string) {
	ss := s.heldForTopics(account, device, id)
	if ss == nil {
		return
	}
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
		defer cancel()
		s.applyDeviceTopics(ctx, ss)
	}()
}

// topicsChangedNow is topicsChanged on the caller's goroutine, for a change
// made in this process: the caller's answer follows the change.
func (s *Server) topicsChangedNow(ctx context.Context, account, device, id string) {
	ss := s.heldForTopics(account, device, id)
	if ss == nil {
		return
	}
	defer s.wg.Done()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RegistryTimeout)
	defer cancel()
	s.applyDeviceTopics(ctx, ss)
}

// TopicsChanged tells the edge that holds device of account, if one does, to
// read the device's persistent topics again: directly when that edge is
// Local, else with a topics frame over its link. The edge is the one the
// registry names, read past its cache, as for a nudge: a session held here
// that the registry does not name is told too. A device not registered is no
// error: it reads its topics when it connects. A local session has the change
// applied when TopicsChanged returns; a session on another edge has it within
// the link frame's trip and one read of the device list after.
func (r *Router) TopicsChanged(ctx context.Context, account, device string) error {
	local, e, err := r.locateFresh(ctx, account, device)
	if local != "" && (err != nil || e.Session != local) {
		r.Local.topicsChangedNow(ctx, account, device, local)
	}
	switch {
	case errors.Is(err, registry.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("edge: topics of %s/%s changed: %w", account, device, err)
	}
	if r.Local != nil && e.Edge == r.Local.ID() {
		r.Local.topicsChangedNow(ctx, account, device, e.Session)
		return nil
	}
	if r.Links == nil {
		return fmt.Errorf("edge: topics of %s/%s changed: no links configured to reach edge %s", account, device, e.Edge)
	}
	if err := r.Links.topics(ctx, e.Edge, account, device, e.Session); err != nil {
		return fmt.Errorf("edge: topics of %s/%s changed: %w", account, device, err)
	}
	return nil
}

// topics asks edge to read the persistent topics of device of account again
// for its session. It only queues the frame, on the link's bounded queue: a
// full queue refuses it.
func (l *Links) topics(ctx context.Context, edge, account, device, session string) error {
	k, err := l.get(edge)
	if err != nil {
		return err
	}
	c, err := k.connect(ctx)
	if err != nil {
		return fmt.Errorf("link to %s: %w", edge, err)
	}
	frame, err := json.Marshal(link.Topics{T: link.KindTopics, Account: account, Device: device, Session: session})
	if err != nil {
		return err
	}
	return c.Send(frame)
}
