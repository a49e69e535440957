package faults

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
	"github.com/heraldpush/herald/scripts/testenv"
)

// storedNote is a device-to-device type that stores (no built-in type does
// both): a msg to a sibling that is offline is queued in its inbox.
const storedNote = `{
	"type": "object",
	"properties": {"text": {"type": "string"}},
	"x-herald": {"directions": ["device_to_device"], "store": 3600, "description": "a note between devices, kept for an offline sibling"}
}`

// storedNoteType is the type name of storedNote.
const storedNoteType = "fault.note.v1"

// arrival is one message as a cycler received it.
type arrival struct {
	count int       // times received, on any connection
	seq   uint64    // seq of the first arrival: 0 live, above 0 from the inbox
	at    time.Time // the first arrival
}

// cycler is a device that connects and disconnects in cycles by the edge's own
// rule: its edges give connections a lifetime of a second or two, then send
// reconnect; the device closes with 1000 (the reconnect frame is the last
// message frame of a connection, so nothing is lost there), stays offline for
// a while so that pushes to it are stored, and connects to a random edge with
// its resume cursor (?after=, the largest seq it received). While connected it
// sends stored device-to-device notes to random siblings of its account, and
// closes only once every note it sent has its receipt.
type cycler struct {
	t        *testing.T
	account  string
	id       string
	siblings []string
	edges    []string
	log      *sendLog
	stop     chan struct{}
	done     chan struct{}

	mu       sync.Mutex
	msgs     map[string]*arrival              // guarded by mu: message id -> its arrival
	cursor   uint64                           // guarded by mu: the largest seq received
	online   []span                           // guarded by mu: each connection made
	waiters  map[string]chan protocol.Receipt // guarded by mu: notes waiting for their receipt
	errWait  map[string]chan protocol.Code    // guarded by mu
	failures int                              // guarded by mu: failed connects
	sent     int                              // guarded by mu: notes sent
}

var _ target = (*cycler)(nil)

func (c *cycler) name() (string, string) { return c.account, c.id }

func (c *cycler) received(id string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.msgs[id]; a != nil {
		return a.count
	}
	return 0
}

// arrived returns the arrival of message id, nil if it has not arrived.
func (c *cycler) arrived(id string) *arrival {
	c.mu.Lock()
	defer c.mu.Unlock()
	if a := c.msgs[id]; a != nil {
		cp := *a
		return &cp
	}
	return nil
}

// span is one connection of a cycler.
type span struct {
	dial, open, end time.Time // the dial began, the welcome was read, it ended (zero while open)
	// moved is when the device read the edge's reconnect frame (zero if it
	// did not): from then on the edge answers a message offline, stored for
	// the next connection (docs/protocol.md).
	moved time.Time
}

// until is when the connection stopped taking live messages: its reconnect
// frame, or its end (zero while open).
func (w span) until() time.Time {
	if !w.moved.IsZero() {
		return w.moved
	}
	return w.end
}

// connectedThrough returns the connection of the device that was open, and
// not yet told to reconnect, from before from until after to, if one was: a
// message stored meanwhile was put after that connection read the inbox, and
// reaches it only if its edge reads the inbox again (a nudge).
func (c *cycler) connectedThrough(from, to time.Time) (span, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.online {
		if u := w.until(); w.open.Before(from) && (u.IsZero() || u.After(to)) {
			return w, true
		}
	}
	return span{}, false
}

// missedBy returns the first connection that began after stored (a put was
// answered) and ended before at (the message arrived on a later one): its
// inbox read cannot have run before the put, and did not deliver the message.
func (c *cycler) missedBy(stored, at time.Time) (span, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, w := range c.online {
		if w.dial.After(stored) && !w.end.IsZero() && w.end.Before(at) {
			return w, true
		}
	}
	return span{}, false
}

// dialCursor opens a device connection with the resume cursor after and reads
// its welcome.
func dialCursor(ctx context.Context, addr, tok string, after uint64) (*websocket.Conn, error) {
	url := "ws://" + addr + "/v1/connect"
	if after > 0 {
		url += fmt.Sprint("?after=", after)
	}
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{
		HTTPHeader: http.Header{"Authorization": {"Bearer " + tok}}, Subprotocols: []string{protocol.Subprotocol}})
	if err != nil {
		return nil, err
	}
	_, data, err := c.Read(ctx)
	if err != nil {
		_ = c.CloseNow()
		return nil, fmt.Errorf("read welcome: %w", err)
	}
	if f, err := protocol.Decode(data); err != nil || f.Kind() != protocol.KindWelcome {
		_ = c.CloseNow()
		return nil, fmt.Errorf("first frame %s is not a welcome (%v)", data, err)
	}
	return c, nil
}

