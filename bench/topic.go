package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
	"github.com/coder/websocket"
	"github.com/heraldpush/herald/protocol"
)

// The topic mode measures a topic's fan-out. Every device (an account of its
// own, spread over --edges) connects with a token whose topics claim grants
// the run's topic; once all are connected the parent samples the servers and
// has the workers subscribe them (one sub frame each), so that the edges' RSS
// before and after gives the memory of a subscription (each sample follows
// --settle, past the edge's release of memory after a burst of connections).
// Then the first worker publishes --rate times a second for --duration
// through POST /v1/topics/{topic}/messages, one publish at a time; each
// message carries its seq and its publish time, each device timestamps its
// arrival, and the workers report, per publish, how many arrived and when the
// last did: the parent turns those into the time from a publish to its last
// delivery. With --push-rate the same number of devices, connected the same
// way and as many at a time, are then reached by one POST /v1/push each (to
// the account's device), and the two runs' server CPU per delivery and link
// frames per message are compared.

// topicMode is the fan-out to one topic's subscribers.
const topicMode = "topic"

// cmdSub tells a topic worker to subscribe its devices; it answers with the
// event "subscribed".
const cmdSub = "sub"

// topicState is a topic worker's record of the publishes, indexed by seq.
type topicState struct {
	pubAt []atomic.Int64 // the first worker's: when the publish started, unix ns
	last  []atomic.Int64 // when its last delivery here arrived, unix ns
	got   []atomic.Int64 // its deliveries here
}

func newTopicState(n int) *topicState {
	return &topicState{pubAt: make([]atomic.Int64, n), last: make([]atomic.Int64, n), got: make([]atomic.Int64, n)}
}

