package bench

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// soakSample is one look at the server and at the soak's counts. A figure
// that could not be read is -1.
type soakSample struct {
	AtSeconds      float64 `json:"at_s"` // since the load started
	Goroutines     float64 `json:"goroutines"`
	HeapInuseBytes float64 `json:"heap_inuse_bytes"`
	RSSKiB         int64   `json:"rss_kib"`
	Connected      int     `json:"connected"`
	Sent           int64   `json:"sent"`
	Accepted       int64   `json:"accepted"`
	Delivered      int64   `json:"delivered"`
	// Awaiting is the accepted messages that had not arrived yet.
	Awaiting   int64 `json:"awaiting"`
	Reconnects int64 `json:"reconnects"`
	// AfterLoad marks the last sample, taken once the load stopped and the
	// messages drained: shown, but left out of the fit, as the idle server it
	// shows would bend the line.
	AfterLoad bool `json:"after_load,omitempty"`
}

// soakSeries is the verdict on one series over the second half of the run.
type soakSeries struct {
	Name string  `json:"name"`
	Mean float64 `json:"mean"`
	// SlopePerMinute is the least-squares slope of the series, in its unit a
	// minute; GrowthPercent is that slope over the second half's span, as a
	// percentage of the mean.
	SlopePerMinute float64 `json:"slope_per_minute"`
	GrowthPercent  float64 `json:"growth_percent"`
	// Flat is |GrowthPercent| under the tolerance; false too when the series
	// had fewer than two samples to fit.
	Flat    bool `json:"flat"`
	Samples int  `json:"samples"`
}

// soakSummary is the outcome of a soak run, the one-line JSON of --json.
type soakSummary struct {
	Mode      string    `json:"mode"`
	Started   time.Time `json:"started"`
	Host      string    `json:"host"`
	CPUs      int       `json:"cpus"`
	LoadAvg   string    `json:"load_avg"`
	URL       string    `json:"url"`
	AdminURL  string    `json:"admin_url"`
	PID       int       `json:"pid"`
	Devices   int       `json:"devices"`
	Rate      float64   `json:"rate"`
	D2DShare  float64   `json:"d2d_share"`
	Churn     float64   `json:"churn"`
	Duration  string    `json:"duration"`
	Sample    string    `json:"sample"`
	Tolerance float64   `json:"tolerance"`

	Samples []soakSample `json:"samples"`
	Series  []soakSeries `json:"series"`
	// Flat is whether every series is flat.
	Flat bool `json:"flat"`

	Sent       int64 `json:"sent"`
	Pushes     int64 `json:"pushes"`
	D2D        int64 `json:"d2d"`
	Skipped    int64 `json:"skipped"` // no usable device when due
	SendErrors int64 `json:"send_errors"`
	Accepted   int64 `json:"accepted"`
	Delivered  int64 `json:"delivered"`
	// Lost is the accepted messages that never arrived; Unresolved the
	// messages that never had an outcome (no answer, no receipt).
	Lost          int64            `json:"lost"`
	Unresolved    int64            `json:"unresolved"`
	Duplicates    int64            `json:"duplicates"`
	Unknown       int64            `json:"unknown"`
	Reconnects    int64            `json:"reconnects"`
	Disconnects   int64            `json:"disconnects"`
	ConnectErrors int64            `json:"connect_errors"`
	Statuses      map[string]int64 `json:"statuses,omitempty"`
	FirstError    string           `json:"first_error,omitempty"`
	Notes         []string         `json:"notes,omitempty"`
}

// sampleLoop takes a sample every cfg.Sample until ctx ends.
func (s *soak) sampleLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.Sample)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.takeSample(ctx, false)
		}
	}
}

