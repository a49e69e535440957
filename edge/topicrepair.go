package edge

import (
	"context"
	"time"

	"github.com/heraldpush/herald/topiclog"
)

// The edge's own catch-up. A publish reaches the edges the topic directory
// lists; an edge missing from it gets nothing, and the publish answers
// without it, no edge failed, so its subscribers would miss the message
// silently although they stay connected. That happens when the registry lost
// the edge's memberships or dropped them: Redis restarted empty, or came back
// (or the edge was cut off) after the edge's liveness key expired, so that a
// publisher's TopicEdges found the edge dead and pruned it; also while an add
// that failed waits for the next heartbeat. The heartbeat adds every topic
// again then (refreshTopics, fresh or after a failed add); around that add the
// edge catches its subscribers up from the topics' logs, as a device that
// subscribes with its cursor is (catchup.go): each subscribed session keeps,
// per topic, the highest seq queued to it (sessionTopics.seqs), or where its
// subscription began.
//
// Before the add, every subscribed session starts catching up on each topic
// (publishes reaching it are held back) with its cursor; after it, each
// topic's log is read once, after the lowest cursor of its sessions, and each
// session gets what the log holds after its own cursor, then what was held
// back that the log did not have. A publish missed the edge only if it read
// the directory before the add, and it appended to the log before that, so
// before the read: it is in the log. A read that fails keeps the session's
// cursor for the next heartbeat's attempt (sessionTopics.repairFrom); what
// reached the session meanwhile may then come again, with its id.
//
// Bounds: at most TopicCatchUp messages per topic and session at each
// heartbeat, the rest at the next (as after a full send queue), within the
// log's entries and ttl. A message appended
// before one that reached the session first (two publishers of one topic
// racing) and missed is not found after the cursor.

// topicRepair is a catch-up by the edge in progress: per topic, its sessions
// and their cursors.
type topicRepair map[string]map[*session]uint64

// holdForRepair makes every session subscribed to a topic here start
// catching up on it, and returns their cursors. Sessions already catching up
// on a topic (their own sub with a cursor) are left to it; one whose catch-up
// has already asked for a repair keeps the request for the next heartbeat.
func (s *Server) holdForRepair() topicRepair {
	rp := topicRepair{}
	for _, topic := range s.topics.all() {
		for _, ss := range s.topics.sessions(topic, nil) {
			ss.mu.Lock()
			st := ss.topics
			busy := false
			if st != nil {
				_, busy = st.catching[topic]
			}
			if busy && !st.dropped {
				if _, wanted := st.repairFrom[topic]; wanted {
					// Its own catch-up stopped short and has not ended
					// yet: the next heartbeat repairs it, not this one.
					s.topicRepair.Store(true)
				}
			}
			if st != nil && !st.dropped && !busy {
				cursor, ok := st.repairFrom[topic]
				if !ok {
					cursor = st.seqs[topic]
				}
				st.startCatching(topic)
				if rp[topic] == nil {
					rp[topic] = map[*session]uint64{}
				}
				rp[topic][ss] = cursor
			}
			ss.mu.Unlock()
		}
	}
	return rp
}

// repairTopics reads each topic's log after the lowest cursor of rp's
// sessions, queues on each what the log holds after its own cursor, and ends
// their catching up. With read false (the add failed), or when a read fails,
// the cursors are kept for the next attempt, which it reports wanted.
func (s *Server) repairTopics(rp topicRepair, read bool) (again bool) {
	now := s.cfg.Now()
	for topic, sessions := range rp {
		var entries []topiclog.Entry
		ok := false
		if read && s.cfg.TopicLog != nil {
			floor := uint64(0)
			first := true
			for _, cursor := range sessions {
				if first || cursor < floor {
					floor, first = cursor, false
				}
			}
			ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
			var err error
			entries, err = s.cfg.TopicLog.After(ctx, topic, floor, s.cfg.TopicCatchUp)
			cancel()
			ok = err == nil
			if err != nil {
				if allow, suppressed := s.noisy.allow(noisyTopics, time.Now()); allow {
					s.cfg.Logger.Warn("reading a topic's log to catch up its subscribers failed; the next heartbeat reads it again", "topic", topic, "err", err, "suppressed", suppressed)
				}
			}
		}
		if !ok && s.cfg.TopicLog != nil {
			again = true
		}
		frames := make([]outFrame, len(entries))
		for i := range entries {
			data, id, err := caughtUpFrame(&entries[i], now)
			if err == nil {
				frames[i] = outFrame{data: data, id: id, queued: true}
			}
		}
		// A full read may not be all the log holds after the floor.
		truncated := len(entries) >= s.cfg.TopicCatchUp
		for ss, cursor := range sessions {
			last, sent, stuck := cursor, 0, truncated
			for i := range entries {
				if entries[i].Seq <= cursor || frames[i].data == nil {
					continue
				}
				if sent == s.cfg.TopicCatchUp {
					stuck = true // the rest at the next heartbeat
					break
				}
				if err := ss.enqueue(frames[i]); err != nil {
					stuck = retryable(err)
					break
				}
				last, sent = entries[i].Seq, sent+1
				s.met.topicCaughtUp.Inc()
			}
			ss.mu.Lock()
			if st := ss.topics; st != nil {
				switch {
				case !ok && s.cfg.TopicLog != nil:
					if st.repairFrom == nil {
						st.repairFrom = make(map[string]uint64)
					}
					if _, kept := st.repairFrom[topic]; !kept {
						st.repairFrom[topic] = cursor
					}
				case stuck:
					// A full queue, or TopicCatchUp queued: the rest from
					// last at the next heartbeat (see catchUp).
					if st.repairFrom == nil {
						st.repairFrom = make(map[string]uint64)
					}
					st.repairFrom[topic] = last
					again = true
				default:
					delete(st.repairFrom, topic)
				}
			}
			ss.mu.Unlock()
			s.endCatching(ss, topic, last)
		}
	}
	return again
}
