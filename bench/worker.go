package bench

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// workerSpec is one worker's share of a run: a contiguous range of units and
// the matching share of the rate and the concurrency.
type workerSpec struct {
	Config      workload `json:"config"`
	Index       int      `json:"index"`
	First       int      `json:"first"`
	Count       int      `json:"count"`
	Rate        float64  `json:"rate"`
	Concurrency int      `json:"concurrency"`
}

// split divides a run among its workers.
func (c workload) split() []workerSpec {
	units := c.units()
	specs := make([]workerSpec, c.Procs)
	first := 0
	for i := range specs {
		n := units / c.Procs
		if i < units%c.Procs {
			n++
		}
		conc := c.Concurrency / c.Procs
		if i < c.Concurrency%c.Procs {
			conc++
		}
		specs[i] = workerSpec{Config: c, Index: i, First: first, Count: n, Rate: c.Rate * float64(n) / float64(units), Concurrency: max(conc, 1)}
		first += n
	}
	return specs
}

// worker holds one share of the devices and runs one share of the
// workload. prepare, run and stop are called one after the other, never
// concurrently.
type worker struct {
	spec workerSpec
	cfg  workload
	base time.Time // the zero of sendAt and of the latencies

	dialers []*http.Client // one per source address, for the WebSocket handshakes
	dials   atomic.Int64   // dials started: picks the source address
	api     *http.Client   // REST calls

	readers sync.WaitGroup // one reader per connection
	closing atomic.Bool    // set by stop: connections that end now are not lost

	mu      sync.Mutex
	conns   []*websocket.Conn // guarded by mu: every open connection, closed by stop
	senders []*websocket.Conn // d2d, fanout: the sending device of each local unit; set by prepare

	// Per message (the seq, local to the worker): when its send started, in ns
	// since base plus one (0: not sent yet), and how many times it arrived.
	sendAt   []atomic.Int64
	got      []atomic.Int32
	receipts []atomic.Bool // d2d, fanout: whether its first receipt arrived
	topic    *topicState   // topic: per publish

	lat, rcptLat, respLat, connLat *latencyHist

	n counters

	// The times that bound the phases, in unix ns.
	firstDial, lastConn, firstSend, lastSend, lastDelivery atomic.Int64

	statMu       sync.Mutex
	statuses     map[string]int64 // guarded by statMu: push results, receipt results
	httpStatuses map[string]int64 // guarded by statMu: REST answers other than the expected one
	connFailures map[string]int64 // guarded by statMu: failed handshakes by status or error
	firstErr     string           // guarded by statMu

	cpu     time.Duration // this process's CPU during run
	runTime time.Duration
}

// counters are a worker's counts.
type counters struct {
	connected, connectErrors, refused         atomic.Int64
	sent, sendErrors, accepted, pushDelivered atomic.Int64
	delivered, duplicates, unknown, receiptN  atomic.Int64
	errorFrames, otherFrames, disconnects     atomic.Int64
	stored                                    atomic.Int64 // drain: pushes answered queued
	subscribed, subFailed                     atomic.Int64 // topic: devices subscribed, or not
	published, pubDevices, pubDropped         atomic.Int64 // topic: publishes answered, and their counts
}

// newWorker sets a worker up; it connects nothing yet.
func newWorker(spec workerSpec) (*worker, error) {
	w := &worker{
		spec: spec, cfg: spec.Config, base: time.Now(),
		lat: newLatencyHist(), rcptLat: newLatencyHist(), respLat: newLatencyHist(), connLat: newLatencyHist(),
		statuses: map[string]int64{}, httpStatuses: map[string]int64{}, connFailures: map[string]int64{},
	}
	sources := spec.Config.SourceAddrs
	if len(sources) == 0 {
		sources = []string{""}
	}
	for _, src := range sources {
		w.dialers = append(w.dialers, &http.Client{Transport: &http.Transport{
			DialContext:       dialer(src).DialContext,
			ForceAttemptHTTP2: false,
		}})
	}
	w.api = &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		DialContext:         dialer("").DialContext,
		MaxIdleConns:        spec.Concurrency,
		MaxIdleConnsPerHost: spec.Concurrency,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}}
	if w.cfg.Mode == topicMode {
		// Every worker keeps a record of every publish: the first one
		// publishes, each receives.
		w.topic = newTopicState(messages(w.cfg.Rate, w.cfg.Duration))
	} else if w.cfg.sends() || w.cfg.Mode == drainMode {
		total := messages(spec.Rate, w.cfg.Duration)
		if w.cfg.Mode == drainMode {
			total = spec.Count * w.cfg.Stored
		}
		w.sendAt = make([]atomic.Int64, total)
		w.got = make([]atomic.Int32, total)
		w.receipts = make([]atomic.Bool, total)
	}
	w.senders = make([]*websocket.Conn, spec.Count)
	return w, nil
}