// takeSample samples the server and the counts, keeps the sample and prints
// its row to the progress writer.
func (s *soak) takeSample(ctx context.Context, afterLoad bool) {
	smp := soakSample{AtSeconds: time.Since(s.start).Seconds(), Goroutines: -1, HeapInuseBytes: -1, RSSKiB: -1, AfterLoad: afterLoad}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	m, err := s.readMetrics(mctx, "go_goroutines", "go_memstats_heap_inuse_bytes")
	cancel()
	if err != nil {
		s.noteErr("reading /metrics: " + err.Error())
	} else {
		smp.Goroutines, smp.HeapInuseBytes = m[0], m[1]
	}
	if rss, err := readRSS(s.cfg.PID); err == nil {
		smp.RSSKiB = rss
	} else {
		s.noteErr("reading the RSS: " + err.Error())
	}
	s.mu.Lock()
	for _, d := range s.devices {
		if d.conn != nil {
			smp.Connected++
		}
		smp.Awaiting += int64(d.awaiting)
	}
	n := s.counts
	s.mu.Unlock()
	smp.Sent, smp.Accepted, smp.Delivered, smp.Reconnects = n.Sent, n.Accepted, n.Delivered, n.Reconnects
	s.samplesMu.Lock()
	s.samples = append(s.samples, smp)
	s.samplesMu.Unlock()
	writeSampleRow(s.progress, smp)
}

// readMetrics reads the named unlabelled metrics from the server's
// Prometheus text exposition, in the order of names.
func (s *soak) readMetrics(ctx context.Context, names ...string) ([]float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.cfg.AdminURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.api.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	return parseMetrics(resp.Body, names...)
}

