package edge

import (
	"slices"
	"strconv"
	"sync"

	"github.com/heraldpush/herald/protocol"
)

// Topics: a device subscribes to topics with sub frames, for its connection's
// life, where its token's topics claim grants them (protocol.TopicGranted);
// each edge keeps an index of its own subscribers by topic, and a publish
// reaches them through PublishLocal: one encoding of the message, queued on
// each subscriber's session, written by the session's own writer, so that a
// slow device costs the fan-out nothing (it is handled by the send queue's
// policy, like any other message).

// sessionTopics is what a session may subscribe to and is subscribed to;
// guarded by the session's mu.
type sessionTopics struct {
	grants     []string // the token's patterns
	subscribed []string // at most Config.MaxTopics
	dropped    bool     // the session ended: no more subscriptions
	// catching holds the topics catching up from the log (catchup.go), each
	// with the published messages that reached the session meanwhile, held
	// back until the log's have been queued.
	catching map[string][]heldFrame
	// persistent are the device's persistent topics as last applied, sorted
	// (devicetopics.go); applied is the ticket of the read they came from.
	persistent []string
	applied    uint64
	// seqs is, per subscribed topic, the highest seq queued here (live or
	// from the log), or where the subscription began: the cursor from which
	// the edge catches the session up after it may have been missing from
	// the topic directory (topicrepair.go).
	seqs map[string]uint64
	// repairFrom is, per topic, the cursor of a catch-up by the edge whose
	// log read failed: the next one starts there (topicrepair.go).
	repairFrom map[string]uint64
}

// setSeq moves topic's cursor to seq when seq is past it; the caller holds
// the session's mu.
func (st *sessionTopics) setSeq(topic string, seq uint64) {
	if st.seqs == nil {
		st.seqs = make(map[string]uint64)
	}
	if seq > st.seqs[topic] {
		st.seqs[topic] = seq
	}
}

// forget drops topic's cursors, once the session left it; the caller holds
// the session's mu.
func (st *sessionTopics) forget(topic string) {
	delete(st.seqs, topic)
	delete(st.repairFrom, topic)
}

// grantTopics records the topic patterns of the session's token. A token
// without any leaves the session without topics state: it cannot subscribe.
func (s *session) grantTopics(patterns []string) {
	if len(patterns) == 0 {
		return
	}
	s.mu.Lock()
	s.topics = &sessionTopics{grants: patterns}
	s.mu.Unlock()
}

// topicIndex is the edge's subscribers by topic.
type topicIndex struct {
	mu   sync.RWMutex
	subs map[string]map[*session]struct{} // guarded by mu
	// gone are the topics whose last subscriber here left since the
	// heartbeat last withdrew them from the registry; guarded by mu.
	gone map[string]struct{}
}

// add records ss as a subscriber of topic and reports whether it is the
// topic's first here.
func (x *topicIndex) add(topic string, ss *session) (first bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.subs == nil {
		x.subs = make(map[string]map[*session]struct{})
	}
	set, ok := x.subs[topic]
	if !ok {
		set = make(map[*session]struct{})
		x.subs[topic] = set
	}
	set[ss] = struct{}{}
	return !ok
}

// remove forgets ss as a subscriber of topic and reports whether the topic
// has no subscriber here left.
func (x *topicIndex) remove(topic string, ss *session) (last bool) {
	x.mu.Lock()
	defer x.mu.Unlock()
	set, ok := x.subs[topic]
	if !ok {
		return false
	}
	delete(set, ss)
	if len(set) == 0 {
		delete(x.subs, topic)
		if x.gone == nil {
			x.gone = make(map[string]struct{})
		}
		x.gone[topic] = struct{}{}
		return true
	}
	return false
}

// takeGone returns the topics that lost their last subscriber here since the
// last call, and forgets them.
func (x *topicIndex) takeGone() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]string, 0, len(x.gone))
	for t := range x.gone {
		out = append(out, t)
	}
	clear(x.gone)
	return out
}