// run cycles the device until stop is closed.
func (c *cycler) run() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		conn, slot, err := c.connect()
		if err != nil {
			c.mu.Lock()
			c.failures++
			c.mu.Unlock()
			c.pause(time.Duration(50+rand.IntN(200)) * time.Millisecond)
			continue
		}
		after, moved := c.hold(conn, slot)
		c.mu.Lock()
		c.online[slot].end = time.Now()
		c.mu.Unlock()
		if moved {
			c.pause(after + time.Duration(200+rand.IntN(600))*time.Millisecond)
		}
	}
}

// pause sleeps for d or until stop.
func (c *cycler) pause(d time.Duration) {
	select {
	case <-c.stop:
	case <-time.After(d):
	}
}

// connect makes one attempt to connect to a random edge with the cursor, and
// returns the connection and the index of its entry in online.
func (c *cycler) connect() (*websocket.Conn, int, error) {
	c.mu.Lock()
	after := c.cursor
	c.mu.Unlock()
	dial := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := dialCursor(ctx, c.edges[rand.IntN(len(c.edges))], deviceToken(c.t, c.account, c.id), after)
	if err != nil {
		return nil, 0, err
	}
	conn.SetReadLimit(1 << 20)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.online = append(c.online, span{dial: dial, open: time.Now()})
	return conn, len(c.online) - 1, nil
}

// hold reads conn and sends notes until the edge asks the device to reconnect
// (moved, with the edge's after_ms), the connection ends, or stop; it returns
// once conn is closed and its reader done.
func (c *cycler) hold(conn *websocket.Conn, slot int) (after time.Duration, moved bool) {
	reconnect := make(chan time.Duration, 1)
	ended := make(chan struct{})
	go c.read(conn, slot, reconnect, ended)
	defer func() { <-ended }()
	for {
		select {
		case <-c.stop:
			_ = conn.CloseNow()
			return 0, false
		case <-ended:
			return 0, false
		case after = <-reconnect:
			// Every note sent has its receipt (send waits for it): close now.
			_ = conn.Close(websocket.StatusNormalClosure, "reconnect")
			return after, true
		case <-time.After(time.Duration(300+rand.IntN(700)) * time.Millisecond):
			if len(c.siblings) > 0 && c.log.begin() {
				c.send(conn, ended)
				c.log.end()
			}
		}
	}
}

// read records the frames of conn, the connection online[slot], until it
// ends; a reconnect frame is passed to hold.
func (c *cycler) read(conn *websocket.Conn, slot int, reconnect chan<- time.Duration, ended chan<- struct{}) {
	defer close(ended)
	for {
		_, data, err := conn.Read(context.Background())
		if err != nil {
			return
		}
		f, err := protocol.Decode(data)
		if err != nil {
			c.t.Errorf("%s/%s: undecodable frame %s: %v", c.account, c.id, data, err)
			continue
		}
		c.mu.Lock()
		switch f := f.(type) {
		case *protocol.Msg:
			a := c.msgs[f.ID]
			if a == nil {
				a = &arrival{seq: f.Seq, at: time.Now()}
				c.msgs[f.ID] = a
			}
			a.count++
			c.cursor = max(c.cursor, f.Seq)
		case *protocol.Receipt:
			if ch := c.waiters[f.ID]; ch != nil {
				delete(c.waiters, f.ID)
				ch <- *f
			}
		case *protocol.Error:
			if ch := c.errWait[f.Re]; ch != nil {
				delete(c.errWait, f.Re)
				ch <- f.Code
			}
		case *protocol.Reconnect:
			if c.online[slot].moved.IsZero() {
				c.online[slot].moved = time.Now()
			}
			select {
			case reconnect <- time.Duration(f.AfterMS) * time.Millisecond:
			default:
			}
		}
		c.mu.Unlock()
	}
}