// subscribeAll sends a sub frame of the run's topic on every connection of the
// worker and waits (up to a minute) until each is answered.
func (w *worker) subscribeAll(ctx context.Context) error {
	w.mu.Lock()
	conns := slices.Clone(w.conns)
	w.mu.Unlock()
	frame := []byte(`{"t":"sub","id":"s","topics":["` + w.cfg.Topic + `"]}`)
	eachConcurrently(ctx, conns, w.spec.Concurrency, func(c *websocket.Conn) {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := c.Write(wctx, websocket.MessageText, frame); err != nil {
			w.n.subFailed.Add(1)
			w.noteErr("sub: " + err.Error())
		}
	})
	deadline := time.Now().Add(time.Minute)
	for w.n.subscribed.Load()+w.n.subFailed.Load() < int64(len(conns)) && time.Now().Before(deadline) && sleepCtx(ctx, 5*time.Millisecond) {
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if w.n.subscribed.Load() == 0 {
		return fmt.Errorf("topic: none of %d devices subscribed to %s: %s", len(conns), w.cfg.Topic, w.errText())
	}
	return nil
}

// subsAnswer accounts for the answer to a device's sub frame.
func (w *worker) subsAnswer(b []byte) {
	f, err := protocol.Decode(b)
	s, ok := f.(*protocol.Subs)
	if err != nil || !ok || len(s.Results) != 1 || s.Results[0].Status != protocol.TopicSubscribed {
		w.n.subFailed.Add(1)
		w.noteErr(fmt.Sprintf("sub answered %.200s", b))
		return
	}
	w.n.subscribed.Add(1)
}

// topicRun publishes (the first worker) and waits for the deliveries: until
// every publish reached every subscribed device here, or --drain after the
// last publish (the other workers: --duration and --drain after the start).
func (w *worker) topicRun(ctx context.Context) {
	deadline := time.Now().Add(w.cfg.Duration + w.cfg.Drain)
	if w.spec.Index == 0 {
		w.publishAll(ctx)
		deadline = time.Now().Add(w.cfg.Drain)
	}
	for time.Now().Before(deadline) && w.outstanding() > 0 && sleepCtx(ctx, 5*time.Millisecond) {
	}
}

// publishAll publishes the run's messages one at a time, each when it is due
// at --rate: a notification whose title is the marker and seq and whose body
// is the publish time in unix ns, which every device reads its latency from.
func (w *worker) publishAll(ctx context.Context) {
	rp, err := newRawPoster(w.cfg.URL, w.cfg.Key, time.Minute)
	if err == nil {
		defer rp.close()
	}
	path := "/v1/topics/" + w.cfg.Topic + "/messages"
	start := time.Now()
	per := float64(time.Second) / w.cfg.Rate
	var buf []byte
	for seq := range w.topic.pubAt {
		if d := time.Until(start.Add(time.Duration(float64(seq) * per))); d > 0 && !sleepCtx(ctx, d) {
			return
		}
		at := time.Now().UnixNano()
		w.n.sent.Add(1)
		casMin(&w.firstSend, at)
		casMax(&w.lastSend, at)
		w.topic.pubAt[seq].Store(at)
		buf = append(buf[:0], `{"type":"notification.v1","timeout_ms":`+publishTimeoutMS+`,"payload":{"title":"`+marker...)
		buf = strconv.AppendInt(buf, int64(seq), 10)
		buf = append(buf, `","body":"`...)
		buf = strconv.AppendInt(buf, at, 10)
		buf = append(buf, `"}}`...)
		b, ok := w.post(ctx, rp, path, buf, "", http.StatusOK, 1)
		if !ok {
			continue
		}
		var r protocol.PublishResult
		if err := json.Unmarshal(b, &r); err != nil {
			w.badAnswer(path, b, 1)
			continue
		}
		w.n.published.Add(1)
		w.n.pubDevices.Add(int64(r.Devices))
		w.n.pubDropped.Add(int64(r.Dropped))
		if len(r.Failed) > 0 {
			w.count(w.statuses, "failed_edges", int64(len(r.Failed)))
			w.noteErr(fmt.Sprintf("publish %d: edges failed: %+v", seq, r.Failed))
		}
	}
}

// publishTimeoutMS is the wait of each publish for the edges' answers: longer
// than the server's default (--push-timeout, 2 s), which a fan-out to tens of
// thousands of devices on a loaded machine may take, so that an edge's answer
// is counted rather than reported failed while its devices get the message.
const publishTimeoutMS = "10000"

// topicArrived accounts for a published message reaching a device.
func (w *worker) topicArrived(b []byte) {
	now := time.Now().UnixNano()
	seq, ok := markerSeq(b)
	if !ok || seq < 0 || seq >= len(w.topic.got) {
		w.n.unknown.Add(1)
		return
	}
	w.topic.got[seq].Add(1)
	w.n.delivered.Add(1)
	if at, ok := bodyNanos(b); ok && now > at {
		w.lat.record(time.Duration(now - at))
	}
	casMax(&w.topic.last[seq], now)
	casMax(&w.lastDelivery, now)
}

// bodyNanos reads the publish time that a topic message's body carries.
func bodyNanos(b []byte) (int64, bool) {
	const key = `"body":"`
	i := bytes.Index(b, []byte(key))
	if i < 0 {
		return 0, false
	}
	rest := b[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return 0, false
	}
	v, err := strconv.ParseInt(string(rest[:j]), 10, 64)
	return v, err == nil
}

// topicResult adds the worker's record of the publishes to its result.
func (w *worker) topicResult(r *workerResult) {
	t := w.topic
	r.Subscribed, r.SubscribeFailed = w.n.subscribed.Load(), w.n.subFailed.Load()
	r.Published, r.PublishedDevices, r.PublishedDropped = w.n.published.Load(), w.n.pubDevices.Load(), w.n.pubDropped.Load()
	r.PublishAt, r.PublishLast, r.PublishGot = make([]int64, len(t.got)), make([]int64, len(t.got)), make([]int64, len(t.got))
	for i := range t.got {
		r.PublishAt[i], r.PublishLast[i], r.PublishGot[i] = t.pubAt[i].Load(), t.last[i].Load(), t.got[i].Load()
	}
}

// mergeTopic adds a worker's per-publish record to the merged one.
func mergeTopic(t, r *workerResult) {
	t.Subscribed += r.Subscribed
	t.SubscribeFailed += r.SubscribeFailed
	t.Published += r.Published
	t.PublishedDevices += r.PublishedDevices
	t.PublishedDropped += r.PublishedDropped
	if len(t.PublishGot) < len(r.PublishGot) {
		t.PublishAt = append(t.PublishAt, make([]int64, len(r.PublishGot)-len(t.PublishAt))...)
		t.PublishLast = append(t.PublishLast, make([]int64, len(r.PublishGot)-len(t.PublishLast))...)
		t.PublishGot = append(t.PublishGot, make([]int64, len(r.PublishGot)-len(t.PublishGot))...)
	}
	for i := range r.PublishGot {
		t.PublishAt[i] = max(t.PublishAt[i], r.PublishAt[i])
		t.PublishLast[i] = max(t.PublishLast[i], r.PublishLast[i])
		t.PublishGot[i] += r.PublishGot[i]
	}
}

// summarizeTopic sets a topic run's figures: the deliveries expected (each
// answered publish to each subscribed device), the time from each publish to
// its last delivery, and the deliveries per second of a publish (its
// deliveries over that time; the median over the publishes).
func summarizeTopic(s *targetSummary, r *workerResult) {
	s.Subscribed, s.SubscribeFailed = r.Subscribed, r.SubscribeFailed
	s.Published, s.PublishedDevices, s.PublishedDropped = r.Published, r.PublishedDevices, r.PublishedDropped
	s.Expected = r.Published * r.Subscribed
	s.DeliveredRatio = 0
	if s.Expected > 0 {
		s.DeliveredRatio = float64(s.Delivered) / float64(s.Expected)
	}
	h := hdrhistogram.New(1, histMaxMicros, 3)
	var rates []float64
	for i := range r.PublishGot {
		at, last, got := r.PublishAt[i], r.PublishLast[i], r.PublishGot[i]
		if at == 0 || last <= at || got == 0 {
			continue
		}
		d := time.Duration(last - at)
		_ = h.RecordValue(min(max(d.Microseconds(), 1), histMaxMicros))
		rates = append(rates, float64(got)/d.Seconds())
	}
	s.PublishToLast = summarizeHist(h)
	s.DeliveredPerSec = 0
	if len(rates) > 0 {
		slices.Sort(rates)
		s.DeliveredPerSec = rates[len(rates)/2]
	}
	if s.SubscribeFailed > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d devices could not subscribe", s.SubscribeFailed))
	}
}

