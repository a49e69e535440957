package edge

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/heraldpush/herald/inbox"
	"github.com/heraldpush/herald/protocol"
)

// Inbox is the store-and-forward inbox as the edge uses it: it reads what waits
// for a device that connects and removes each message once delivered (written,
// or, for a message with ack, acked), and puts a device's msg for an offline
// sibling (devstore.go). Every call is bounded by the inbox's own timeout.
type Inbox interface {
	Put(ctx context.Context, m inbox.Message) (inbox.PutResult, error)
	Pending(ctx context.Context, account, device string, after uint64, limit int) (inbox.Page, error)
	Remove(ctx context.Context, account, device string, ids ...string) (int, error)
}

// afterParam is the query parameter of GET /v1/connect and GET /v1/events that
// carries the device's resume cursor: the seq of the last stored message it
// received. The cursor skips only messages without ack: one with ack is written
// on every connection until the device acks it.
const afterParam = "after"

// cursor returns the resume cursor of a connect request, 0 when it has none. A
// cursor that is not a decimal integer below 2^64 is answered 400 and ok is
// false.
func cursor(w http.ResponseWriter, r *http.Request) (after uint64, ok bool) {
	v := r.URL.Query().Get(afterParam)
	if v == "" {
		return 0, true
	}
	after, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		protocol.NewProblem(protocol.CodeBadRequest, `"after" must be the seq of a stored message: a decimal integer below 2^64`).Write(w)
		return 0, false
	}
	return after, true
}

// storedPage is a page of stored messages queued on a session: their ids, the
// channels that say whether each was written, and whether each asks for an ack,
// in order.
type storedPage struct {
	ids   []string
	dones []chan bool
	acks  []bool
	last  uint64 // the seq of the last message read, queued or skipped
	full  bool   // the last page read had InboxPage messages: more may wait
}

// queueStored reads ss's inbox after seq from, a page at a time, and queues its
// messages on ss, in order, skipping those without ack at or below the device's
// cursor (ss.after): the device has them. A message with ack is queued whatever
// the cursor says, and recorded on ss as awaiting the device's ack
// (session.storedAcks), which removes it. It stops at the first frame the
// session does not take (closed, over its outbound rate, a full queue): that
// one and the rest stay stored. A failed read leaves the inbox to the next
// heartbeat, which reads again (storedretry.go).
func (s *Server) queueStored(ss *session, from uint64) *storedPage {
	p := &storedPage{last: from}
	now := s.cfg.Now()
	for {
		page, err := s.cfg.Inbox.Pending(context.Background(), ss.account, ss.device, p.last, s.cfg.InboxPage)
		if err != nil {
			if ok, suppressed := s.noisy.allow(noisyInbox, time.Now()); ok {
				ss.log.Warn("reading the inbox failed; the next heartbeat reads it again", "err", err, "suppressed", suppressed)
			}
			s.failedStored(ss)
			break
		}
		for _, id := range page.Expired {
			s.report(ss.account, ss.device, id, StoredExpired)
		}
		p.full = len(page.Messages) == s.cfg.InboxPage
		stop := false
		for i := range page.Messages {
			m := &page.Messages[i]
			if !m.Ack && m.Seq <= ss.after {
				p.last = m.Seq
				continue
			}
			msg := storedMsg(m, now)
			data, err := protocol.Encode(msg)
			if err != nil {
				ss.log.Warn("a stored message cannot be encoded", "id", m.ID, "err", err)
				stop = true
				break
			}
			if m.Ack {
				sender := ""
				if msg.From != nil {
					sender = msg.From.Device
				}
				ss.awaitStoredAck(m.ID, sender)
			}
			done := make(chan bool, 1)
			if err := ss.enqueue(outFrame{data: data, id: m.ID, done: done}); err != nil {
				stop = true
				break
			}
			p.ids = append(p.ids, m.ID)
			p.dones = append(p.dones, done)
			p.acks = append(p.acks, m.Ack)
			p.last = m.Seq
		}
		if stop {
			p.full = false
		}
		// A page of messages the cursor skipped only: read on.
		if stop || !p.full || len(p.ids) > 0 {
			break
		}
	}
	ss.setStoredSeq(p.last)
	if len(p.ids) == 0 {
		return nil
	}
	return p
}