// send sends one stored note to a random sibling and records its answer: the
// receipt's result, an error frame, or none when the connection ended first.
func (c *cycler) send(conn *websocket.Conn, ended <-chan struct{}) {
	c.mu.Lock()
	c.sent++
	id := fmt.Sprintf("n-%s-%s-%d", c.account, c.id, c.sent)
	rc, ec := make(chan protocol.Receipt, 1), make(chan protocol.Code, 1)
	c.waiters[id], c.errWait[id] = rc, ec
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(c.waiters, id)
		delete(c.errWait, id)
		c.mu.Unlock()
	}()
	to := c.siblings[rand.IntN(len(c.siblings))]
	b, err := protocol.Encode(&protocol.Msg{ID: id, Type: storedNoteType, To: &protocol.Target{Device: to}, TTL: 600,
		Payload: json.RawMessage(`{"text":"` + id + `"}`)})
	if err != nil {
		c.t.Error(err)
		return
	}
	asked := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), bound)
	defer cancel()
	if err := conn.Write(ctx, websocket.MessageText, b); err != nil {
		c.log.answer(id, "d2d", c.account, to, asked, "unanswered(write)")
		return
	}
	var status string
	select {
	case r := <-rc:
		status = "problem"
		if len(r.Results) == 1 {
			status = resultKey(r.Results[0])
		}
	case code := <-ec:
		status = "error(" + string(code) + ")"
	case <-ended:
		status = "unanswered(closed)"
	case <-ctx.Done():
		status = "unanswered(hung)"
	}
	c.log.answer(id, "d2d", c.account, to, asked, status)
}

// resultKey names a result: its status, with its error in brackets.
func resultKey(r protocol.Result) string {
	if r.Error != "" {
		return string(r.Status) + "(" + r.Error + ")"
	}
	return string(r.Status)
}

// sent is one sync push or device note and the answer its sender got.
type sent struct {
	path            string // "sync" or "d2d"
	account, device string
	status          string // the answer: a result key, http(<code>), or unanswered(...)
	asked, answered time.Time
}

// accepted reports whether the sender was told the message was taken: it must
// then reach its device.
func (s *sent) accepted() bool {
	switch protocol.Status(s.status) {
	case protocol.StatusDelivered, protocol.StatusAcked, protocol.StatusQueued:
		return true
	}
	return false
}

// unanswered reports whether the sender got no answer at all.
func (s *sent) unanswered() bool { return strings.HasPrefix(s.status, "unanswered") }

// sendLog records every sync push and device note of the scenario.
type sendLog struct {
	mu   sync.Mutex
	sent map[string]*sent // guarded by mu: message id -> what its sender was told

	gate  sync.RWMutex // held for reading by each note in flight
	notes bool         // guarded by gate: devices send notes
}

// begin reports whether devices send notes now; if so, the note is in flight
// until end.
func (l *sendLog) begin() bool {
	l.gate.RLock()
	if !l.notes {
		l.gate.RUnlock()
		return false
	}
	return true
}

// end ends a note in flight.
func (l *sendLog) end() { l.gate.RUnlock() }

// setNotes starts or stops the notes; stopping waits for those in flight.
func (l *sendLog) setNotes(on bool) {
	l.gate.Lock()
	defer l.gate.Unlock()
	l.notes = on
}

func (l *sendLog) answer(id, path, account, device string, asked time.Time, status string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent[id] = &sent{path: path, account: account, device: device, status: status, asked: asked, answered: time.Now()}
}

// syncPush makes one sync push of notification.v1 without a ttl (stored for an
// offline device) and records its answer.
func (l *sendLog) syncPush(api string, c *cycler, n int) {
	body := notification(c.account, c.id, map[string]any{"timeout_ms": 2000})
	var out struct {
		ID      string            `json:"id"`
		Results []protocol.Result `json:"results"`
	}
	asked := time.Now()
	code, err := restCall(api, http.MethodPost, "/v1/push", body, &out)
	status := ""
	switch {
	case err != nil:
		status = "unanswered(" + err.Error() + ")"
	case code != http.StatusOK:
		status = fmt.Sprintf("http(%d)", code)
	case len(out.Results) != 1:
		status = "problem"
	default:
		status = resultKey(out.Results[0])
	}
	id := out.ID
	if id == "" {
		// Unanswered or refused: no id came back; the push is counted under one
		// of the scenario's own.
		id = fmt.Sprint("push-", n)
	}
	l.answer(id, "sync", c.account, c.id, asked, status)
}

