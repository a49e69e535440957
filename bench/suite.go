package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/heraldpush/herald/api"
	"github.com/heraldpush/herald/edge/token"
)

// suiteStep is one run of the standard set.
type suiteStep struct {
	name    string
	cfg     workload
	serve   int           // serve edges on Redis and Postgres (d2d: two); 0: herald dev
	batch   bool          // needs POST /v1/push/batch: skipped where the server lacks it
	show    []string      // the figures of the summary table
	targets []suiteTarget // the targets
}

// suiteTarget is one target of the issue: a figure (or its ratio to the
// ceiling) compared to a bound.
type suiteTarget struct {
	figure string
	ratio  bool
	atMost bool
	bound  float64
}

func (t suiteTarget) String() string {
	op := ">="
	if t.atMost {
		op = "<="
	}
	if t.ratio {
		return fmt.Sprintf("ratio %s %s", op, strconv.FormatFloat(t.bound, 'g', -1, 64))
	}
	return op + " " + strconv.FormatFloat(t.bound, 'g', -1, 64)
}

// met reports whether s meets t; ok is false when the figure is missing.
func (t suiteTarget) met(mode string, s *summary) (met, ok bool) {
	var v float64
	if t.ratio {
		v, ok = s.Ratios[t.figure]
	} else {
		for _, f := range s.Herald.figures(mode) {
			if f.key == t.figure {
				v, ok = f.value, true
			}
		}
	}
	if !ok {
		return false, false
	}
	if t.atMost {
		return v <= t.bound, true
	}
	return v >= t.bound, true
}

// suiteSteps is the standard set: the workloads at its sizes, or a
// tenth of them with quick.
func suiteSteps(base workload, quick bool) []suiteStep {
	scale := func(n int) int {
		if quick {
			return max(n/10, 2)
		}
		return n
	}
	dur := func(d time.Duration) time.Duration {
		if quick {
			return min(d, 3*time.Second)
		}
		return d
	}
	step := func(mode string, devices, procs int, rate float64, d time.Duration) workload {
		c := base
		c.Mode, c.Devices, c.Procs, c.Rate, c.Duration = mode, scale(devices), procs, rate, dur(d)
		if quick {
			c.Rate = max(rate/10, 10)
		}
		return c
	}
	pushShow := []string{"sent_per_sec", "delivered_per_sec", "delivered_ratio", "latency_p50_ms", "latency_p99_ms", "latency_p99.9_ms", "response_p99_ms", "server_cpu_percent"}
	idle := step("idle", 15000, 2, 0, 30*time.Second)
	idle.Settle = 15 * time.Second // past the edge's one release of memory after the storm (--release-memory-quiet)
	connect := step("connect", 10000, 2, 0, 10*time.Second)
	connect.Warm = true // a reconnect storm of known devices
	steps := []suiteStep{
		{name: "idle", cfg: idle, serve: 1, show: []string{"connected", "rss_per_conn_kib", "server_cpu_percent", "disconnects"},
			targets: []suiteTarget{{figure: "rss_per_conn_kib", atMost: true, bound: 8}, {figure: "server_cpu_percent", atMost: true, bound: 2}}},
		{name: "connect", cfg: connect, serve: 1, show: []string{"connected", "connects_per_sec", "connect_p99_ms", "refused_503", "connect_errors", "rss_per_conn_kib"},
			targets: []suiteTarget{{figure: "connects_per_sec", bound: 5000}, {figure: "connects_per_sec", ratio: true, bound: 0.8}}},
	}
	for _, rate := range []float64{5000, 10000, 28000} {
		c := step("push", 10000, 2, rate, 8*time.Second)
		s := suiteStep{name: "push " + fmtNum(c.Rate) + "/s", cfg: c, serve: 1, show: pushShow}
		if rate == 28000 {
			s.targets = []suiteTarget{{figure: "delivered_per_sec", bound: 28000}, {figure: "delivered_ratio", bound: 0.999}, {figure: "latency_p99_ms", atMost: true, bound: 50}}
		}
		steps = append(steps, s)
	}
	batch := step("push", 10000, 2, 56000, 8*time.Second)
	batch.Batch = 50
	steps = append(steps,
		suiteStep{name: "push batch 50", cfg: batch, serve: 1, batch: true, show: pushShow},
		suiteStep{name: "d2d", cfg: step("d2d", 400, 1, 1000, 10*time.Second), serve: 2,
			show:    []string{"delivered_ratio", "latency_p50_ms", "latency_p99_ms", "latency_p99.9_ms", "receipt_p50_ms", "receipt_p99_ms", "server_cpu_percent"},
			targets: []suiteTarget{{figure: "latency_p50_ms", atMost: true, bound: 0.5}, {figure: "latency_p99_ms", atMost: true, bound: 2}}},
		suiteStep{name: "async", cfg: step("async", 1000, 1, 5000, 10*time.Second),
			show: []string{"sent_per_sec", "delivered_per_sec", "delivered_ratio", "latency_p50_ms", "latency_p99_ms", "server_cpu_percent", "delivered_per_cpu_second"}},
		suiteStep{name: "fanout", cfg: step("fanout", 1000, 1, 500, 10*time.Second),
			show: []string{"delivered_per_sec", "delivered_ratio", "latency_p50_ms", "latency_p99_ms", "receipt_p99_ms", "server_cpu_percent"}},
	)
	if quick { // the targets are about the full sizes
		for i := range steps {
			steps[i].targets = nil
		}
	}
	return steps
}

