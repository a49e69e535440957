package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/heraldpush/herald/bench/ceiling"
	"github.com/heraldpush/herald/edge"
)

// target is a server a workload runs against.
type target struct {
	name      string // herald or ceiling
	url, url2 string
	pids      []int // for /proc; none: no server figures
}

// runOnce runs the workload of cfg against the server (and, with ceiling,
// then against a ceiling server of its own) and summarizes both. bin is the
// herald binary for the child processes.
func runOnce(ctx context.Context, cfg workload, pids []int, withCeiling bool, bin string, progress io.Writer) (*summary, error) {
	s := newSummary(cfg)
	h, err := runTarget(ctx, cfg, target{name: "herald", url: cfg.URL, url2: cfg.URL2, pids: pids}, bin, progress)
	if err != nil {
		return nil, fmt.Errorf("against %s: %w", cfg.URL, err)
	}
	s.Herald = h
	s.noteSaturation("herald", h)
	if cfg.Mode == topicMode && cfg.PushRate > 0 {
		pcfg := cfg.pushComparison()
		p, err := runTarget(ctx, pcfg, target{name: "herald (account pushes)", url: cfg.URL, pids: pids}, bin, progress)
		if err != nil {
			return nil, fmt.Errorf("account pushes against %s: %w", cfg.URL, err)
		}
		s.Push = p
		s.noteSaturation("herald (account pushes)", p)
		s.Ratios = ratiosOf(h.figures(topicMode), p.figures("push"))
	}
	if withCeiling {
		if err := againstCeiling(ctx, cfg, s, bin, progress); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// againstCeiling runs the workload of cfg against a ceiling server it starts
// and adds its figures and the ratios to s.
func againstCeiling(ctx context.Context, cfg workload, s *summary, bin string, progress io.Writer) error {
	c, err := startCeiling(ctx, bin)
	if err != nil {
		return err
	}
	defer c.stop()
	ccfg := cfg
	ccfg.URL = "http://" + c.addr
	if cfg.URL2 != "" {
		ccfg.URL2 = ccfg.URL
	}
	cs, err := runTarget(ctx, ccfg, target{name: "ceiling", url: ccfg.URL, url2: ccfg.URL2, pids: []int{c.pid()}}, bin, progress)
	if err != nil {
		return fmt.Errorf("against the ceiling: %w", err)
	}
	s.Ceiling = cs
	s.noteSaturation("the ceiling", cs)
	s.Ratios = ratios(cfg.Mode, s.Herald, cs)
	return nil
}

// noteSaturation notes a run that could not send at the target rate: the
// server or the machine was saturated, every sender slot stayed busy, and the
// latencies are then mostly queueing (about the concurrency divided by the
// throughput).
func (s *summary) noteSaturation(name string, t *targetSummary) {
	if s.Rate > 0 && t.SentPerSec > 0 && t.SentPerSec < 0.95*s.Rate {
		s.Notes = append(s.Notes, fmt.Sprintf("against %s the bench sent %s msgs/s of the %s asked for: saturated, so its latencies are mostly queueing (about concurrency %d / throughput)",
			name, fmtNum(t.SentPerSec), fmtNum(s.Rate), s.Concurrency))
	}
}

// startCeiling starts `herald bench --ceiling-server` on a free port of
// 127.0.0.1.
func startCeiling(ctx context.Context, bin string) (*child, error) {
	return startChild(ctx, bin, "the ceiling server", []string{"bench", "--ceiling-server", "--ceiling-addr", "127.0.0.1:0"}, nil, ceiling.ListenAddr)
}

// runTarget runs the workload against one server: it starts the workers, lets
// them connect, samples the server, runs the workload, samples again, stops
// the workers and adds their results up. Workers in child processes (more
// than one proc) run bin.
func runTarget(ctx context.Context, cfg workload, t target, bin string, progress io.Writer) (*targetSummary, error) {
	specs := cfg.split()
	var samples [3]procSample
	var sampleErr error
	samples[0], sampleErr = sampleProcs(t.pids)
	fmt.Fprintf(progress, "bench %s against %s (%s): connecting %d devices from %d process(es)\n", cfg.Mode, t.name, t.url, cfg.connections(), cfg.Procs)

	var parts []participant
	defer func() {
		for _, p := range parts {
			p.close()
		}
	}()
	for _, s := range specs {
		if cfg.Procs == 1 {
			parts = append(parts, startLocalWorker(ctx, s))
			continue
		}
		r, err := startRemoteWorker(bin, s)
		if err != nil {
			return nil, err
		}
		parts = append(parts, r)
	}
	if _, err := awaitEvents(ctx, parts, "ready", 10*time.Minute); err != nil {
		return nil, err
	}
	var connected procSample
	if cfg.Mode == topicMode {
		sleepCtx(ctx, cfg.Settle)
		if sampleErr == nil {
			connected, sampleErr = sampleProcs(t.pids)
		}
		fmt.Fprintf(progress, "bench %s against %s: subscribing to %s\n", cfg.Mode, t.name, cfg.Topic)
		for _, p := range parts {
			p.send(cmdSub)
		}
		if _, err := awaitEvents(ctx, parts, "subscribed", 5*time.Minute); err != nil {
			return nil, err
		}
	}
	if cfg.Mode != "connect" && cfg.Settle > 0 {
		sleepCtx(ctx, cfg.Settle)
	}
	if sampleErr == nil {
		samples[1], sampleErr = sampleProcs(t.pids)
	}
	frames0, framesErr := scrapeLinkFrames(ctx, cfg.AdminURLs)
	fmt.Fprintf(progress, "bench %s against %s: running\n", cfg.Mode, t.name)
	for _, p := range parts {
		p.send(cmdRun)
	}
	if _, err := awaitEvents(ctx, parts, "finished", cfg.Duration+cfg.Drain+10*time.Minute); err != nil {
		return nil, err
	}
	if sampleErr == nil {
		samples[2], sampleErr = sampleProcs(t.pids)
	}
	frames1, err := scrapeLinkFrames(ctx, cfg.AdminURLs)
	if framesErr == nil {
		framesErr = err
	}
	for _, p := range parts {
		p.send(cmdStop)
	}
	evs, err := awaitEvents(ctx, parts, "result", 5*time.Minute)
	if err != nil {
		return nil, err
	}
	results := make([]*workerResult, 0, len(evs))
	for _, ev := range evs {
		if ev.Result == nil {
			return nil, fmt.Errorf("a worker reported no result")
		}
		results = append(results, ev.Result)
	}
	m, err := mergeResults(results)
	if err != nil {
		return nil, err
	}
	sum := summarize(cfg, t, m)
	if framesErr != nil {
		sum.Notes = append(sum.Notes, fmt.Sprintf("no link frames: %v", framesErr))
	} else if frames1 != nil {
		sum.linkFrames(cfg.Mode, frames0, frames1)
	}
	if sampleErr == nil {
		sum.Server = serverFigures(cfg, t.pids, samples, m)
		if cfg.Mode == topicMode {
			sum.Server.RSSSubscribedKiB = samples[1].rssKiB
			sum.Server.RSSStartKiB = connected.rssKiB
			if m.Subscribed > 0 {
				sum.Server.RSSPerSubKiB = float64(samples[1].rssKiB-connected.rssKiB) / float64(m.Subscribed)
			}
		}
	} else if len(t.pids) > 0 {
		sum.Notes = append(sum.Notes, fmt.Sprintf("no server figures: %v", sampleErr))
	}
	return sum, nil
}

// newSummary starts the summary of a run of cfg.
func newSummary(cfg workload) *summary {
	host, _ := os.Hostname()
	s := &summary{
		Mode: cfg.Mode, Started: time.Now().UTC().Truncate(time.Second), Host: host, CPUs: runtime.NumCPU(),
		Devices: cfg.connections(), Procs: cfg.Procs, Concurrency: cfg.Concurrency,
	}
	if cfg.sends() {
		s.Rate, s.Duration = cfg.Rate, cfg.Duration.String()
	}
	if cfg.Mode == "idle" {
		s.Duration = cfg.Duration.String()
	}
	if cfg.Batch > 1 {
		s.Batch = cfg.Batch
	}
	s.Keys = cfg.Keys
	if cfg.Mode == "fanout" {
		s.Fanout = cfg.Fanout
	}
	if cfg.Mode == drainMode {
		s.Stored = cfg.Stored
	}
	if cfg.Mode == topicMode {
		s.Topic, s.Edges = cfg.Topic, len(cfg.Edges)
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			s.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	if cfg.Mode == "d2d" || cfg.Mode == "fanout" {
		if per := cfg.Rate / float64(cfg.units()); per > edge.DefaultMsgRate {
			s.Notes = append(s.Notes, fmt.Sprintf("each sender sends %.0f msgs/s, more than herald's default --msg-rate of %d: add devices", per, int(edge.DefaultMsgRate)))
		}
	}
	return s
}