// all returns the topics with subscribers here.
func (x *topicIndex) all() []string {
	x.mu.RLock()
	defer x.mu.RUnlock()
	out := make([]string, 0, len(x.subs))
	for t := range x.subs {
		out = append(out, t)
	}
	return out
}

// sessions appends topic's subscribers to buf.
func (x *topicIndex) sessions(topic string, buf []*session) []*session {
	x.mu.RLock()
	defer x.mu.RUnlock()
	for ss := range x.subs[topic] {
		buf = append(buf, ss)
	}
	return buf
}

// count returns how many sessions here subscribe to topic.
func (x *topicIndex) count(topic string) int {
	x.mu.RLock()
	defer x.mu.RUnlock()
	return len(x.subs[topic])
}

// subscribe handles a sub frame: each topic is subscribed if its name is
// valid, the token grants it and the session holds fewer than MaxTopics; the
// answer is a subs frame with one result per topic, in order. A frame of more
// than MaxTopics topics is a bad frame. It returns true when the connection
// must end.
func (s *Server) subscribe(ss *session, id string, topics []string, after map[string]uint64) bool {
	if id != "" && !protocol.ValidMsgID(id) {
		return s.badFrame(ss, "", "sub id: "+msgIDRule, false, "bad_id", "id")
	}
	if len(topics) > s.cfg.MaxTopics {
		return s.badFrame(ss, replyID(id), "a sub frame lists at most "+strconv.Itoa(s.cfg.MaxTopics)+" topics", false, "too_many_topics", "topics")
	}
	for t := range after {
		if !slices.Contains(topics, t) {
			return s.badFrame(ss, replyID(id), "a sub frame's after names only topics of its topics", false, "after_not_in_topics", "after")
		}
	}
	ss.rateHits = 0
	results := make([]protocol.TopicResult, len(topics))
	var firsts, catching []string
	for i, t := range topics {
		cursor, catch := after[t]
		var first bool
		results[i], first = s.subscribeOne(ss, t, catch, cursor)
		if first {
			firsts = append(firsts, t)
		}
		if catch && results[i].Status == protocol.TopicSubscribed {
			catching = append(catching, t)
		}
	}
	// The registry learns of a topic's first subscriber here before the
	// answer, so that a publish after the answer finds this edge.
	s.advertise(firsts)
	_ = s.send(ss, &protocol.Subs{ID: id, Results: results}, nil)
	for _, t := range catching {
		s.catchUp(ss, t, after[t])
	}
	return false
}

// subscribeOne subscribes ss to topic and reports whether it is the topic's
// first subscriber on this edge. With catch, the topic starts catching up
// (catchup.go) after cursor before the session joins the index, so that no
// publish reaches it in between. Without, the session's cursor for the topic
// starts at the least seq a message appended from now on can have
// (topiclog.Entry), for the edge's own catch-up (topicrepair.go).
func (s *Server) subscribeOne(ss *session, topic string, catch bool, cursor uint64) (protocol.TopicResult, bool) {
	if !protocol.ValidTopic(topic) {
		return protocol.TopicResult{Status: protocol.TopicInvalid}, false
	}
	res := protocol.TopicResult{Topic: topic}
	first := false
	ss.mu.Lock()
	st := ss.topics
	switch {
	case st == nil || st.dropped || !protocol.TopicGranted(st.grants, topic):
		res.Status = protocol.TopicForbidden
	case slices.Contains(st.subscribed, topic):
		res.Status = protocol.TopicSubscribed
		if catch {
			st.startCatching(topic)
		}
	case len(st.subscribed) >= s.cfg.MaxTopics:
		res.Status = protocol.TopicLimit
	default:
		st.subscribed = append(st.subscribed, topic)
		res.Status = protocol.TopicSubscribed
		if catch {
			st.startCatching(topic)
		} else {
			cursor = uint64(max(0, s.cfg.Now().UnixMilli())) * 1000
		}
		st.setSeq(topic, cursor)
		// Under ss.mu, so that dropTopics, which takes it first, sees every
		// topic this adds.
		first = s.topics.add(topic, ss)
		s.met.topicSubs.Inc()
	}
	ss.mu.Unlock()
	return res, first
}

