package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// soakDevice is one device of a soak run, across its reconnections.
type soakDevice struct {
	unit int    // its account's index
	id   string // a or b

	// Guarded by soak.mu.
	conn     *websocket.Conn // nil while disconnected
	done     chan struct{}   // closed when conn's reader returns
	leaving  bool            // being closed by the churn: no new sends to or from it
	inflight int             // messages to or from it with no outcome yet
	awaiting int             // accepted messages to it that have not arrived
}

// usable reports whether d may send or receive a new message. Under soak.mu.
func (d *soakDevice) usable() bool { return d.conn != nil && !d.leaving }

// account is the account of unit i.
func (s *soak) account(i int) string { return s.cfg.Run + "-" + strconv.Itoa(i) }

// connect dials d, reads its welcome and starts its reader.
func (s *soak) connect(ctx context.Context, d *soakDevice) error {
	tok, err := mintToken(s.cfg.TokenKey, s.account(d.unit), d.id)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(dctx, s.cfg.URL+"/v1/connect", &websocket.DialOptions{
		HTTPClient:   s.dialer,
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + tok}},
		Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		s.count(func(n *soakCounts) { n.ConnectErrors++ })
		return err
	}
	_, b, err := c.Read(dctx)
	if err != nil || frameKind(b) != protocol.KindWelcome {
		_ = c.CloseNow()
		s.count(func(n *soakCounts) { n.ConnectErrors++ })
		if err == nil {
			err = fmt.Errorf("first frame is not a welcome: %.100s", b)
		}
		return err
	}
	done := make(chan struct{})
	s.mu.Lock()
	d.conn, d.done, d.leaving = c, done, false
	s.readers.Add(1)
	s.mu.Unlock()
	go s.read(d, c, done)
	return nil
}

// read is a connection's reader: it accounts for every frame until the
// connection ends.
func (s *soak) read(d *soakDevice, c *websocket.Conn, done chan struct{}) {
	defer s.readers.Done()
	defer close(done)
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			s.mu.Lock()
			if d.conn == c {
				if !d.leaving {
					s.counts.Disconnects++
					if s.firstErr == "" {
						s.firstErr = "connection lost: " + err.Error()
					}
				}
				d.conn = nil
			}
			s.mu.Unlock()
			return
		}
		switch frameKind(b) {
		case protocol.KindMsg:
			seq, ok := markerSeq(b)
			if !ok {
				s.count(func(n *soakCounts) { n.Unknown++ })
				continue
			}
			s.arrived(seq)
		case protocol.KindReceipt:
			s.receipt(b)
		case protocol.KindError:
			s.noteErr(fmt.Sprintf("error frame: %.200s", b))
		}
	}
}

func (s *soak) count(f func(*soakCounts)) {
	s.mu.Lock()
	f(&s.counts)
	s.mu.Unlock()
}

func (s *soak) connectedCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, d := range s.devices {
		if d.conn != nil {
			n++
		}
	}
	return n
}

// churnLoop reconnects the devices one after the other, cfg.Churn of them
// every sample interval, until ctx ends.
func (s *soak) churnLoop(ctx context.Context) {
	if s.cfg.Churn == 0 {
		return
	}
	every := time.Duration(float64(s.cfg.Sample) / (s.cfg.Churn * float64(len(s.devices))))
	t := time.NewTicker(max(every, time.Millisecond))
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		s.reconnect(ctx, s.devices[i%len(s.devices)])
	}
}

// reconnect closes d once nothing is on its way to or from it (or --drain
// has passed), and connects it again.
func (s *soak) reconnect(ctx context.Context, d *soakDevice) {
	s.mu.Lock()
	d.leaving = true
	s.mu.Unlock()
	deadline := time.Now().Add(s.cfg.Drain)
	for time.Now().Before(deadline) && sleepCtx(ctx, 5*time.Millisecond) {
		s.mu.Lock()
		idle := d.inflight == 0 && d.awaiting == 0
		s.mu.Unlock()
		if idle {
			break
		}
	}
	s.mu.Lock()
	if ctx.Err() != nil {
		// The run ended while d still had a message on its way: d stays
		// connected for the final wait instead of losing it to the churn.
		d.leaving = false
		s.mu.Unlock()
		return
	}
	c, done := d.conn, d.done
	s.mu.Unlock()
	if c != nil {
		_ = c.Close(websocket.StatusNormalClosure, "soak churn")
		<-done
	}
	if ctx.Err() != nil {
		return
	}
	if err := s.connect(ctx, d); err != nil {
		s.noteErr("reconnect: " + err.Error())
		return
	}
	s.count(func(n *soakCounts) { n.Reconnects++ })
}

// closeAll closes every connection and waits for the readers.
func (s *soak) closeAll() {
	s.mu.Lock()
	var conns []*websocket.Conn
	for _, d := range s.devices {
		d.leaving = true
		if d.conn != nil {
			conns = append(conns, d.conn)
		}
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.CloseNow()
	}
	s.readers.Wait()
}