// dialer dials from the source address src ("" any).
func dialer(src string) *net.Dialer {
	d := &net.Dialer{Timeout: 10 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
		d.Control = bindNoPort
	}
	return d
}

// now is the time since base.
func (w *worker) now() time.Duration { return time.Since(w.base) }

// account is the account of the worker's local unit i.
func (w *worker) account(i int) string {
	return w.cfg.Run + "-" + strconv.Itoa(w.spec.First+i)
}

// dialJob is one device to connect.
type dialJob struct {
	unit   int // local unit index
	device string
	url    string
	sender bool // the unit's sending device (d2d, fanout)
}

// jobs returns the devices of the worker's units: the receivers, then (d2d,
// fanout) the senders, which must connect after their targets are listed.
func (w *worker) jobs() (receivers, senders []dialJob) {
	recvURL := w.cfg.URL
	if w.cfg.URL2 != "" {
		recvURL = w.cfg.URL2
	}
	for i := range w.spec.Count {
		switch w.cfg.Mode {
		case "d2d":
			receivers = append(receivers, dialJob{unit: i, device: "r", url: recvURL})
			senders = append(senders, dialJob{unit: i, device: "s", url: w.cfg.URL, sender: true})
		case "fanout":
			for k := 1; k < w.cfg.Fanout; k++ {
				receivers = append(receivers, dialJob{unit: i, device: "d" + strconv.Itoa(k), url: recvURL})
			}
			senders = append(senders, dialJob{unit: i, device: "d0", url: w.cfg.URL, sender: true})
		default:
			url := w.cfg.URL
			if n := len(w.cfg.Edges); n > 0 {
				url = w.cfg.Edges[(w.spec.First+i)%n]
			}
			receivers = append(receivers, dialJob{unit: i, device: "d", url: url})
		}
	}
	return receivers, senders
}

// prepare connects the worker's devices (connect mode connects them in run,
// after warming them up if asked; drain stores their messages instead and
// connects them in run).
func (w *worker) prepare(ctx context.Context) error {
	if w.cfg.Mode == drainMode {
		return w.fill(ctx)
	}
	if w.cfg.Mode == "connect" {
		if !w.cfg.Warm {
			return nil
		}
		receivers, _ := w.jobs()
		return w.warm(ctx, receivers, w.spec.Concurrency)
	}
	receivers, senders := w.jobs()
	w.dialAll(ctx, receivers, w.spec.Concurrency)
	w.dialAll(ctx, senders, w.spec.Concurrency)
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.n.connected.Load() == 0 {
		return fmt.Errorf("no device connected to %s: %s", w.cfg.URL, w.errText())
	}
	return nil
}

// warm connects every device of jobs once, conc at a time, waits for its
// welcome and closes it, outside the measured figures. It fails if a device
// cannot connect: the storm would then measure new devices after all.
func (w *worker) warm(ctx context.Context, jobs []dialJob, conc int) error {
	errs := make(chan error, 1)
	eachConcurrently(ctx, jobs, conc, func(j dialJob) {
		if err := w.warmOne(ctx, j); err != nil {
			select {
			case errs <- err:
			default:
			}
		}
	})
	select {
	case err := <-errs:
		return fmt.Errorf("warm-up: %w", err)
	default:
		return ctx.Err()
	}
}

// warmOne connects one device, reads its welcome and closes the connection
// with a normal closure.
func (w *worker) warmOne(ctx context.Context, j dialJob) error {
	tok, err := mintToken(w.cfg.TokenKey, w.account(j.unit), j.device)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n := w.dials.Add(1)
	c, _, err := websocket.Dial(dctx, j.url+"/v1/connect", &websocket.DialOptions{
		HTTPClient:   w.dialers[int(n)%len(w.dialers)],
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + tok}},
		Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		return err
	}
	defer func() { _ = c.CloseNow() }()
	_, b, err := c.Read(dctx)
	if err != nil {
		return err
	}
	if frameKind(b) != protocol.KindWelcome {
		return fmt.Errorf("first frame is not a welcome: %.100s", b)
	}
	return c.Close(websocket.StatusNormalClosure, "")
}