// storedMsg is the msg frame of a stored message: its id, type, sender and
// acceptance time, the ttl left (rounded up) and its seq.
func storedMsg(m *inbox.Message, now time.Time) *protocol.Msg {
	var from *protocol.Sender
	if m.From != "" {
		from = new(protocol.Sender)
		if err := json.Unmarshal([]byte(m.From), from); err != nil {
			from = nil
		}
	}
	ttl := int((m.Expires.Sub(now) + time.Second - 1) / time.Second)
	return &protocol.Msg{
		ID: m.ID, Type: m.Type, From: from, TS: m.Enqueued.UnixMilli(),
		TTL: max(ttl, 1), Seq: m.Seq, Ack: m.Ack, Payload: m.Payload,
	}
}

// forwardStored is the goroutine, at most one per session at a time (the
// session's stored reader, nudge.go), that removes each queued page's messages
// without ack from the inbox once they were written (those with ack wait for
// the device's ack: removeAcked), and queues the next page while the last one
// was full and written whole, or a nudge asked for a read again. It ends with
// the session, or when the inbox is empty after the last page and no nudge
// came meanwhile.
func (s *Server) forwardStored(ss *session, p *storedPage) {
	var ended <-chan time.Time // once the session ended: how long its writer may still finish a frame
	for p != nil {
		n := 0
		for _, done := range p.dones {
			var ok bool
			select {
			case ok = <-done:
			case <-ss.ctx.Done():
				// The session ended, maybe while its writer wrote this
				// frame: a frame written then is the device's, and stays
				// stored only if its write is not known within the write's
				// own bound. Every queued frame is finished, written or
				// not, by the writer or by the close; one an SSE handler
				// that has returned never takes is given up at the bound.
				if ended == nil {
					t := time.NewTimer(s.cfg.WriteTimeout + time.Second)
					defer t.Stop()
					ended = t.C
				}
				select {
				case ok = <-done:
				case <-ended:
				}
			}
			if !ok {
				break
			}
			n++
		}
		var written []string
		for i, id := range p.ids[:n] {
			s.report(ss.account, ss.device, id, StoredDelivered)
			if !p.acks[i] {
				written = append(written, id)
			}
		}
		if len(written) > 0 {
			if _, err := s.cfg.Inbox.Remove(context.Background(), ss.account, ss.device, written...); err != nil {
				// The device got them; it skips them next time by its cursor.
				if ok, suppressed := s.noisy.allow(noisyInbox, time.Now()); ok {
					ss.log.Warn("removing delivered messages from the inbox failed", "err", err, "suppressed", suppressed)
				}
			}
		}
		if n > 0 {
			s.met.storedOut.Add(float64(n))
		}
		if n < len(p.dones) || ss.ctx.Err() != nil {
			ss.stopStored()
			return
		}
		p = s.nextStored(ss, p)
	}
}

// removeAcked removes from ss's inbox the stored messages among ids that the
// device acked (session.takeStoredAcks): an ack message counts as delivered
// once acked. A failed remove leaves them stored: the device gets them again on
// its next connection, keeps their ids as duplicates and acks them again.
func (s *Server) removeAcked(ss *session, ids ...string) {
	if len(ids) == 0 {
		return
	}
	for _, id := range ids {
		s.report(ss.account, ss.device, id, StoredAcked)
	}
	if _, err := s.cfg.Inbox.Remove(context.Background(), ss.account, ss.device, ids...); err != nil {
		if ok, suppressed := s.noisy.allow(noisyInbox, time.Now()); ok {
			ss.log.Warn("removing acked messages from the inbox failed", "err", err, "suppressed", suppressed)
		}
	}
}