// TestFaultInboxRestart kills the Redis that holds the registry and the inbox
// (SIGKILL) and starts it again on the same port while devices connect and
// disconnect in cycles and get sync pushes, asynchronous messages (Kafka and a
// processor) and device-to-device notes, all of types that store. The Redis
// runs with appendonly yes and appendfsync always, the deployment's
// requirement (docs/design.md, "The inbox"): a put it answered is on disk
// before the sender is told queued, so it survives the kill. Every message
// answered delivered, acked or queued (an async one accepted, then neither
// reported failed nor offline) must reach its device, live or from its inbox
// after a reconnect; every other answer (rejected with unavailable, a 5xx)
// counts as told; none may arrive twice, the devices resuming with their
// cursor. Recovery is the time from the restart to the first message
// delivered from an inbox after it; kept_across_restart counts the messages
// queued before the kill that arrived after it.
func TestFaultInboxRestart(t *testing.T) { inboxRestart(t, true) }

// TestFaultInboxRestartEmpty is TestFaultInboxRestart on a Redis without
// persistence, without the asynchronous path (its status store does not survive
// either): the restart empties every inbox, so what was queued before the kill
// and had not reached its device is lost by the store. The scenario counts those
// apart (lost_by_store), once every device has connected again after the
// restart, and fails on any other loss: it gives the figure behind the
// deployment's requirement of appendfsync always.
func TestFaultInboxRestartEmpty(t *testing.T) { inboxRestart(t, false) }