// suiteResult is a step's outcome: a summary, or why it was skipped.
type suiteResult struct {
	step    suiteStep
	summary *summary
	skipped string
}

// runSuite runs the standard set, each step against a fresh server and then
// its ceiling, and prints every step's table and a summary against the targets.
func runSuite(ctx context.Context, conf Config, stdout, stderr io.Writer) error {
	base := conf.workload()
	base.Concurrency = 0
	if len(base.SourceAddrs) == 0 {
		base.SourceAddrs = []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.4"}
	}
	var results []suiteResult
	for _, st := range suiteSteps(base, conf.Quick) {
		if err := ctx.Err(); err != nil {
			return err
		}
		r, err := runSuiteStep(ctx, conf, st, stderr)
		if err != nil {
			return fmt.Errorf("suite step %s: %w", st.name, err)
		}
		results = append(results, r)
		switch {
		case r.skipped != "":
			fmt.Fprintf(stderr, "bench suite: %s skipped: %s\n", st.name, r.skipped)
		case conf.JSON:
			if err := writeSummaryJSON(stdout, r.summary); err != nil {
				return err
			}
		default:
			r.summary.writeTable(stdout)
			fmt.Fprintln(stdout)
		}
	}
	if !conf.JSON {
		writeSuiteTable(stdout, results)
	}
	return nil
}

// runSuiteStep starts the step's server, runs the workload against it, stops
// it, and runs the workload against the ceiling.
func runSuiteStep(ctx context.Context, conf Config, st suiteStep, stderr io.Writer) (suiteResult, error) {
	cfg := st.cfg
	cfg.Run = newRunID() // fresh accounts and Redis keys for every step
	if st.serve > 1 && (conf.RedisAddr == "" || conf.PostgresURL == "") {
		return suiteResult{step: st, skipped: "two edges need --redis-addr and --postgres-url (scripts/services.sh start)"}, nil
	}
	if conf.RedisAddr == "" || conf.PostgresURL == "" {
		st.serve = 0 // herald dev on its embedded stores
	}
	servers, err := startSuiteServers(ctx, conf, &cfg, st.serve)
	if err != nil {
		return suiteResult{}, err
	}
	stopAll := func() {
		for _, s := range servers {
			s.stop()
		}
		servers = nil
	}
	defer stopAll()
	if st.batch && !hasBatchPush(ctx, cfg) {
		return suiteResult{step: st, skipped: "the server has no POST /v1/push/batch"}, nil
	}
	if err := cfg.validate(); err != nil {
		return suiteResult{}, err
	}
	var pids []int
	for _, s := range servers {
		pids = append(pids, s.pid())
	}
	fmt.Fprintf(stderr, "bench suite: %s\n", st.name)
	s := newSummary(cfg)
	if s.Herald, err = runTarget(ctx, cfg, target{name: "herald", url: cfg.URL, url2: cfg.URL2, pids: pids}, conf.Binary, stderr); err != nil {
		return suiteResult{}, err
	}
	s.noteSaturation("herald", s.Herald)
	stopAll() // the ceiling runs alone on the machine, as herald did
	if err := againstCeiling(ctx, cfg, s, conf.Binary, stderr); err != nil {
		return suiteResult{}, err
	}
	return suiteResult{step: st, summary: s}, nil
}

