package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// summary is the outcome of one bench run: the server's figures, the
// ceiling's, and their ratios (server / ceiling, figure by figure). It is the
// one-line JSON of --json.
type summary struct {
	Mode        string         `json:"mode"`
	Started     time.Time      `json:"started"`
	Host        string         `json:"host"`
	CPUs        int            `json:"cpus"`
	LoadAvg     string         `json:"load_avg"` // /proc/loadavg's 1, 5 and 15 minute figures at the start
	Devices     int            `json:"devices"`
	Rate        float64        `json:"rate,omitempty"`
	Duration    string         `json:"duration,omitempty"`
	Procs       int            `json:"procs"`
	Concurrency int            `json:"concurrency"`
	Batch       int            `json:"batch,omitempty"`
	Keys        bool           `json:"keys,omitempty"` // async: each message with an idempotency key
	Fanout      int            `json:"fanout,omitempty"`
	Stored      int            `json:"stored,omitempty"`
	Topic       string         `json:"topic,omitempty"`
	Edges       int            `json:"edges,omitempty"` // topic: the edges the devices are spread over
	Herald      *targetSummary `json:"herald"`
	Ceiling     *targetSummary `json:"ceiling,omitempty"`
	// Push (topic with --push-rate) is the same devices reached by account
	// pushes; Ratios are then topic / push.
	Push   *targetSummary     `json:"push,omitempty"`
	Ratios map[string]float64 `json:"ratios,omitempty"`
	Notes  []string           `json:"notes,omitempty"`
}

// targetSummary is the figures of one server.
type targetSummary struct {
	URL             string           `json:"url"`
	URL2            string           `json:"url2,omitempty"`
	Connected       int64            `json:"connected"`
	ConnectErrors   int64            `json:"connect_errors"`
	Refused503      int64            `json:"refused_503"`
	ConnectFailures map[string]int64 `json:"connect_failures,omitempty"`
	ConnectsPerSec  float64          `json:"connects_per_sec"`
	Disconnects     int64            `json:"disconnects"`

	Sent            int64            `json:"sent"`
	SendErrors      int64            `json:"send_errors"`
	Accepted        int64            `json:"accepted,omitempty"`
	Stored          int64            `json:"stored,omitempty"`
	Expected        int64            `json:"expected"`
	Delivered       int64            `json:"delivered"`
	DeliveredRatio  float64          `json:"delivered_ratio"`
	Duplicates      int64            `json:"duplicates,omitempty"`
	Unknown         int64            `json:"unknown,omitempty"`
	Receipts        int64            `json:"receipts,omitempty"`
	ErrorFrames     int64            `json:"error_frames,omitempty"`
	Statuses        map[string]int64 `json:"statuses,omitempty"`
	HTTPStatuses    map[string]int64 `json:"http_statuses,omitempty"`
	SentPerSec      float64          `json:"sent_per_sec"`
	DeliveredPerSec float64          `json:"delivered_per_sec"`
	// DrainPerSec (drain) is the stored messages read per second, from the
	// first dial to the last message read (TimeToLastMS).
	DrainPerSec  float64 `json:"drain_per_sec,omitempty"`
	TimeToLastMS float64 `json:"time_to_last_ms,omitempty"`

	// Topic: devices subscribed (and not), publishes answered, the devices
	// and drops their answers counted, and the time from each publish to its
	// last delivery; DeliveredPerSec is then the median over the publishes of
	// its deliveries over that time.
	Subscribed       int64           `json:"subscribed,omitempty"`
	SubscribeFailed  int64           `json:"subscribe_failed,omitempty"`
	Published        int64           `json:"published,omitempty"`
	PublishedDevices int64           `json:"published_devices,omitempty"`
	PublishedDropped int64           `json:"published_dropped,omitempty"`
	PublishToLast    *latencySummary `json:"publish_to_last_ms,omitempty"`
	// LinkFrames (with --admin-urls) are the frames the edges read from
	// their incoming links during the run, by kind;
	// LinkFramesPerMessage is those of the mode's kind (publish for topic,
	// msg for push) per publish or push.
	LinkFrames           map[string]float64 `json:"link_frames,omitempty"`
	LinkFramesPerMessage float64            `json:"link_frames_per_message,omitempty"`

	Latency         *latencySummary `json:"latency_ms,omitempty"`
	ReceiptLatency  *latencySummary `json:"receipt_latency_ms,omitempty"`
	ResponseLatency *latencySummary `json:"response_latency_ms,omitempty"`
	ConnectLatency  *latencySummary `json:"connect_latency_ms,omitempty"`

	Server           *serverSummary `json:"server,omitempty"`
	ClientCPUPercent float64        `json:"client_cpu_percent"`
	RunSeconds       float64        `json:"run_seconds"`
	FirstError       string         `json:"first_error,omitempty"`
	Notes            []string       `json:"notes,omitempty"`
}