// pushComparison is the workload that reaches the devices of a topic run by
// account pushes instead: the same devices, connected to the same edges, one
// POST /v1/push each at --push-rate.
func (c workload) pushComparison() workload {
	p := c
	p.Mode = "push"
	p.Rate = c.PushRate
	p.Duration = time.Duration(float64(c.Devices) / c.PushRate * float64(time.Second))
	p.Concurrency = c.Concurrency
	p.Run = newRunID()
	return p
}

// scrapeLinkFrames reads herald_edge_link_frames_total from the /metrics of
// each admin URL and adds them up by kind; no URLs: nil.
func scrapeLinkFrames(ctx context.Context, adminURLs []string) (map[string]float64, error) {
	if len(adminURLs) == 0 {
		return nil, nil
	}
	out := map[string]float64{}
	client := &http.Client{Timeout: 10 * time.Second}
	for _, u := range adminURLs {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"/metrics", nil)
		if err != nil {
			return nil, err
		}
		resp, err := client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("link frames: %w", err)
		}
		b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("link frames: GET %s/metrics: %s %v", u, resp.Status, err)
		}
		const prefix = `herald_edge_link_frames_total{kind="`
		for _, l := range strings.Split(string(b), "\n") {
			rest, ok := strings.CutPrefix(l, prefix)
			if !ok {
				continue
			}
			kind, v, ok := strings.Cut(rest, `"} `)
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); ok && err == nil {
				out[kind] += f
			}
		}
	}
	return out, nil
}

// linkFrames sets the link frames of the run, the difference of two scrapes,
// and those of the mode's kind per message: per publish (topic) or per push.
func (s *targetSummary) linkFrames(mode string, before, after map[string]float64) {
	s.LinkFrames = map[string]float64{}
	for k, v := range after {
		s.LinkFrames[k] = v - before[k]
	}
	switch {
	case mode == topicMode && s.Published > 0:
		s.LinkFramesPerMessage = s.LinkFrames["publish"] / float64(s.Published)
	case mode == "push" && s.Sent > 0:
		s.LinkFramesPerMessage = s.LinkFrames["msg"] / float64(s.Sent)
	}
}
