package bench

import (
	"fmt"
	"maps"
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// latencyHist is an HDR histogram of latencies in microseconds, from 1 µs to
// 10 minutes with three significant digits, safe for concurrent use.
type latencyHist struct {
	mu sync.Mutex
	h  *hdrhistogram.Histogram // guarded by mu
}

const histMaxMicros = int64(10 * time.Minute / time.Microsecond)

func newLatencyHist() *latencyHist {
	return &latencyHist{h: hdrhistogram.New(1, histMaxMicros, 3)}
}

func (l *latencyHist) record(d time.Duration) {
	us := min(max(d.Microseconds(), 1), histMaxMicros)
	l.mu.Lock()
	_ = l.h.RecordValue(us)
	l.mu.Unlock()
}

// encode returns the histogram in HdrHistogram's compressed V2 encoding (base64),
// "" when it is empty.
func (l *latencyHist) encode() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return encodeHist(l.h)
}

// mergeHist adds the encoded histogram b ("": empty) to h, creating h if needed.
func mergeHist(h *hdrhistogram.Histogram, b string) (*hdrhistogram.Histogram, error) {
	if b == "" {
		return h, nil
	}
	d, err := hdrhistogram.Decode([]byte(b))
	if err != nil {
		return h, fmt.Errorf("bench: decoding a worker's histogram: %w", err)
	}
	if h == nil {
		return d, nil
	}
	h.Merge(d)
	return h, nil
}

// workerResult is what one worker reports: counts, the times that bound its
// phases (unix ns, comparable across the processes of one machine) and its
// histograms.
type workerResult struct {
	Connected       int64            `json:"connected"`
	ConnectErrors   int64            `json:"connect_errors"`
	Refused         int64            `json:"refused_503"`
	ConnectFailures map[string]int64 `json:"connect_failures,omitempty"`
	FirstDial       int64            `json:"first_dial"`
	LastConnected   int64            `json:"last_connected"`

	Sent         int64            `json:"sent"`
	SendErrors   int64            `json:"send_errors"`
	Accepted     int64            `json:"accepted"`
	Stored       int64            `json:"stored,omitempty"`
	Delivered    int64            `json:"delivered"`
	Expected     int64            `json:"expected"`
	Duplicates   int64            `json:"duplicates"`
	Unknown      int64            `json:"unknown"`
	Receipts     int64            `json:"receipts"`
	ErrorFrames  int64            `json:"error_frames"`
	OtherFrames  int64            `json:"other_frames"`
	Disconnects  int64            `json:"disconnects"`
	Statuses     map[string]int64 `json:"statuses,omitempty"`
	HTTPStatuses map[string]int64 `json:"http_statuses,omitempty"`
	FirstSend    int64            `json:"first_send"`
	LastSend     int64            `json:"last_send"`
	LastDelivery int64            `json:"last_delivery"`

	Latency         string `json:"latency,omitempty"`
	ReceiptLatency  string `json:"receipt_latency,omitempty"`
	ResponseLatency string `json:"response_latency,omitempty"`
	ConnectLatency  string `json:"connect_latency,omitempty"`

	// Topic: devices subscribed, publishes answered (the first worker's) and
	// their counts, and per publish (by seq) when it started (the first
	// worker's), when its last delivery arrived and how many did.
	Subscribed       int64   `json:"subscribed,omitempty"`
	SubscribeFailed  int64   `json:"subscribe_failed,omitempty"`
	Published        int64   `json:"published,omitempty"`
	PublishedDevices int64   `json:"published_devices,omitempty"`
	PublishedDropped int64   `json:"published_dropped,omitempty"`
	PublishAt        []int64 `json:"publish_at,omitempty"`
	PublishLast      []int64 `json:"publish_last,omitempty"`
	PublishGot       []int64 `json:"publish_got,omitempty"`

	CPUSeconds float64 `json:"cpu_seconds"`
	RunSeconds float64 `json:"run_seconds"`
	FirstError string  `json:"first_error,omitempty"`
}

// result collects the worker's figures; call it after stop.
func (w *worker) result() *workerResult {
	n := &w.n
	sent := n.sent.Load()
	expected := sent * int64(w.perMessage())
	if w.cfg.Mode == drainMode {
		expected = n.stored.Load()
	}
	r := &workerResult{
		Connected: n.connected.Load(), ConnectErrors: n.connectErrors.Load(), Refused: n.refused.Load(),
		FirstDial: w.firstDial.Load(), LastConnected: w.lastConn.Load(),
		Sent: sent, SendErrors: n.sendErrors.Load(), Accepted: n.accepted.Load(), Stored: n.stored.Load(),
		Delivered: n.delivered.Load(), Expected: expected,
		Duplicates: n.duplicates.Load(), Unknown: n.unknown.Load(), Receipts: n.receiptN.Load(),
		ErrorFrames: n.errorFrames.Load(), OtherFrames: n.otherFrames.Load(), Disconnects: n.disconnects.Load(),
		FirstSend: w.firstSend.Load(), LastSend: w.lastSend.Load(), LastDelivery: w.lastDelivery.Load(),
		Latency: w.lat.encode(), ReceiptLatency: w.rcptLat.encode(), ResponseLatency: w.respLat.encode(), ConnectLatency: w.connLat.encode(),
		CPUSeconds: w.cpu.Seconds(), RunSeconds: w.runTime.Seconds(),
	}
	if w.topic != nil {
		w.topicResult(r)
	}
	w.statMu.Lock()
	defer w.statMu.Unlock()
	r.ConnectFailures = maps.Clone(w.connFailures)
	r.Statuses = maps.Clone(w.statuses)
	r.HTTPStatuses = maps.Clone(w.httpStatuses)
	r.FirstError = w.firstErr
	return r
}

