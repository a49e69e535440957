package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// run runs the worker's workload: idle holds, connect dials every device as
// fast as the concurrency allows, the message modes send at the worker's rate
// and then wait up to --drain for what is still on its way.
func (w *worker) run(ctx context.Context) {
	cpu0, cpuErr := selfCPU()
	start := time.Now()
	switch w.cfg.Mode {
	case "idle":
		sleepCtx(ctx, w.cfg.Duration)
	case "connect":
		receivers, _ := w.jobs()
		w.dialAll(ctx, receivers, w.spec.Concurrency)
	case drainMode:
		w.drainRun(ctx)
	case topicMode:
		w.topicRun(ctx)
	default:
		w.load(ctx)
	}
	w.runTime = time.Since(start)
	if cpu1, err := selfCPU(); err == nil && cpuErr == nil {
		w.cpu = cpu1 - cpu0
	}
}

// load sends the worker's messages through a pool of spec.Concurrency senders.
func (w *worker) load(ctx context.Context) {
	step := 1
	if w.cfg.Mode == "push" || w.cfg.Mode == "async" {
		step = w.cfg.Batch
	}
	jobs := make(chan [2]int, w.spec.Concurrency)
	var wg sync.WaitGroup
	for range w.spec.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// REST calls go over a connection of this sender's own; https
			// falls back to net/http.
			rp, err := newRawPoster(w.cfg.URL, w.cfg.Key, time.Minute)
			if err == nil {
				defer rp.close()
			}
			var buf []byte
			for j := range jobs {
				buf = w.send(ctx, rp, buf[:0], j[0], j[1])
			}
		}()
	}
	w.pace(ctx, len(w.sendAt), step, jobs)
	close(jobs)
	wg.Wait()
	w.drain(ctx)
}

// pace hands out the messages [0, total), step at a time, each when it is due
// at the worker's rate (open loop). A saturated pool holds the loop back; the
// achieved rate in the summary shows it.
func (w *worker) pace(ctx context.Context, total, step int, jobs chan<- [2]int) {
	start := time.Now()
	perMsg := float64(time.Second) / w.spec.Rate
	for seq := 0; seq < total; seq += step {
		due := start.Add(time.Duration(float64(seq) * perMsg))
		if d := time.Until(due); d > time.Millisecond && !sleepCtx(ctx, d) {
			return
		}
		select {
		case jobs <- [2]int{seq, min(step, total-seq)}:
		case <-ctx.Done():
			return
		}
	}
}

// send sends the n messages from first, in buf's memory, and returns buf. REST
// calls go through rp when it is not nil.
func (w *worker) send(ctx context.Context, rp *rawPoster, buf []byte, first, n int) []byte {
	w.n.sent.Add(int64(n))
	now := time.Now().UnixNano()
	casMin(&w.firstSend, now)
	casMax(&w.lastSend, now)
	switch w.cfg.Mode {
	case "push":
		return w.push(ctx, rp, buf, first, n)
	case "async":
		if w.cfg.Batch > 1 {
			return w.enqueueBatch(ctx, rp, buf, first, n)
		}
		return w.enqueue(ctx, rp, buf, first)
	default:
		return w.devSend(ctx, buf, first)
	}
}

// markSent records when message seq's send started.
func (w *worker) markSent(seq int) { w.sendAt[seq].Store(int64(w.now()) + 1) }

// pushBody appends the body of a push (or async send) of message seq, to the
// device of local unit seq mod count, with its idempotency_key (appendKey)
// when keyed. Account ids and keys are hex and digits: nothing to escape.
func (w *worker) pushBody(buf []byte, seq int, keyed bool) []byte {
	buf = append(buf, `{"to":{"account":"`...)
	buf = append(buf, w.account(seq%w.spec.Count)...)
	buf = append(buf, `","device":"d"},"type":"notification.v1","payload":{"title":"`+marker...)
	buf = strconv.AppendInt(buf, int64(seq), 10)
	buf = append(buf, `"}`...)
	if keyed {
		buf = append(w.appendKey(append(buf, `,"idempotency_key":"`...), seq), '"')
	}
	return append(buf, '}')
}