// startSuiteServers starts herald dev (serve 0), or serve edges with the edge
// and api roles on Redis and Postgres, for a step and points cfg at them.
func startSuiteServers(ctx context.Context, conf Config, cfg *workload, serve int) ([]*child, error) {
	common := []string{"--addr", "127.0.0.1:0", "--admin-addr", "", "--log-format", "json", "--drain-window", "0s"}
	prefix := "herald-bench-" + cfg.Run + ":"
	if serve == 0 {
		args := append([]string{"dev"}, common...)
		if conf.RedisAddr != "" {
			args = append(args, "--redis-addr", conf.RedisAddr, "--redis-prefix", prefix)
		}
		s, err := startChild(ctx, conf.Binary, "herald dev", args, nil, heraldListening)
		if err != nil {
			return nil, err
		}
		cfg.URL, cfg.URL2 = "http://"+s.addr, ""
		return []*child{s}, nil
	}
	// Secrets for this run only, through the environment rather than argv.
	secret := token.HS256Key{ID: "k1", Secret: []byte(newRunID() + newRunID() + newRunID() + newRunID())}
	apiKey := newRunID() + newRunID()
	env := []string{"HERALD_TOKEN_SECRET=" + secret.ID + ":" + string(secret.Secret), "HERALD_API_KEYS=" + api.NewKey("bench", apiKey).Spec(),
		"HERALD_CLUSTER_KEY=" + newRunID() + newRunID() + newRunID(), "HERALD_POSTGRES_URL=" + conf.PostgresURL}
	var servers []*child
	for i := 1; i <= serve; i++ {
		args := append([]string{"serve", "--roles=edge,api", "--edge-id", fmt.Sprintf("%s-edge-%d", cfg.Run, i), "--internal-addr", "127.0.0.1:0",
			"--redis-addr", conf.RedisAddr, "--redis-prefix", prefix}, common...)
		s, err := startChild(ctx, conf.Binary, fmt.Sprintf("herald serve (edge %d)", i), args, env, heraldListening)
		if err != nil {
			for _, s := range servers {
				s.stop()
			}
			return nil, err
		}
		servers = append(servers, s)
	}
	cfg.URL, cfg.URL2 = "http://"+servers[0].addr, ""
	if serve > 1 {
		cfg.URL2 = "http://" + servers[1].addr
	}
	cfg.TokenKey, cfg.Key = secret, apiKey
	return servers, nil
}

// heraldListening finds the public address in herald's JSON log line
// "herald listening".
func heraldListening(line []byte) string {
	var rec struct {
		Msg  string `json:"msg"`
		Addr string `json:"addr"`
	}
	if json.Unmarshal(line, &rec) != nil || rec.Msg != "herald listening" {
		return ""
	}
	return rec.Addr
}

// hasBatchPush reports whether the server answers POST /v1/push/batch with
// anything but 404 or 405.
func hasBatchPush(ctx context.Context, cfg workload) bool {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL+"/v1/push/batch", bytes.NewReader([]byte(`{"messages":[]}`)))
	if err != nil {
		return false
	}
	req.Header.Set("Authorization", "Bearer "+cfg.Key)
	req.Header.Set("Content-Type", "application/json")
	c := &http.Client{Transport: &http.Transport{}}
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode != http.StatusNotFound && resp.StatusCode != http.StatusMethodNotAllowed
}

// writeSuiteTable prints the chosen figures of every step with the ceiling,
// the ratio and the targets.
func writeSuiteTable(w io.Writer, results []suiteResult) {
	fmt.Fprintln(w, "herald bench suite: summary")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STEP\tFIGURE\tHERALD\tCEILING\tRATIO\tTARGET\tMET")
	for _, r := range results {
		if r.skipped != "" {
			fmt.Fprintf(tw, "%s\tskipped: %s\t\t\t\t\t\n", r.step.name, r.skipped)
			continue
		}
		s := r.summary
		values := func(t *targetSummary) map[string]float64 {
			m := map[string]float64{}
			if t != nil {
				for _, f := range t.figures(s.Mode) {
					m[f.key] = f.value
				}
			}
			return m
		}
		hv, cv := values(s.Herald), values(s.Ceiling)
		for _, key := range r.step.show {
			v, ok := hv[key]
			if !ok {
				continue
			}
			c, ratio := "-", "-"
			if x, ok := cv[key]; ok {
				c = fmtNum(x)
			}
			if x, ok := s.Ratios[key]; ok {
				ratio = strconv.FormatFloat(x, 'f', 2, 64)
			}
			var targets, mets []string
			for _, t := range r.step.targets {
				if t.figure != key {
					continue
				}
				targets = append(targets, t.String())
				met, ok := t.met(s.Mode, s)
				switch {
				case !ok:
					mets = append(mets, "?")
				case met:
					mets = append(mets, "yes")
				default:
					mets = append(mets, "no")
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.step.name, key, fmtNum(v), c, ratio, strings.Join(targets, ", "), strings.Join(mets, ", "))
		}
	}
	_ = tw.Flush()
}