// inboxRestart runs the inbox restart scenario on a durable Redis or on one
// that restarts empty.
func inboxRestart(t *testing.T, durable bool) {
	accounts, perAccount := size(10, 50), 4
	syncRate, asyncRate := size(40, 150), size(15, 50)
	warm := time.Duration(size(3, 10)) * time.Second
	down := time.Duration(size(3, 10)) * time.Second
	after := time.Duration(size(4, 20)) * time.Second

	schemas := t.TempDir()
	if err := os.WriteFile(filepath.Join(schemas, storedNoteType+".json"), []byte(storedNote), 0o644); err != nil {
		t.Fatal(err)
	}
	rd := testenv.StartRedisWith(t, testenv.RedisOptions{Durable: durable})
	extra := []string{"--schemas-dir", schemas}
	if durable {
		extra = append(extra, kafkaFlags(t)...)
	}
	c := newClusterWith(t, testenv.Postgres(t), rd, extra...)
	edgeArgs := []string{"--min-lifetime", "1s", "--max-lifetime", "3s", "--reconnect-grace", "5s"}
	e1 := c.edge("edge-1", "", "", edgeArgs...)
	e2 := c.edge("edge-2", "", "", edgeArgs...)
	api := c.start("api", "--roles=api", "--edge-id", "api-1")
	if durable {
		c.start("processor-1", "--roles=processor", "--edge-id", "processor-1")
		waitGroups(t, 1)
	}

	log := &sendLog{sent: map[string]*sent{}}
	stop := make(chan struct{})
	var cyclers []*cycler
	for a := range accounts {
		var names []string
		for d := range perAccount {
			names = append(names, fmt.Sprint("d", d))
		}
		for d, name := range names {
			siblings := append(append([]string{}, names[:d]...), names[d+1:]...)
			cyclers = append(cyclers, &cycler{t: t, account: fmt.Sprint("ir", a), id: name, siblings: siblings,
				edges: []string{e1.Addr, e2.Addr}, log: log, stop: stop, done: make(chan struct{}),
				msgs: map[string]*arrival{}, waiters: map[string]chan protocol.Receipt{}, errWait: map[string]chan protocol.Code{}})
		}
	}
	for _, cy := range cyclers {
		go cy.run()
	}
	stopped := false
	stopAll := func() {
		if !stopped {
			stopped = true
			close(stop)
			for _, cy := range cyclers {
				<-cy.done
			}
		}
	}
	t.Cleanup(stopAll)
	// Every device connects once first, so that its account's list has it: a
	// note to a device never listed is rejected as unknown_device.
	waitFor(t, "every device connected once", func() bool {
		for _, cy := range cyclers {
			cy.mu.Lock()
			n := len(cy.online)
			cy.mu.Unlock()
			if n == 0 {
				return false
			}
		}
		return true
	})
	log.setNotes(true)

	// The load: sync pushes and async messages at steady rates, to random
	// devices, from a pool of workers each.
	async := newAsyncLog(api.Addr)
	pushStop := make(chan struct{})
	var wg sync.WaitGroup
	var pushOnce sync.Once
	stopPushes := func() {
		pushOnce.Do(func() { close(pushStop) })
		wg.Wait()
	}
	t.Cleanup(stopPushes)
	var nsync atomic.Int64
	pace := func(rate int, workers int, do func(cy *cycler)) {
		work := make(chan *cycler, workers)
		for range workers {
			wg.Go(func() {
				for cy := range work {
					do(cy)
				}
			})
		}
		wg.Go(func() {
			defer close(work)
			start := time.Now()
			for i := 0; ; i++ {
				select {
				case <-pushStop:
					return
				case <-time.After(time.Until(start.Add(time.Duration(i) * time.Second / time.Duration(rate)))):
				}
				work <- cyclers[rand.IntN(len(cyclers))]
			}
		})
	}
	pace(syncRate, 16, func(cy *cycler) { log.syncPush(api.Addr, cy, int(nsync.Add(1))) })
	if durable {
		pace(asyncRate, 8, func(cy *cycler) { async.send(cy) })
	}
	began := time.Now()
	time.Sleep(warm)
	killed := time.Now()
	rd.Stop()
	time.Sleep(down)
	rd.Start()
	restarted := time.Now()
	time.Sleep(after)
	stopPushes()
	log.setNotes(false)
	pushed := time.Since(began)

	// Settle: every accepted message must arrive; the devices keep cycling, so a
	// message stored for a device that was connected (the registry not knowing
	// it yet) arrives at its next connection.
	log.mu.Lock()
	defer log.mu.Unlock()
	byDevice := map[[2]string]*cycler{}
	for _, cy := range cyclers {
		byDevice[[2]string{cy.account, cy.id}] = cy
	}
	// inStore reports whether s may have been in its device's inbox when Redis
	// was killed: queued, asked before the kill (its answer may come after it)
	// and not arrived by then. Without persistence the restart loses it.
	inStore := func(id string, s *sent) bool {
		if protocol.Status(s.status) != protocol.StatusQueued || !s.asked.Before(killed) {
			return false
		}
		a := byDevice[[2]string{s.account, s.device}].arrived(id)
		return a == nil || !a.at.Before(killed)
	}
	missing := func(storeLoss bool) []string {
		var ids []string
		for id, s := range log.sent {
			if s.accepted() && byDevice[[2]string{s.account, s.device}].received(id) == 0 && (storeLoss || !inStore(id, s)) {
				ids = append(ids, id)
			}
		}
		return ids
	}
	// Without persistence what was in an inbox at the kill may never come;
	// the rest must.
	deadline := time.Now().Add(bound)
	left := missing(durable)
	for len(left) > 0 && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
		left = missing(durable)
	}
	var lostByStore int
	if !durable {
		// Every device connects once more: a connection that begins now reads
		// whatever its inbox still holds.
		settled := time.Now()
		waitFor(t, "every device connected again", func() bool {
			for _, cy := range cyclers {
				cy.mu.Lock()
				w := cy.online[len(cy.online)-1]
				cy.mu.Unlock()
				if !w.dial.After(settled) {
					return false
				}
			}
			return true
		})
		left = missing(false)
		lostByStore = len(missing(true)) - len(left)
	}
	ad, ar, al := async.settle(t)
	stopAll()
	sort.Strings(left)
	for _, id := range left[:min(5, len(left))] {
		s := log.sent[id]
		cy := byDevice[[2]string{s.account, s.device}]
		t.Errorf("%s %s to %s/%s answered %s at %v (%v after the kill) and never received; device connected throughout: %v",
			s.path, id, s.account, s.device, s.status, s.answered.Format("15:04:05.000"), s.answered.Sub(killed).Round(time.Millisecond),
			func() bool { _, ok := cy.connectedThrough(s.asked, s.answered); return ok }())
	}

	// The figures.
	// window names the part of the run that t falls in.
	window := func(t time.Time) string {
		switch {
		case t.Before(killed):
			return "before"
		case t.Before(restarted):
			return "down"
		}
		return "after"
	}
	var (
		accepted, live, fromInbox, kept, sameConn, toldArrived, unanswered int64
		missed, stranded, told                                             = map[string]int{}, map[string]int{}, map[string]int{}
		dups                                                               int
		strandedLeft                                                       time.Duration // the longest a stranded message's connection lasted after its put was answered
		strandedLast                                                       time.Duration // the latest stranded push or note after the restart, from the restart
		firstInbox                                                         time.Time
		statuses                                                           = map[string]map[string]int{"sync": {}, "d2d": {}}
	)
	for id, s := range log.sent {
		statuses[s.path][window(s.answered)+":"+s.status]++
		cy := byDevice[[2]string{s.account, s.device}]
		a := cy.arrived(id)
		if a != nil && a.count > 1 {
			dups += a.count - 1
		}
		switch {
		case s.accepted():
			accepted++
			if a == nil {
				continue
			}
			if a.seq == 0 {
				live++
			} else {
				fromInbox++
			}
			if inStore(id, s) {
				kept++
			}
			if w, ok := cy.connectedThrough(s.asked, s.answered); ok && protocol.Status(s.status) == protocol.StatusQueued {
				switch {
				case w.end.IsZero() || a.at.Before(w.end):
					sameConn++ // read again on that connection
				default:
					stranded[window(s.answered)]++
					strandedLeft = max(strandedLeft, w.until().Sub(s.answered))
					if !s.answered.Before(restarted) {
						strandedLast = max(strandedLast, s.answered.Sub(restarted))
					}
				}
			}
			if w, ok := cy.missedBy(s.answered, a.at); ok && a.seq > 0 {
				// The read ran between the dial and the welcome.
				switch {
				case w.open.Before(killed):
					missed["before"]++
				case w.dial.Before(restarted):
					missed["down"]++
				default:
					missed["after"]++
				}
			}
		case s.unanswered():
			unanswered++
		default:
			told[window(s.answered)]++
			if a != nil {
				toldArrived++
			}
		}
	}
	var asyncLive, asyncInbox int64
	for id, p := range async.accepted {
		if a := p.(*cycler).arrived(id); a != nil {
			if a.count > 1 {
				dups += a.count - 1
			}
			if a.seq == 0 {
				asyncLive++
			} else {
				asyncInbox++
			}
		}
	}
	for _, cy := range cyclers {
		cy.mu.Lock()
		for _, a := range cy.msgs {
			if a.seq > 0 && a.at.After(restarted) && (firstInbox.IsZero() || a.at.Before(firstInbox)) {
				firstInbox = a.at
			}
		}
		cy.mu.Unlock()
	}
	if firstInbox.IsZero() {
		t.Errorf("no message was delivered from an inbox after Redis came back")
	}
	if unanswered > 0 {
		t.Errorf("%d sync pushes or notes got no answer: %v", unanswered, statuses)
	}
	if dups > 0 {
		t.Errorf("%d messages arrived twice at devices that resumed with their cursor", dups)
	}
	if told["down"] == 0 {
		t.Errorf("no sync push or note was refused while Redis was down: the fault did not take: %v", statuses)
	}
	scenario := "inbox-restart"
	if !durable {
		scenario += "-empty"
	}
	f := &figures{Scenario: scenario, Sent: int64(len(log.sent)) + async.sent, Accepted: accepted + int64(len(async.accepted)),
		Delivered: accepted - int64(len(left)+lostByStore) + ad, Reported: int64(len(log.sent)) - accepted - unanswered + ar,
		Lost: int64(len(left)) + unanswered + al + async.errs, Recovery: firstInbox.Sub(restarted)}
	f.add("devices", len(cyclers))
	f.add("push_seconds", pushed.Round(time.Millisecond).Seconds())
	f.add("outage", restarted.Sub(killed).Round(time.Millisecond))
	f.add("live", live+asyncLive)
	f.add("from_inbox", fromInbox+asyncInbox)
	f.add("kept_across_restart", kept)
	f.add("lost_by_store", lostByStore)
	f.add("queued_while_connected_same_conn", sameConn)
	f.add("stranded_until_reconnect", fmt.Sprint(stranded))
	f.add("stranded_last_after_restart", strandedLast.Round(time.Millisecond))
	f.add("stranded_conn_left_within", strandedLeft.Round(time.Millisecond))
	f.add("missed_by_connect", fmt.Sprint(missed))
	f.add("told", fmt.Sprint(told))
	f.add("told_but_arrived", toldArrived)
	f.add("unanswered", unanswered)
	f.add("duplicates", dups)
	f.add("async_accepted", len(async.accepted))
	f.add("async_refused", fmt.Sprint(async.refused))
	f.add("sync", fmt.Sprint(statuses["sync"]))
	f.add("d2d", fmt.Sprint(statuses["d2d"]))
	report(t, f)
}