// appendKey appends the idempotency key of message seq (Config.Keys): the
// run's id, the worker's index and seq, unique to the run and plain text.
func (w *worker) appendKey(buf []byte, seq int) []byte {
	buf = append(buf, w.cfg.Run...)
	buf = append(buf, '-')
	buf = strconv.AppendInt(buf, int64(w.spec.Index), 10)
	buf = append(buf, '-')
	return strconv.AppendInt(buf, int64(seq), 10)
}

// push makes one POST /v1/push, or POST /v1/push/batch of n messages.
func (w *worker) push(ctx context.Context, rp *rawPoster, buf []byte, first, n int) []byte {
	path := "/v1/push"
	if w.cfg.Batch > 1 {
		path = "/v1/push/batch"
		buf = append(buf, `{"messages":[`...)
	}
	for seq := first; seq < first+n; seq++ {
		if seq > first {
			buf = append(buf, ',')
		}
		buf = w.pushBody(buf, seq, false)
	}
	if w.cfg.Batch > 1 {
		buf = append(buf, "]}"...)
	}
	for seq := first; seq < first+n; seq++ {
		w.markSent(seq)
	}
	b, ok := w.post(ctx, rp, path, buf, "", http.StatusOK, n)
	if !ok {
		return buf
	}
	var results []protocol.Result
	if w.cfg.Batch > 1 {
		var r struct {
			Results []struct {
				Results []protocol.Result `json:"results"`
			} `json:"results"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			w.badAnswer(path, b, n)
			return buf
		}
		for _, m := range r.Results {
			if len(m.Results) == 0 {
				results = append(results, protocol.Result{Status: "problem"})
			}
			results = append(results, m.Results...)
		}
	} else {
		var r struct {
			Results []protocol.Result `json:"results"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			w.badAnswer(path, b, n)
			return buf
		}
		results = r.Results
	}
	delivered := int64(0)
	w.statMu.Lock()
	for _, r := range results {
		w.statuses[string(r.Status)]++
		if r.Status == protocol.StatusDelivered {
			delivered++
		}
	}
	w.statMu.Unlock()
	w.n.pushDelivered.Add(delivered)
	return buf
}

// enqueue makes one POST /v1/messages.
func (w *worker) enqueue(ctx context.Context, rp *rawPoster, buf []byte, seq int) []byte {
	buf = w.pushBody(buf, seq, false)
	key := ""
	if w.cfg.Keys {
		key = string(w.appendKey(nil, seq))
	}
	w.markSent(seq)
	if _, ok := w.post(ctx, rp, "/v1/messages", buf, key, http.StatusAccepted, 1); ok {
		w.n.accepted.Add(1)
	}
	return buf
}

// enqueueBatch makes one POST /v1/messages/batch of n messages.
func (w *worker) enqueueBatch(ctx context.Context, rp *rawPoster, buf []byte, first, n int) []byte {
	const path = "/v1/messages/batch"
	buf = append(buf, `{"messages":[`...)
	for seq := first; seq < first+n; seq++ {
		if seq > first {
			buf = append(buf, ',')
		}
		buf = w.pushBody(buf, seq, w.cfg.Keys)
	}
	buf = append(buf, "]}"...)
	for seq := first; seq < first+n; seq++ {
		w.markSent(seq)
	}
	b, ok := w.post(ctx, rp, path, buf, "", http.StatusOK, n)
	if !ok {
		return buf
	}
	var r struct {
		Results []struct {
			ID    string          `json:"id"`
			Error json.RawMessage `json:"error"`
		} `json:"results"`
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Results) != n {
		w.badAnswer(path, b, n)
		return buf
	}
	accepted := 0
	for _, m := range r.Results {
		if m.ID != "" {
			accepted++
		} else {
			w.sendFailed(1, fmt.Sprintf("POST %s: a message refused: %.200s", path, m.Error))
		}
	}
	w.n.accepted.Add(int64(accepted))
	return buf
}