// unsubscribe handles an unsub frame: each valid topic the session holds is
// dropped; the answer is a subs frame with one result per topic, in order.
func (s *Server) unsubscribe(ss *session, id string, topics []string) bool {
	if id != "" && !protocol.ValidMsgID(id) {
		return s.badFrame(ss, "", "unsub id: "+msgIDRule, false, "bad_id", "id")
	}
	if len(topics) > s.cfg.MaxTopics {
		return s.badFrame(ss, replyID(id), "an unsub frame lists at most "+strconv.Itoa(s.cfg.MaxTopics)+" topics", false, "too_many_topics", "topics")
	}
	ss.rateHits = 0
	results := make([]protocol.TopicResult, len(topics))
	for i, t := range topics {
		if !protocol.ValidTopic(t) {
			results[i] = protocol.TopicResult{Status: protocol.TopicInvalid}
			continue
		}
		results[i] = protocol.TopicResult{Topic: t, Status: protocol.TopicUnsubscribed}
		ss.mu.Lock()
		if st := ss.topics; st != nil {
			if j := slices.Index(st.subscribed, t); j >= 0 {
				st.subscribed = slices.Delete(st.subscribed, j, j+1)
				st.forget(t)
				s.topics.remove(t, ss)
				s.met.topicSubs.Dec()
			}
		}
		ss.mu.Unlock()
	}
	_ = s.send(ss, &protocol.Subs{ID: id, Results: results}, nil)
	return false
}

// dropTopics ends every subscription of a session that ended.
func (s *Server) dropTopics(ss *session) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.topics
	if st == nil {
		// A read of the device's persistent topics that finishes later
		// must find the session ended.
		ss.topics = droppedTopics
		return
	}
	if st.dropped {
		return
	}
	st.dropped = true
	st.catching = nil // what it held back goes with it
	for _, t := range st.subscribed {
		s.topics.remove(t, ss)
		s.met.topicSubs.Dec()
	}
	st.subscribed = nil
	st.seqs, st.repairFrom = nil, nil
}

// TopicCount is what one edge's share of a publish did.
type TopicCount struct {
	// Devices counts the subscribers the message was queued for.
	Devices int `json:"devices"`
	// Dropped counts the subscribers whose send queue was full or over its
	// outbound rate: the message was not queued for them.
	Dropped int `json:"dropped"`
}

// PublishLocal queues m, a message published to topic, for every session of
// this edge subscribed to topic, with m.Topic set: one encoding for all,
// written by each session's own writer. It never blocks on a device.
func (s *Server) PublishLocal(topic string, m *protocol.Msg) (TopicCount, error) {
	var c TopicCount
	subs := s.topics.sessions(topic, nil)
	if len(subs) == 0 {
		return c, nil
	}
	mm := *m // m may be read by other goroutines of the same publish
	mm.Topic = topic
	data, err := protocol.Encode(&mm)
	if err != nil {
		return c, err
	}
	for _, ss := range subs {
		if m.Seq != 0 {
			if caught, held := ss.holdTopicFrame(topic, heldFrame{seq: m.Seq, id: m.ID, data: data}, s.cfg.SendQueue); caught {
				if held {
					c.Devices++
				} else {
					c.Dropped++
				}
				continue
			}
		}
		if err := ss.enqueue(outFrame{data: data, id: m.ID, queued: true}); err != nil {
			c.Dropped++
			continue
		}
		c.Devices++
	}
	s.met.topicOut.Add(float64(c.Devices))
	return c, nil
}

// TopicSubscribers returns how many sessions of this edge subscribe to topic.
func (s *Server) TopicSubscribers(topic string) int { return s.topics.count(topic) }