// dialAll connects jobs with conc dials at a time.
func (w *worker) dialAll(ctx context.Context, jobs []dialJob, conc int) {
	if len(jobs) == 0 {
		return
	}
	casMin(&w.firstDial, time.Now().UnixNano())
	eachConcurrently(ctx, jobs, conc, func(j dialJob) { w.connect(ctx, j) })
}

// eachConcurrently runs do for every item on conc goroutines, until the items
// or ctx end, and returns when every call has returned.
func eachConcurrently[T any](ctx context.Context, items []T, conc int, do func(T)) {
	next := make(chan T)
	var wg sync.WaitGroup
	for range min(conc, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for it := range next {
				do(it)
			}
		}()
	}
feed:
	for _, it := range items {
		select {
		case next <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
}

// connect dials one device, reads its welcome and starts its reader.
func (w *worker) connect(ctx context.Context, j dialJob) {
	account := w.account(j.unit)
	var topics []string
	if w.cfg.Mode == topicMode {
		topics = []string{w.cfg.Topic}
	}
	tok, err := mintToken(w.cfg.TokenKey, account, j.device, topics...)
	if err != nil {
		w.connectFailed("token", err)
		return
	}
	dctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	n := w.dials.Add(1)
	start := time.Now()
	c, resp, err := websocket.Dial(dctx, j.url+"/v1/connect", &websocket.DialOptions{
		HTTPClient:   w.dialers[int(n)%len(w.dialers)],
		HTTPHeader:   http.Header{"Authorization": {"Bearer " + tok}},
		Subprotocols: []string{protocol.Subprotocol},
	})
	if err != nil {
		why := "error"
		if resp != nil {
			why = strconv.Itoa(resp.StatusCode)
			if resp.StatusCode == http.StatusServiceUnavailable {
				w.n.refused.Add(1)
			}
		}
		w.connectFailed(why, err)
		return
	}
	_, b, err := c.Read(dctx)
	if err != nil || frameKind(b) != protocol.KindWelcome {
		_ = c.CloseNow()
		if err == nil {
			err = fmt.Errorf("first frame is not a welcome: %.100s", b)
		}
		w.connectFailed("welcome", err)
		return
	}
	w.connLat.record(time.Since(start))
	casMax(&w.lastConn, time.Now().UnixNano())
	w.n.connected.Add(1)
	w.mu.Lock()
	w.conns = append(w.conns, c)
	if j.sender {
		w.senders[j.unit] = c
	}
	w.readers.Add(1)
	w.mu.Unlock()
	go w.read(c)
}

func (w *worker) connectFailed(why string, err error) {
	w.n.connectErrors.Add(1)
	w.statMu.Lock()
	defer w.statMu.Unlock()
	w.connFailures[why]++
	if w.firstErr == "" {
		w.firstErr = "connect: " + err.Error()
	}
}

// noteErr keeps the first error of the run for the summary.
func (w *worker) noteErr(s string) {
	w.statMu.Lock()
	defer w.statMu.Unlock()
	if w.firstErr == "" {
		w.firstErr = s
	}
}

func (w *worker) errText() string {
	w.statMu.Lock()
	defer w.statMu.Unlock()
	if w.firstErr == "" {
		return "no error recorded"
	}
	return w.firstErr
}

// count adds n to key of m, under statMu.
func (w *worker) count(m map[string]int64, key string, n int64) {
	w.statMu.Lock()
	m[key] += n
	w.statMu.Unlock()
}

// read is a connection's reader: it answers pings (coder/websocket does while a
// Read is running) and accounts for every frame until the connection ends.
func (w *worker) read(c *websocket.Conn) {
	defer w.readers.Done()
	for {
		_, b, err := c.Read(context.Background())
		if err != nil {
			if !w.closing.Load() {
				w.n.disconnects.Add(1)
				w.noteErr("connection lost: " + err.Error())
			}
			return
		}
		w.frame(b)
	}
}

// frame accounts for one frame a device received.
func (w *worker) frame(b []byte) {
	now := w.now()
	switch frameKind(b) {
	case protocol.KindMsg:
		if w.topic != nil {
			w.topicArrived(b)
			return
		}
		seq, ok := markerSeq(b)
		if !ok {
			w.n.unknown.Add(1)
			return
		}
		w.arrived(seq, now)
	case protocol.KindReceipt:
		w.receipt(b, now)
	case protocol.KindSubs:
		w.subsAnswer(b)
	case protocol.KindError:
		w.n.errorFrames.Add(1)
		w.noteErr(fmt.Sprintf("error frame: %.200s", b))
	default:
		w.n.otherFrames.Add(1)
	}
}

// arrived accounts for message seq reaching a device.
func (w *worker) arrived(seq int, now time.Duration) {
	if seq < 0 || seq >= len(w.sendAt) {
		w.n.unknown.Add(1)
		return
	}
	at := w.sendAt[seq].Load()
	if at == 0 {
		w.n.unknown.Add(1)
		return
	}
	if int(w.got[seq].Add(1)) > w.perMessage() {
		w.n.duplicates.Add(1)
		return
	}
	w.n.delivered.Add(1)
	if w.cfg.Mode == drainMode {
		// Stored before the devices connected: timed from the first dial.
		w.lat.record(time.Duration(time.Now().UnixNano() - w.firstDial.Load()))
	} else {
		w.lat.record(now - time.Duration(at-1))
	}
	casMax(&w.lastDelivery, time.Now().UnixNano())
}

// perMessage is how many devices each message reaches.
func (w *worker) perMessage() int {
	if w.cfg.Mode == "fanout" {
		return w.cfg.Fanout - 1
	}
	return 1
}

// receipt accounts for the first receipt of a device's message.
func (w *worker) receipt(b []byte, now time.Duration) {
	f, err := protocol.Decode(b)
	r, ok := f.(*protocol.Receipt)
	if err != nil || !ok {
		w.n.unknown.Add(1)
		return
	}
	seq, ok := markerSeq([]byte(r.ID))
	if !ok || seq >= len(w.sendAt) || w.sendAt[seq].Load() == 0 {
		w.n.unknown.Add(1)
		return
	}
	if w.receipts[seq].Swap(true) {
		return // a second receipt (acks): not asked for by the bench
	}
	w.n.receiptN.Add(1)
	w.rcptLat.record(now - time.Duration(w.sendAt[seq].Load()-1))
	w.statMu.Lock()
	for _, res := range r.Results {
		w.statuses[string(res.Status)]++
	}
	w.statMu.Unlock()
}

// frameKind is a frame's kind. The encoder writes "t" first, which spares a
// decode on the hot path; anything else is decoded.
func frameKind(b []byte) protocol.Kind {
	if rest, ok := bytes.CutPrefix(b, []byte(`{"t":"`)); ok {
		for _, k := range []protocol.Kind{protocol.KindMsg, protocol.KindReceipt, protocol.KindWelcome, protocol.KindError} {
			if len(rest) > len(k) && string(rest[:len(k)]) == string(k) && rest[len(k)] == '"' {
				return k
			}
		}
	}
	f, err := protocol.Decode(b)
	if err != nil {
		return ""
	}
	return f.Kind()
}

// marker tags the bench's messages: "hb:<seq>" in a push's title, a device
// msg's id, and its receipt's id.
const marker = "hb:"

// markerSeq finds the seq that tags a message.
func markerSeq(b []byte) (int, bool) {
	i := bytes.Index(b, []byte(marker))
	if i < 0 {
		return 0, false
	}
	seq, n := 0, 0
	for _, ch := range b[i+len(marker):] {
		if ch < '0' || ch > '9' || n > 9 {
			break
		}
		seq = seq*10 + int(ch-'0')
		n++
	}
	return seq, n > 0
}

// stop closes every connection, waits for the readers and returns the result.
func (w *worker) stop() *workerResult {
	w.closing.Store(true)
	w.mu.Lock()
	conns := w.conns
	w.conns = nil
	w.mu.Unlock()
	for _, c := range conns {
		_ = c.CloseNow()
	}
	w.readers.Wait()
	for _, c := range w.dialers {
		c.CloseIdleConnections()
	}
	w.api.CloseIdleConnections()
	return w.result()
}

// casMin lowers a to v if v is smaller or a is unset.
func casMin(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if old != 0 && old <= v || a.CompareAndSwap(old, v) {
			return
		}
	}
}

// casMax raises a to v if v is larger.
func casMax(a *atomic.Int64, v int64) {
	for {
		old := a.Load()
		if old >= v || a.CompareAndSwap(old, v) {
			return
		}
	}
}