// post makes one REST call of n messages, through rp or else net/http, and
// returns the answer's body if its status is want; anything else is counted
// as n send errors.
func (w *worker) post(ctx context.Context, rp *rawPoster, path string, body []byte, idemKey string, want, n int) ([]byte, bool) {
	if rp != nil {
		start := time.Now()
		status, b, err := rp.post(ctx, path, body, idemKey)
		if err != nil {
			w.sendFailed(n, fmt.Sprintf("POST %s: %v", path, err))
			return nil, false
		}
		w.respLat.record(time.Since(start))
		if status != want {
			w.count(w.httpStatuses, strconv.Itoa(status), 1)
			w.sendFailed(n, fmt.Sprintf("POST %s: %d: %.200s", path, status, b))
			return nil, false
		}
		return b, true
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.cfg.URL+path, bytes.NewReader(body))
	if err != nil {
		w.sendFailed(n, err.Error())
		return nil, false
	}
	req.Header.Set("Authorization", "Bearer "+w.cfg.Key)
	req.Header.Set("Content-Type", "application/json")
	if idemKey != "" {
		req.Header.Set("Idempotency-Key", idemKey)
	}
	start := time.Now()
	resp, err := w.api.Do(req)
	if err != nil {
		w.sendFailed(n, fmt.Sprintf("POST %s: %v", path, err))
		return nil, false
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	resp.Body.Close()
	w.respLat.record(time.Since(start))
	if err != nil {
		w.sendFailed(n, fmt.Sprintf("POST %s: reading the answer: %v", path, err))
		return nil, false
	}
	if resp.StatusCode != want {
		w.count(w.httpStatuses, strconv.Itoa(resp.StatusCode), 1)
		w.sendFailed(n, fmt.Sprintf("POST %s: %s: %.200s", path, resp.Status, b))
		return nil, false
	}
	return b, true
}

func (w *worker) sendFailed(n int, why string) {
	w.n.sendErrors.Add(int64(n))
	w.noteErr(why)
}

func (w *worker) badAnswer(path string, b []byte, n int) {
	w.sendFailed(n, fmt.Sprintf("POST %s: unexpected answer %.200s", path, b))
}

// devSend writes one device msg from the sender of local unit seq mod count: to
// its pair's receiver (d2d) or to its siblings (fanout), without ack.
func (w *worker) devSend(ctx context.Context, buf []byte, seq int) []byte {
	c := w.senders[seq%w.spec.Count]
	if c == nil {
		w.sendFailed(1, "the sending device is not connected")
		return buf
	}
	buf = append(buf, `{"t":"msg","id":"`+marker...)
	buf = strconv.AppendInt(buf, int64(seq), 10)
	if w.cfg.Mode == "d2d" {
		buf = append(buf, `","type":"playback.control.v1","to":{"device":"r"},"payload":{"action":"play"}}`...)
	} else {
		buf = append(buf, `","type":"playback.control.v1","to":{"siblings":true},"payload":{"action":"play"}}`...)
	}
	w.markSent(seq)
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := c.Write(wctx, websocket.MessageText, buf); err != nil {
		w.sendFailed(1, "device write: "+err.Error())
	}
	return buf
}

// drain waits, up to --drain, until what was sent has arrived.
func (w *worker) drain(ctx context.Context) {
	deadline := time.Now().Add(w.cfg.Drain)
	for time.Now().Before(deadline) && w.outstanding() > 0 && sleepCtx(ctx, 5*time.Millisecond) {
	}
}

// outstanding is how many deliveries and receipts are still awaited: for a
// message the server reported delivered (push), accepted (async) or queued
// (drain), or that was written (d2d, fanout).
func (w *worker) outstanding() int64 {
	ok := w.n.sent.Load() - w.n.sendErrors.Load()
	switch w.cfg.Mode {
	case "push":
		return w.n.pushDelivered.Load() - w.n.delivered.Load()
	case "async":
		return w.n.accepted.Load() - w.n.delivered.Load()
	case drainMode:
		return w.n.stored.Load() - w.n.delivered.Load()
	case topicMode:
		return int64(len(w.topic.got))*w.n.subscribed.Load() - w.n.delivered.Load()
	}
	return ok*int64(w.perMessage()) - w.n.delivered.Load() + ok - w.n.receiptN.Load()
}

// sleepCtx sleeps for d or until ctx ends, and reports whether it slept the
// whole d.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
