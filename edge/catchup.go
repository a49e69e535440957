package edge

import (
	"context"
	"errors"
	"time"

	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/topiclog"
)

// Catching up on a topic: a device that subscribes with a cursor for a topic
// (protocol.Sub.After) first gets what the topic's log (Router.Publish
// appends every message there before its fan-out) holds after the cursor,
// then what is published. The session is marked catching before it joins the
// topic's index; a publish that reaches it while it catches up is held back
// (holdTopicFrame) and queued after the log's messages, unless the log had it
// already. So a message published before the read is in the log, and one
// published after it is held or, once the catch-up ended, queued live: none is
// missed, and one published during the read may come twice, with its id, which
// the SDKs drop.

// errNotMsg is a log entry that is not a msg frame: skipped.
var errNotMsg = errors.New("edge: a topic log entry is not a msg frame")

// heldFrame is a published message held back while its topic catches up.
type heldFrame struct {
	seq  uint64
	id   string
	data []byte
}

// startCatching marks topic as catching up; the caller holds the session's mu.
func (st *sessionTopics) startCatching(topic string) {
	if st.catching == nil {
		st.catching = make(map[string][]heldFrame)
	}
	if _, ok := st.catching[topic]; !ok {
		st.catching[topic] = nil
	}
}

// holdTopicFrame holds f back when the session is catching up on topic, and
// reports whether it took the frame (caught) and whether it held it: at most
// max frames are held per topic; a frame beyond is dropped and counted as a
// full queue's would be (caught, not held), so that the publish does not
// queue it out of order either.
func (ss *session) holdTopicFrame(topic string, f heldFrame, max int) (caught, held bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.topics
	if st == nil || st.catching == nil {
		return false, false
	}
	frames, ok := st.catching[topic]
	if !ok {
		return false, false
	}
	if len(frames) >= max {
		ss.srv.dropped.Add(1)
		ss.srv.met.dropped[dropQueueFull].Inc()
		return true, false
	}
	st.catching[topic] = append(frames, f)
	return true, true
}

// catchUp queues what topic's log holds after cursor on ss, at most
// TopicCatchUp messages, then the messages held back meanwhile that the log
// did not have, batch after batch until none is left, and only then ends the
// topic's catching up, so that one published later never overtakes one held.
// It keeps at most half the send queue in flight (catchUpFlow), waiting for
// the device to take the rest. A log that cannot be read leaves the device
// with what is published from now on, and the log says so. It runs on the
// session's reader, after the subs answer.
func (s *Server) catchUp(ss *session, topic string, cursor uint64) {
	flow := catchUpFlow{ss: ss, window: max(1, s.cfg.SendQueue/2)}
	last := cursor
	if s.cfg.TopicLog != nil {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
		entries, err := s.cfg.TopicLog.After(ctx, topic, cursor, s.cfg.TopicCatchUp)
		cancel()
		if err != nil {
			if ok, suppressed := s.noisy.allow(noisyTopics, time.Now()); ok {
				ss.log.Warn("reading a topic's log failed: the device gets what is published from now on", "err", err, "suppressed", suppressed)
			}
		}
		now := s.cfg.Now()
		for i := range entries {
			data, id, err := caughtUpFrame(&entries[i], now)
			if err != nil {
				continue
			}
			if !flow.put(data, id) {
				ss.endCatching(topic)
				return
			}
			last = entries[i].Seq
			s.met.topicCaughtUp.Inc()
		}
	}
	for {
		held, more := ss.takeHeld(topic)
		if !more {
			return
		}
		for _, f := range held {
			if f.seq <= last {
				continue // the log had it
			}
			if !flow.put(f.data, f.id) {
				ss.endCatching(topic)
				return
			}
			last = f.seq
		}
	}
}

// takeHeld returns the frames held back for topic and empties the hold; when
// there are none it ends the topic's catching up and reports more false.
func (ss *session) takeHeld(topic string) (held []heldFrame, more bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.topics
	if st == nil || st.catching == nil {
		return nil, false
	}
	held, ok := st.catching[topic]
	if !ok || len(held) == 0 {
		delete(st.catching, topic)
		return nil, false
	}
	st.catching[topic] = nil // still catching up: hold what comes meanwhile
	return held, true
}

// endCatching ends topic's catching up, dropping what it held: the
// connection did not take the catch-up, and is ending.
func (ss *session) endCatching(topic string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if st := ss.topics; st != nil && st.catching != nil {
		delete(st.catching, topic)
	}
}

// catchUpFlow queues frames on a session keeping at most window of them not
// yet written: a catch-up of more messages than the send queue holds waits
// for the device instead of overflowing it.
type catchUpFlow struct {
	ss     *session
	window int
	dones  []chan bool // the frames queued and not yet known written, oldest first
}

// put queues a frame, first waiting for the oldest in flight when the window
// is full; it reports false when the connection did not take it.
func (f *catchUpFlow) put(data []byte, id string) bool {
	if len(f.dones) >= f.window {
		var ok bool
		select {
		case ok = <-f.dones[0]:
		case <-f.ss.ctx.Done():
			return false
		}
		f.dones = f.dones[1:]
		if !ok {
			return false
		}
	}
	done := make(chan bool, 1)
	if err := f.ss.enqueue(outFrame{data: data, id: id, done: done, queued: true}); err != nil {
		return false
	}
	f.dones = append(f.dones, done)
	return true
}

// caughtUpFrame is the msg frame of a log entry: the message as published,
// with its seq and the ttl it has left.
func caughtUpFrame(e *topiclog.Entry, now time.Time) ([]byte, string, error) {
	f, err := protocol.Decode(e.Frame)
	if err != nil {
		return nil, "", err
	}
	m, ok := f.(*protocol.Msg)
	if !ok {
		return nil, "", errNotMsg
	}
	m.Seq = e.Seq
	if m.TTL > 0 {
		m.TTL = max(1, int((e.Expires.Sub(now)+time.Second-1)/time.Second))
	}
	data, err := protocol.Encode(m)
	return data, m.ID, err
}
