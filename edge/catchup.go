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
// reports whether it took the frame (caught) and whether it held it;
// otherwise it moves the topic's cursor to f.seq, as the caller queues f. At
// most max frames are held per topic; a frame beyond is dropped and counted as
// a full queue's would be (caught, not held), so that the publish does not
// queue it out of order either.
func (ss *session) holdTopicFrame(topic string, f heldFrame, max int) (caught, held bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	st := ss.topics
	if st == nil {
		return false, false
	}
	frames, ok := st.catching[topic]
	if !ok {
		if !st.dropped {
			st.setSeq(topic, f.seq)
		}
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
// did not have, and ends the topic's catching up. It keeps at most half the
// send queue in flight (catchUpFlow). A log that cannot be read
// leaves the device with what is published from now on until the next
// heartbeat reads it again from cursor (topicrepair.go).
// It runs on the session's reader, after the subs answer.
func (s *Server) catchUp(ss *session, topic string, cursor uint64) {
	flow := catchUpFlow{ss: ss, window: max(1, s.cfg.SendQueue/2)}
	last := cursor
	if s.cfg.TopicLog != nil {
		ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RegistryTimeout)
		entries, err := s.cfg.TopicLog.After(ctx, topic, cursor, s.cfg.TopicCatchUp)
		cancel()
		if err != nil {
			// The edge's own catch-up reads from cursor again at the next
			// heartbeat (topicrepair.go); meanwhile the device gets what is
			// published.
			s.repairLater(ss, topic, cursor)
			if ok, suppressed := s.noisy.allow(noisyTopics, time.Now()); ok {
				ss.log.Warn("reading a topic's log failed: the device gets what is published from now on, and the next heartbeat reads it again", "err", err, "suppressed", suppressed)
			}
		}
		now := s.cfg.Now()
		for i := range entries {
			data, id, err := caughtUpFrame(&entries[i], now)
			if err != nil {
				continue
			}
			if err := flow.put(data, id); err != nil {
				if retryable(err) {
					// A full queue (or the outbound rate) must not leave a
					// gap behind the cursor: the held messages that follow
					// move the device's past it. The next heartbeat queues
					// the rest again from last.
					s.repairLater(ss, topic, last)
				}
				break
			}
			last = entries[i].Seq
			s.met.topicCaughtUp.Inc()
		}
	}
	s.endCatching(ss, topic, last)
}

// retryable reports whether a message enqueue refused may be queued later on
// the same session: not once it is closing or was told to reconnect (the
// device then catches up with its own cursor).
func retryable(err error) bool {
	return !errors.Is(err, errClosed) && !errors.Is(err, errReconnecting)
}

// repairLater has the next heartbeat queue on ss what topic's log holds after
// from (topicrepair.go), keeping an earlier start already recorded.
func (s *Server) repairLater(ss *session, topic string, from uint64) {
	ss.mu.Lock()
	if st := ss.topics; st != nil && !st.dropped {
		if st.repairFrom == nil {
			st.repairFrom = make(map[string]uint64)
		}
		if kept, ok := st.repairFrom[topic]; !ok || from < kept {
			st.repairFrom[topic] = from
		}
	}
	ss.mu.Unlock()
	s.topicRepair.Store(true)
}

// endCatching ends topic's catching up on ss, whose log's messages up to last
// were queued: the messages held back meanwhile that the log did not have are
// queued, and the topic's cursor moves past what was queued.
func (s *Server) endCatching(ss *session, topic string, last uint64) {
	ss.mu.Lock()
	var held []heldFrame
	if st := ss.topics; st != nil && st.catching != nil {
		held = st.catching[topic]
		delete(st.catching, topic)
		if !st.dropped {
			st.setSeq(topic, last)
			for _, f := range held {
				st.setSeq(topic, f.seq)
			}
		}
	}
	ss.mu.Unlock()
	for _, f := range held {
		if f.seq <= last {
			continue // the log had it
		}
		if err := ss.enqueue(outFrame{data: f.data, id: f.id, queued: true}); err != nil {
			break
		}
	}
}

// catchUpFlow queues frames on a session keeping at most window of them not
// yet written: a catch-up of more messages than the send queue holds waits
// for the device instead of overflowing the queue (and leaving the rest to
// the next heartbeat's repair).
type catchUpFlow struct {
	ss     *session
	window int
	dones  []chan bool // the frames queued and not yet known written, oldest first
}

// put queues a frame, first waiting for the oldest in flight when the window
// is full. Its error is the enqueue's, or errClosed when the connection did
// not write one in flight.
func (f *catchUpFlow) put(data []byte, id string) error {
	if len(f.dones) >= f.window {
		var ok bool
		select {
		case ok = <-f.dones[0]:
		case <-f.ss.ctx.Done():
			return errClosed
		}
		f.dones = f.dones[1:]
		if !ok {
			return errClosed
		}
	}
	done := make(chan bool, 1)
	if err := f.ss.enqueue(outFrame{data: data, id: id, done: done, queued: true}); err != nil {
		return err
	}
	f.dones = append(f.dones, done)
	return nil
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