// parseMetrics finds the named unlabelled metrics in a Prometheus text
// exposition.
func parseMetrics(r io.Reader, names ...string) ([]float64, error) {
	vals := make([]float64, len(names))
	found := make([]bool, len(names))
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		for i, n := range names {
			if f[0] == n {
				v, err := strconv.ParseFloat(f[1], 64)
				if err != nil {
					return nil, fmt.Errorf("metric %s: %w", n, err)
				}
				vals[i], found[i] = v, true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	for i, n := range names {
		if !found[i] {
			return nil, fmt.Errorf("no metric %s", n)
		}
	}
	return vals, nil
}

// finish fills the summary from the samples and the counts.
func (s *soak) finish(sum *soakSummary) {
	s.samplesMu.Lock()
	sum.Samples = append([]soakSample(nil), s.samples...)
	s.samplesMu.Unlock()
	sum.Series = []soakSeries{
		fitSeries("goroutines", sum.Samples, func(x soakSample) float64 { return x.Goroutines }, s.cfg.Tolerance),
		fitSeries("heap_inuse_mib", sum.Samples, func(x soakSample) float64 { return x.HeapInuseBytes / (1 << 20) }, s.cfg.Tolerance),
		fitSeries("rss_mib", sum.Samples, func(x soakSample) float64 { return float64(x.RSSKiB) / 1024 }, s.cfg.Tolerance),
	}
	sum.Flat = true
	for _, se := range sum.Series {
		sum.Flat = sum.Flat && se.Flat
	}
	sum.Lost, sum.Unresolved = s.lost()
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.counts
	sum.Sent, sum.Pushes, sum.D2D, sum.Skipped, sum.SendErrors = n.Sent, n.Pushes, n.D2D, n.Skipped, n.SendErrors
	sum.Accepted, sum.Delivered, sum.Duplicates, sum.Unknown = n.Accepted, n.Delivered, n.Duplicates, n.Unknown
	sum.Reconnects, sum.Disconnects, sum.ConnectErrors = n.Reconnects, n.Disconnects, n.ConnectErrors
	if len(s.statuses) > 0 {
		sum.Statuses = make(map[string]int64, len(s.statuses))
		for k, v := range s.statuses {
			sum.Statuses[k] = v
		}
	}
	sum.FirstError = s.firstErr
}

// fitSeries fits a least-squares line to the series of value over the
// samples of the second half of the load, leaving out unread figures and the
// sample after it.
func fitSeries(name string, samples []soakSample, value func(soakSample) float64, tolerance float64) soakSeries {
	se := soakSeries{Name: name}
	var end float64
	for _, smp := range samples {
		if !smp.AfterLoad {
			end = max(end, smp.AtSeconds)
		}
	}
	half := end / 2
	var xs, ys []float64
	for _, smp := range samples {
		if v := value(smp); smp.AtSeconds >= half && !smp.AfterLoad && v >= 0 {
			xs, ys = append(xs, smp.AtSeconds), append(ys, v)
		}
	}
	se.Samples = len(xs)
	if len(xs) < 2 {
		return se
	}
	n := float64(len(xs))
	var sx, sy float64
	for i := range xs {
		sx += xs[i]
		sy += ys[i]
	}
	mx, my := sx/n, sy/n
	var sxy, sxx float64
	for i := range xs {
		sxy += (xs[i] - mx) * (ys[i] - my)
		sxx += (xs[i] - mx) * (xs[i] - mx)
	}
	se.Mean = my
	if sxx == 0 || my == 0 {
		return se
	}
	slope := sxy / sxx // a second
	se.SlopePerMinute = slope * 60
	se.GrowthPercent = 100 * slope * (xs[len(xs)-1] - xs[0]) / my
	// A leak grows; a series that falls (memory handed back after a burst) is
	// not one, so only growth counts against flatness.
	se.Flat = se.GrowthPercent < 100*tolerance
	return se
}

// writeSampleHeader prints the header of the sample rows.
func writeSampleHeader(w io.Writer) {
	fmt.Fprintf(w, "%8s %10s %9s %8s %9s %9s %9s %9s %8s %10s\n",
		"TIME", "GOROUTINES", "HEAP_MIB", "RSS_MIB", "CONNECTED", "SENT", "ACCEPTED", "DELIVERED", "AWAITING", "RECONNECTS")
}

// writeSampleRow prints one sample's row.
func writeSampleRow(w io.Writer, x soakSample) {
	fmt.Fprintf(w, "%8s %10s %9s %8s %9d %9d %9d %9d %8d %10d\n",
		time.Duration(x.AtSeconds*float64(time.Second)).Round(100*time.Millisecond).String(), fmtFigure(x.Goroutines), fmtFigure(x.HeapInuseBytes/(1<<20)),
		fmtFigure(float64(x.RSSKiB)/1024), x.Connected, x.Sent, x.Accepted, x.Delivered, x.Awaiting, x.Reconnects)
}

// fmtFigure is fmtNum, with - for a figure that could not be read.
func fmtFigure(v float64) string {
	if v < 0 {
		return "-"
	}
	return fmtNum(v)
}

// writeTable prints the samples, the verdict on each series and the counts.
func (sum *soakSummary) writeTable(w io.Writer) {
	fmt.Fprintf(w, "herald bench soak: %d devices, %s msgs/s (%.0f%% device to device), churn %.0f%% of the devices every %s, for %s; %s, %d CPUs, load %s, %s\n",
		sum.Devices, fmtNum(sum.Rate), 100*sum.D2DShare, 100*sum.Churn, sum.Sample, sum.Duration, sum.Host, sum.CPUs, sum.LoadAvg, sum.Started.Format(time.RFC3339))
	writeSampleHeader(w)
	for _, x := range sum.Samples {
		writeSampleRow(w, x)
	}
	fmt.Fprintf(w, "\nover the second half of the load, the last row (after it) left out; flat: growth under %.0f%% of the mean:\n", 100*sum.Tolerance)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIES\tMEAN\tSLOPE/MIN\tGROWTH\tVERDICT\t")
	for _, se := range sum.Series {
		verdict := "flat"
		switch {
		case se.Samples < 2:
			verdict = "too few samples"
		case !se.Flat:
			verdict = "GROWING"
		case se.GrowthPercent <= -100*sum.Tolerance:
			verdict = "falling (no growth)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%+.3g\t%+.2f%%\t%s\t\n", se.Name, fmtNum(se.Mean), se.SlopePerMinute, se.GrowthPercent, verdict)
	}
	_ = tw.Flush()
	fmt.Fprintf(w, "sent %d (%d pushes, %d d2d), skipped %d, accepted %d, delivered %d, unresolved %d, send errors %d\n",
		sum.Sent, sum.Pushes, sum.D2D, sum.Skipped, sum.Accepted, sum.Delivered, sum.Unresolved, sum.SendErrors)
	fmt.Fprintf(w, "reconnects %d, unexpected disconnects %d, connect errors %d, duplicates %d, unknown %d\n",
		sum.Reconnects, sum.Disconnects, sum.ConnectErrors, sum.Duplicates, sum.Unknown)
	if len(sum.Statuses) > 0 {
		fmt.Fprintf(w, "statuses: %s\n", fmtCounts(sum.Statuses))
	}
	if sum.FirstError != "" {
		fmt.Fprintf(w, "first error: %s\n", sum.FirstError)
	}
	for _, n := range sum.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	fmt.Fprintf(w, "lost accepted messages: %d\n", sum.Lost)
}