// serverSummary is what /proc said about the server.
type serverSummary struct {
	PIDs        []int `json:"pids"`
	RSSBaseKiB  int64 `json:"rss_base_kib"`  // before the bench connected
	RSSStartKiB int64 `json:"rss_start_kib"` // connected and settled, before the run
	RSSEndKiB   int64 `json:"rss_end_kib"`   // after the run, connections still open
	// RSSPerConnKiB is (end - base) / connected.
	RSSPerConnKiB float64 `json:"rss_per_conn_kib"`
	// CPUPercent is of one core, over the run.
	CPUPercent float64 `json:"cpu_percent"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// DeliveredPerCPUSecond is deliveries per second of server CPU: messages per
	// second per core; CPUPerDeliveryUS its inverse in µs.
	DeliveredPerCPUSecond float64 `json:"delivered_per_cpu_second,omitempty"`
	CPUPerDeliveryUS      float64 `json:"cpu_per_delivery_us,omitempty"`
	// RSSSubscribedKiB (topic) is after the devices subscribed, RSSStartKiB
	// then before (connected); RSSPerSubKiB the difference per subscription.
	RSSSubscribedKiB int64   `json:"rss_subscribed_kib,omitempty"`
	RSSPerSubKiB     float64 `json:"rss_per_sub_kib,omitempty"`
	// PerPID is each process's share, in the order of PIDs.
	PerPID []pidFigures `json:"per_pid,omitempty"`
}

// pidFigures is one server process's CPU over the run and RSS after it.
type pidFigures struct {
	PID              int     `json:"pid"`
	CPUSeconds       float64 `json:"cpu_seconds"`
	CPUPerDeliveryUS float64 `json:"cpu_per_delivery_us,omitempty"`
	RSSEndKiB        int64   `json:"rss_end_kib"`
}

// summarize turns the workers' merged results into a target's figures.
func summarize(cfg workload, t target, m *mergedResult) *targetSummary {
	r := &m.workerResult
	s := &targetSummary{
		URL: t.url, URL2: t.url2,
		Connected: r.Connected, ConnectErrors: r.ConnectErrors, Refused503: r.Refused, Disconnects: r.Disconnects,
		Sent: r.Sent, SendErrors: r.SendErrors, Accepted: r.Accepted, Stored: r.Stored, Expected: r.Expected, Delivered: r.Delivered,
		Duplicates: r.Duplicates, Unknown: r.Unknown, Receipts: r.Receipts, ErrorFrames: r.ErrorFrames,
		Latency: summarizeHist(m.latency), ReceiptLatency: summarizeHist(m.receipt),
		ResponseLatency: summarizeHist(m.response), ConnectLatency: summarizeHist(m.connect),
		RunSeconds: m.runSeconds, FirstError: r.FirstError,
	}
	if s.Latency != nil {
		s.Latency.Hist = encodeHist(m.latency)
	}
	nonEmpty := func(c map[string]int64) map[string]int64 {
		if len(c) == 0 {
			return nil
		}
		return c
	}
	s.ConnectFailures, s.Statuses, s.HTTPStatuses = nonEmpty(r.ConnectFailures), nonEmpty(r.Statuses), nonEmpty(r.HTTPStatuses)
	if span := time.Duration(r.LastConnected - r.FirstDial); r.Connected > 0 && span > 0 {
		s.ConnectsPerSec = float64(r.Connected) / span.Seconds()
	}
	if r.Expected > 0 {
		s.DeliveredRatio = float64(r.Delivered) / float64(r.Expected)
	}
	if span := time.Duration(r.LastSend - r.FirstSend); r.Sent > 1 && span > 0 {
		s.SentPerSec = float64(r.Sent) / span.Seconds()
	}
	if span := time.Duration(r.LastDelivery - r.FirstSend); r.Delivered > 1 && r.FirstSend > 0 && span > 0 {
		s.DeliveredPerSec = float64(r.Delivered) / span.Seconds()
	}
	if span := time.Duration(r.LastDelivery - r.FirstDial); cfg.Mode == drainMode && r.Delivered > 0 && r.FirstDial > 0 && span > 0 {
		s.DrainPerSec = float64(r.Delivered) / span.Seconds()
		s.TimeToLastMS = float64(span) / float64(time.Millisecond)
	}
	if m.runSeconds > 0 {
		s.ClientCPUPercent = 100 * m.clientCPU / m.runSeconds
	}
	if n := r.Statuses["rejected"]; cfg.Mode == drainMode && n > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d pushes of the fill were answered rejected (the inbox could not take them) and are not awaited", n))
	}
	if cfg.Mode == topicMode {
		summarizeTopic(s, r)
	}
	if cfg.Mode == "d2d" && r.Duplicates > 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("%d messages arrived more than once", r.Duplicates))
	}
	return s
}

// serverFigures computes the server's figures from the samples before
// connecting, before the run and after it.
func serverFigures(cfg workload, pids []int, p [3]procSample, m *mergedResult) *serverSummary {
	s := &serverSummary{PIDs: pids, RSSBaseKiB: p[0].rssKiB, RSSStartKiB: p[1].rssKiB, RSSEndKiB: p[2].rssKiB}
	if m.Connected > 0 {
		s.RSSPerConnKiB = float64(p[2].rssKiB-p[0].rssKiB) / float64(m.Connected)
	}
	cpu := p[2].cpu - p[1].cpu
	s.CPUSeconds = cpu.Seconds()
	if wall := p[2].at.Sub(p[1].at); wall > 0 {
		s.CPUPercent = 100 * cpu.Seconds() / wall.Seconds()
	}
	if (cfg.sends() || cfg.Mode == drainMode) && cpu > 0 {
		s.DeliveredPerCPUSecond = float64(m.Delivered) / cpu.Seconds()
	}
	if cfg.sends() && m.Delivered > 0 {
		s.CPUPerDeliveryUS = cpu.Seconds() * 1e6 / float64(m.Delivered)
	}
	if len(pids) > 1 && len(p[1].perPID) == len(pids) && len(p[2].perPID) == len(pids) {
		for i, pid := range pids {
			f := pidFigures{PID: pid, CPUSeconds: (p[2].perPID[i].cpu - p[1].perPID[i].cpu).Seconds(), RSSEndKiB: p[2].perPID[i].rssKiB}
			if cfg.sends() && m.Delivered > 0 {
				f.CPUPerDeliveryUS = f.CPUSeconds * 1e6 / float64(m.Delivered)
			}
			s.PerPID = append(s.PerPID, f)
		}
	}
	return s
}

// figure is one number of the report.
type figure struct {
	key   string
	value float64
}

// figures lists a target's numbers for mode, in the report's order.
func (t *targetSummary) figures(mode string) []figure {
	var fs []figure
	add := func(k string, v float64) { fs = append(fs, figure{k, v}) }
	lat := func(prefix string, l *latencySummary, all bool) {
		if l == nil {
			return
		}
		add(prefix+"_p50_ms", l.P50)
		if all {
			add(prefix+"_p90_ms", l.P90)
		}
		add(prefix+"_p99_ms", l.P99)
		if all {
			add(prefix+"_p99.9_ms", l.P999)
		}
		add(prefix+"_max_ms", l.Max)
	}
	add("connected", float64(t.Connected))
	add("connects_per_sec", t.ConnectsPerSec)
	if mode == "connect" {
		add("connect_errors", float64(t.ConnectErrors))
		add("refused_503", float64(t.Refused503))
		lat("connect", t.ConnectLatency, true)
	}
	if t.Server != nil {
		if mode == "idle" || mode == "connect" {
			add("rss_per_conn_kib", t.Server.RSSPerConnKiB)
		}
		add("server_cpu_percent", t.Server.CPUPercent)
	}
	if mode == topicMode {
		add("subscribed", float64(t.Subscribed))
		add("publishes", float64(t.Published))
		lat("publish_to_last", t.PublishToLast, false)
		if t.Server != nil {
			add("rss_per_sub_kib", t.Server.RSSPerSubKiB)
		}
	}
	if mode == drainMode {
		add("stored", float64(t.Stored))
		add("delivered", float64(t.Delivered))
		add("delivered_ratio", t.DeliveredRatio)
		add("drain_per_sec", t.DrainPerSec)
		add("time_to_last_ms", t.TimeToLastMS)
		lat("latency", t.Latency, true)
		lat("connect", t.ConnectLatency, false)
		lat("response", t.ResponseLatency, false)
		if t.Server != nil {
			add("delivered_per_cpu_second", t.Server.DeliveredPerCPUSecond)
		}
	} else if mode != "idle" && mode != "connect" {
		add("sent_per_sec", t.SentPerSec)
		add("delivered_per_sec", t.DeliveredPerSec)
		add("delivered_ratio", t.DeliveredRatio)
		add("send_errors", float64(t.SendErrors))
		lat("latency", t.Latency, true)
		lat("receipt", t.ReceiptLatency, false)
		lat("response", t.ResponseLatency, false)
		if t.Server != nil {
			add("delivered_per_cpu_second", t.Server.DeliveredPerCPUSecond)
			add("cpu_per_delivery_us", t.Server.CPUPerDeliveryUS)
		}
		if t.LinkFrames != nil {
			add("link_frames_per_message", t.LinkFramesPerMessage)
		}
	}
	add("disconnects", float64(t.Disconnects))
	add("client_cpu_percent", t.ClientCPUPercent)
	return fs
}

// ratios divides each of the server's figures by the ceiling's.
func ratios(mode string, h, c *targetSummary) map[string]float64 {
	return ratiosOf(h.figures(mode), c.figures(mode))
}

// ratiosOf divides each figure of hf by the one of the same key in cf.
func ratiosOf(hf, cfs []figure) map[string]float64 {
	cf := map[string]float64{}
	for _, f := range cfs {
		cf[f.key] = f.value
	}
	out := map[string]float64{}
	for _, f := range hf {
		if v, ok := cf[f.key]; ok && v != 0 && !math.IsNaN(f.value/v) {
			out[f.key] = math.Round(f.value/v*1000) / 1000
		}
	}
	return out
}

// writeSummaryJSON prints s as one line of JSON.
func writeSummaryJSON(w io.Writer, s *summary) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// title is the run's one-line description.
func (s *summary) title() string {
	var b strings.Builder
	fmt.Fprintf(&b, "herald bench %s: %d devices", s.Mode, s.Devices)
	if s.Rate > 0 {
		fmt.Fprintf(&b, ", %s msgs/s for %s", fmtNum(s.Rate), s.Duration)
	} else if s.Duration != "" {
		fmt.Fprintf(&b, " for %s", s.Duration)
	}
	if s.Batch > 1 {
		fmt.Fprintf(&b, ", %d a request", s.Batch)
	}
	if s.Keys {
		b.WriteString(", each with an idempotency key")
	}
	if s.Fanout > 0 {
		fmt.Fprintf(&b, ", accounts of %d", s.Fanout)
	}
	if s.Stored > 0 {
		fmt.Fprintf(&b, ", %d stored messages each", s.Stored)
	}
	if s.Topic != "" {
		fmt.Fprintf(&b, ", subscribed to %s over %d edges", s.Topic, max(s.Edges, 1))
	}
	fmt.Fprintf(&b, ", %d procs, concurrency %d; %s, %d CPUs, load %s, %s", s.Procs, s.Concurrency, s.Host, s.CPUs, s.LoadAvg, s.Started.Format(time.RFC3339))
	return b.String()
}

// writeTable prints s as a table: each figure, the ceiling's, and the ratio.
func (s *summary) writeTable(w io.Writer) {
	fmt.Fprintln(w, s.title())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	other, otherName, otherMode, name := s.Ceiling, "CEILING", s.Mode, "HERALD"
	if s.Push != nil {
		other, otherName, otherMode, name = s.Push, "PUSH", "push", "TOPIC"
	}
	if other == nil {
		fmt.Fprintln(tw, "FIGURE\tHERALD\t")
		for _, f := range s.Herald.figures(s.Mode) {
			fmt.Fprintf(tw, "%s\t%s\t\n", f.key, fmtNum(f.value))
		}
	} else {
		fmt.Fprintf(tw, "FIGURE\t%s\t%s\tRATIO\t\n", name, otherName)
		cf := map[string]float64{}
		for _, f := range other.figures(otherMode) {
			cf[f.key] = f.value
		}
		for _, f := range s.Herald.figures(s.Mode) {
			ratio := "-"
			if r, ok := s.Ratios[f.key]; ok {
				ratio = strconv.FormatFloat(r, 'f', 2, 64)
			}
			c := "-"
			if v, ok := cf[f.key]; ok {
				c = fmtNum(v)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t\n", f.key, fmtNum(f.value), c, ratio)
		}
	}
	_ = tw.Flush()
	for _, n := range s.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	for _, t := range []struct {
		name string
		s    *targetSummary
	}{{"herald", s.Herald}, {"ceiling", s.Ceiling}, {"push", s.Push}} {
		if t.s == nil {
			continue
		}
		if len(t.s.Statuses) > 0 {
			fmt.Fprintf(w, "%s statuses: %s\n", t.name, fmtCounts(t.s.Statuses))
		}
		if len(t.s.HTTPStatuses) > 0 {
			fmt.Fprintf(w, "%s HTTP answers besides the expected: %s\n", t.name, fmtCounts(t.s.HTTPStatuses))
		}
		if len(t.s.ConnectFailures) > 0 {
			fmt.Fprintf(w, "%s failed connections: %s\n", t.name, fmtCounts(t.s.ConnectFailures))
		}
		if t.s.FirstError != "" {
			fmt.Fprintf(w, "%s first error: %s\n", t.name, t.s.FirstError)
		}
		for _, n := range t.s.Notes {
			fmt.Fprintf(w, "%s: %s\n", t.name, n)
		}
	}
}

func fmtCounts(c map[string]int64) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(c)) {
		parts = append(parts, fmt.Sprintf("%s %d", k, c[k]))
	}
	return strings.Join(parts, ", ")
}

// fmtNum prints a figure with the digits that matter.
func fmtNum(v float64) string {
	a := math.Abs(v)
	switch {
	case a >= 100 || v == math.Trunc(v):
		return strconv.FormatFloat(v, 'f', 0, 64)
	case a >= 10:
		return strconv.FormatFloat(v, 'f', 1, 64)
	case a >= 1:
		return strconv.FormatFloat(v, 'f', 2, 64)
	}
	return strconv.FormatFloat(v, 'f', 4, 64)
}