// mergedResult is the workers' results added up, histograms decoded.
type mergedResult struct {
	workerResult
	latency, receipt, response, connect *hdrhistogram.Histogram
	clientCPU                           float64 // seconds, all workers
	runSeconds                          float64 // the longest worker's run
}

// mergeResults adds the workers' results up.
func mergeResults(rs []*workerResult) (*mergedResult, error) {
	m := &mergedResult{}
	m.ConnectFailures, m.Statuses, m.HTTPStatuses = map[string]int64{}, map[string]int64{}, map[string]int64{}
	var err error
	for _, r := range rs {
		t := &m.workerResult
		t.Connected += r.Connected
		t.ConnectErrors += r.ConnectErrors
		t.Refused += r.Refused
		t.Sent += r.Sent
		t.SendErrors += r.SendErrors
		t.Accepted += r.Accepted
		t.Stored += r.Stored
		t.Delivered += r.Delivered
		t.Expected += r.Expected
		t.Duplicates += r.Duplicates
		t.Unknown += r.Unknown
		t.Receipts += r.Receipts
		t.ErrorFrames += r.ErrorFrames
		t.OtherFrames += r.OtherFrames
		t.Disconnects += r.Disconnects
		addCounts(t.ConnectFailures, r.ConnectFailures)
		addCounts(t.Statuses, r.Statuses)
		addCounts(t.HTTPStatuses, r.HTTPStatuses)
		t.FirstDial = minSet(t.FirstDial, r.FirstDial)
		t.FirstSend = minSet(t.FirstSend, r.FirstSend)
		t.LastConnected = max(t.LastConnected, r.LastConnected)
		t.LastSend = max(t.LastSend, r.LastSend)
		t.LastDelivery = max(t.LastDelivery, r.LastDelivery)
		if t.FirstError == "" {
			t.FirstError = r.FirstError
		}
		mergeTopic(t, r)
		m.clientCPU += r.CPUSeconds
		m.runSeconds = max(m.runSeconds, r.RunSeconds)
		for _, h := range []struct {
			dst **hdrhistogram.Histogram
			b   string
		}{{&m.latency, r.Latency}, {&m.receipt, r.ReceiptLatency}, {&m.response, r.ResponseLatency}, {&m.connect, r.ConnectLatency}} {
			if *h.dst, err = mergeHist(*h.dst, h.b); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}

func addCounts(dst, src map[string]int64) {
	for k, v := range src {
		dst[k] += v
	}
}

// minSet is the smaller of a and b, where 0 means unset.
func minSet(a, b int64) int64 {
	switch {
	case a == 0:
		return b
	case b == 0:
		return a
	}
	return min(a, b)
}

// latencySummary is a histogram's percentiles, in milliseconds.
type latencySummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	P999  float64 `json:"p99_9"`
	Max   float64 `json:"max"`
	// Hist (the delivery latency only) is the whole histogram, in µs, in
	// HdrHistogram's compressed V2 encoding: what `herald bench pool`
	// merges to pool several runs.
	Hist string `json:"hist,omitempty"`
}

// encodeHist returns h in HdrHistogram's compressed V2 encoding (base64), ""
// when it is empty.
func encodeHist(h *hdrhistogram.Histogram) string {
	if h == nil || h.TotalCount() == 0 {
		return ""
	}
	b, err := h.Encode(hdrhistogram.V2CompressedEncodingCookieBase)
	if err != nil {
		return ""
	}
	return string(b)
}

func summarizeHist(h *hdrhistogram.Histogram) *latencySummary {
	if h == nil || h.TotalCount() == 0 {
		return nil
	}
	ms := func(us int64) float64 { return float64(us) / 1000 }
	return &latencySummary{
		Count: h.TotalCount(),
		P50:   ms(h.ValueAtQuantile(50)),
		P90:   ms(h.ValueAtQuantile(90)),
		P99:   ms(h.ValueAtQuantile(99)),
		P999:  ms(h.ValueAtQuantile(99.9)),
		Max:   ms(h.Max()),
	}
}