// send sends message seq: a d2d msg with probability cfg.D2DShare, else a sync
// push, between usable devices of the account seq names or, when it has
// none, of the next account that has.
func (s *soak) send(ctx context.Context, buf []byte, seq int) []byte {
	d2d := rand.Float64() < s.cfg.D2DShare
	units := len(s.devices) / 2
	var from, to *soakDevice
	var conn *websocket.Conn
	s.mu.Lock()
	for k := range units {
		u := (seq + k) % units
		a, b := s.devices[2*u], s.devices[2*u+1]
		if seq%2 == 1 {
			a, b = b, a
		}
		if d2d && a.usable() && b.usable() {
			from, to, conn = a, b, a.conn
			break
		}
		if !d2d && b.usable() {
			to = b
			break
		}
	}
	if to == nil {
		s.counts.Skipped++
		s.mu.Unlock()
		return buf
	}
	s.counts.Sent++
	to.inflight++
	if from != nil {
		from.inflight++
		s.counts.D2D++
	} else {
		s.counts.Pushes++
	}
	s.msgs[seq] = &soakMsg{to: to, from: from}
	s.mu.Unlock()

	if from != nil {
		buf = append(buf, `{"t":"msg","id":"`+marker...)
		buf = strconv.AppendInt(buf, int64(seq), 10)
		buf = append(buf, `","type":"playback.control.v1","to":{"device":"`+to.id+`"},"payload":{"action":"play"}}`...)
		// A message counted as sent is sent whole even when the run ends meanwhile:
		// a Write cut short by its context closes the device's connection.
		wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := conn.Write(wctx, websocket.MessageText, buf); err != nil {
			s.outcome(seq, "write_error", "device write: "+err.Error())
		}
		return buf
	}
	buf = append(buf, `{"to":{"account":"`...)
	buf = append(buf, s.account(to.unit)...)
	buf = append(buf, `","device":"`+to.id+`"},"type":"notification.v1","payload":{"title":"`+marker...)
	buf = strconv.AppendInt(buf, int64(seq), 10)
	buf = append(buf, `"}}`...)
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	status, why := s.push(pctx, buf)
	s.outcome(seq, status, why)
	return buf
}

// push makes one POST /v1/push and returns the target's status, or an error
// status and why.
func (s *soak) push(ctx context.Context, body []byte) (status, why string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL+"/v1/push", bytes.NewReader(body))
	if err != nil {
		return "send_error", err.Error()
	}
	req.Header.Set("Authorization", "Bearer "+s.cfg.Key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.api.Do(req)
	if err != nil {
		return "send_error", "POST /v1/push: " + err.Error()
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return "send_error", "POST /v1/push: reading the answer: " + err.Error()
	}
	if resp.StatusCode != http.StatusOK {
		return "http_" + strconv.Itoa(resp.StatusCode), fmt.Sprintf("POST /v1/push: %s: %.200s", resp.Status, b)
	}
	var r struct {
		Results []protocol.Result `json:"results"`
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Results) != 1 {
		return "bad_answer", fmt.Sprintf("POST /v1/push: unexpected answer %.200s", b)
	}
	return string(r.Results[0].Status), ""
}

// receipt accounts for the receipt of a d2d msg.
func (s *soak) receipt(b []byte) {
	f, err := protocol.Decode(b)
	r, ok := f.(*protocol.Receipt)
	if err != nil || !ok {
		s.count(func(n *soakCounts) { n.Unknown++ })
		return
	}
	seq, ok := markerSeq([]byte(r.ID))
	if !ok || len(r.Results) != 1 {
		s.count(func(n *soakCounts) { n.Unknown++ })
		return
	}
	s.outcome(seq, string(r.Results[0].Status), "")
}

// outcome records message seq's outcome: the push's or the receipt's status.
// Delivered and acked mean accepted: the message must then arrive. why, when
// not empty, says what failed.
func (s *soak) outcome(seq int, status, why string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if why != "" {
		s.counts.SendErrors++
		if s.firstErr == "" {
			s.firstErr = why
		}
	}
	m := s.msgs[seq]
	if m == nil || m.accepted {
		s.counts.Unknown++
		return
	}
	s.statuses[status]++
	m.to.inflight--
	if m.from != nil {
		m.from.inflight--
	}
	if status != string(protocol.StatusDelivered) && status != string(protocol.StatusAcked) {
		// Not accepted: nothing is owed. A late arrival counts as unknown.
		delete(s.msgs, seq)
		return
	}
	s.counts.Accepted++
	m.accepted = true
	if m.arrived {
		s.counts.Delivered++
		delete(s.msgs, seq)
		return
	}
	m.to.awaiting++
}

// arrived records message seq reaching its device.
func (s *soak) arrived(seq int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := s.msgs[seq]
	switch {
	case m == nil:
		s.counts.Unknown++
	case m.arrived:
		s.counts.Duplicates++
	case m.accepted:
		s.counts.Delivered++
		m.to.awaiting--
		delete(s.msgs, seq)
	default:
		m.arrived = true
	}
}

// lost counts the accepted messages that have not arrived and the messages
// still without an outcome.
func (s *soak) lost() (lost, unresolved int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.msgs {
		if m.accepted {
			lost++
		} else {
			unresolved++
		}
	}
	return lost, unresolved
}
