package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// herald bench is a load tool for a running Herald: it holds device connections,
// pushes, sends asynchronously and device to device, and reports throughput,
// latency percentiles (HDR histograms) and, given the server's pid, its memory
// per connection and CPU from /proc. With --ceiling it runs the same workload,
// the same way, against a minimal coder/websocket server of its own (a child
// process) and reports every figure as a ratio to that ceiling. Connections are
// spread over --procs child processes of the same binary because one process
// holds at most 20,000 open files.
//
// The goroutines: the parent runs one participant per worker (a child process,
// or the worker itself in-process when --procs is 1) and steps them through the
// phases prepare -> ready, run -> finished, stop -> result; each worker owns one
// reader goroutine per device connection, a pool of senders and the pacing loop,
// and stops and waits for all of them before it reports its result.

// benchModes are the workloads, in the order of the help text.
var benchModes = []string{"idle", "connect", "push", "async", "d2d", "fanout"}

const benchUsage = `usage: herald bench MODE [flags]

modes:
  idle      hold --devices connections (the server pings them) for --duration
  connect   a reconnect storm: open --devices connections as fast as --concurrency allows
  push      sync pushes through POST /v1/push (--batch N: POST /v1/push/batch) at --rate
  async     POST /v1/messages at --rate; latency to the device's receipt of the msg
  d2d       device pairs, sender on --url and receiver on --url2, msgs at --rate in all
  fanout    accounts of --fanout devices; one device of each sends to its siblings
  suite     the standard set (make bench): with --redis-addr and --postgres-url, one
            serve edge (two for d2d) on them, herald dev for async and fanout;
            each step beside its ceiling
  soak      a steady mix of sync pushes and d2d msgs at --rate with reconnect churn
            for --duration, against a server given by --admin-url and --server-pid:
            its goroutines, heap and RSS every --sample, whether they stay flat,
            and the accepted messages lost (exit 1 if any)

flags:
`

// benchConfig is one bench run. It travels to the worker processes as JSON on
// their stdin, so it holds no secrets that the command line would show.
type benchConfig struct {
	Mode         string        `json:"mode"`
	URL          string        `json:"url"`
	URL2         string        `json:"url2,omitempty"`
	Key          string        `json:"key"`
	TokenSecrets []string      `json:"token_secrets,omitempty"`
	Devices      int           `json:"devices"`
	Rate         float64       `json:"rate"`
	Duration     time.Duration `json:"duration"`
	Procs        int           `json:"procs"`
	SourceAddrs  []string      `json:"source_addrs,omitempty"`
	Concurrency  int           `json:"concurrency"`
	Batch        int           `json:"batch"`
	Fanout       int           `json:"fanout"`
	Settle       time.Duration `json:"settle"`
	Drain        time.Duration `json:"drain"`
	// Warm (connect): connect and close every device once before the storm, so
	// that the storm reconnects devices the server already lists, as after a
	// deploy, instead of adding new ones.
	Warm bool `json:"warm,omitempty"`
	// Run prefixes the bench's account ids, so that two runs against one server
	// never replace each other's connections.
	Run string `json:"run"`
}

// benchFlags are the flags of herald bench besides the config's.
type benchFlags struct {
	cfg           benchConfig
	serverPIDs    listFlag
	ceiling       bool
	jsonOut       bool
	worker        bool
	ceilingServer bool
	ceilingAddr   string
	redisAddr     string
	postgresURL   string
	quick         bool
	adminURL      string
	sample        time.Duration
	churn         float64
	d2dShare      float64
	tolerance     float64
}

// runBench is herald bench.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f benchFlags
	c := &f.cfg
	fs := newFlags("bench", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "the server's public base URL (devices and REST API)")
	fs.StringVar(&c.URL2, "url2", "", "d2d and fanout: a second edge's base URL; the receivers connect there")
	fs.StringVar(&c.Key, "key", devAPIKey, "API key for push and async")
	var secrets listFlag
	fs.Var(&secrets, "token-secret", "HS256 secret to mint device tokens, as kid:secret or secret (default: the development secret)")
	fs.IntVar(&c.Devices, "devices", 100, "device connections (d2d: two per pair; fanout: --fanout per account)")
	fs.Float64Var(&c.Rate, "rate", 1000, "messages per second, over all devices (push, async, d2d, fanout)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long idle holds and the message modes send")
	fs.IntVar(&c.Procs, "procs", 1, "worker processes to spread the connections over (one process holds at most about 19,500)")
	var sources listFlag
	fs.Var(&sources, "source-addrs", "local IPs to dial from, comma-separated (127.0.0.1,127.0.0.2,...): each has its own ephemeral ports")
	fs.IntVar(&c.Concurrency, "concurrency", 0, "concurrent dials (connect), requests (push, async) or writers (d2d, fanout), over all procs (0: the mode's default)")
	fs.IntVar(&c.Batch, "batch", 1, "push: messages per request; more than 1 uses POST /v1/push/batch")
	fs.IntVar(&c.Fanout, "fanout", 10, "fanout: devices per account, the sender included")
	fs.DurationVar(&c.Settle, "settle", 2*time.Second, "wait after connecting before measuring")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "how long to wait for outstanding deliveries after the last send")
	fs.BoolVar(&c.Warm, "warm", false, "connect: connect and close every device once first, so the storm reconnects known devices")
	fs.Var(&f.serverPIDs, "server-pid", "the server's pid, comma-separated for several: RSS and CPU from /proc at start and end")
	fs.BoolVar(&f.ceiling, "ceiling", false, "also run the workload against a minimal coder/websocket server and report ratios to it")
	fs.BoolVar(&f.jsonOut, "json", false, "print a one-line JSON summary instead of a table")
	fs.StringVar(&f.redisAddr, "redis-addr", "", "suite: Redis for the registry of the serve edges and herald dev (without it and --postgres-url every step runs on herald dev and d2d is skipped)")
	fs.StringVar(&f.postgresURL, "postgres-url", "", "suite: Postgres for the device list of the serve edges")
	fs.BoolVar(&f.quick, "quick", false, "suite: a short run with a tenth of the devices, to check the set works")
	fs.StringVar(&f.adminURL, "admin-url", "", "soak: the server's admin base URL, for go_goroutines and go_memstats_heap_inuse_bytes from its /metrics")
	fs.DurationVar(&f.sample, "sample", 10*time.Second, "soak: the interval between samples of the server")
	fs.Float64Var(&f.churn, "churn", 0.1, "soak: the share of the devices that reconnect every --sample interval")
	fs.Float64Var(&f.d2dShare, "d2d-share", 0.5, "soak: the share of the messages sent device to device; the rest are sync pushes")
	fs.Float64Var(&f.tolerance, "flat-tolerance", 0.05, "soak: a series is flat when it grows by less than this share of its mean over the second half")
	fs.BoolVar(&f.worker, "worker", false, "internal: run as a worker of a parent bench (config on stdin)")
	fs.BoolVar(&f.ceilingServer, "ceiling-server", false, "internal: run the ceiling server until stdin closes")
	fs.StringVar(&f.ceilingAddr, "ceiling-addr", "127.0.0.1:0", "internal: the ceiling server's listen address")

	mode := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	if err := parse(fs, args); err != nil {
		return err
	}
	if mode == "" && fs.NArg() == 1 {
		mode = fs.Arg(0)
	} else if err := requireArgs(fs, 0, 0); err != nil {
		return err
	}
	switch {
	case f.worker:
		return runBenchWorker(ctx, os.Stdin, stdout)
	case f.ceilingServer:
		return runCeilingServer(ctx, f.ceilingAddr, os.Stdin, stdout)
	}
	c.Mode = mode
	c.TokenSecrets = secrets
	c.SourceAddrs = sources
	c.Run = newRunID()
	pids, err := parsePIDs(f.serverPIDs)
	if err != nil {
		return err
	}
	if mode == "soak" {
		return runSoak(ctx, &f, pids, stdout, stderr)
	}
	if mode == "suite" {
		return runSuite(ctx, &f, stdout, stderr)
	}
	if err := c.validate(); err != nil {
		return err
	}
	s, err := benchOnce(ctx, *c, pids, f.ceiling, stderr)
	if err != nil {
		return err
	}
	if f.jsonOut {
		return writeSummaryJSON(stdout, s)
	}
	s.writeTable(stdout)
	return nil
}

// validate checks a config and fills the mode's defaults.
func (c *benchConfig) validate() error {
	if c.Mode == "" {
		return usagef("a mode is required: %s (see -h)", strings.Join(benchModes, ", "))
	}
	if !slices.Contains(benchModes, c.Mode) {
		return usagef("unknown mode %q: want %s, suite or soak", c.Mode, strings.Join(benchModes, ", "))
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return usagef("--url %q: want http:// or https://", c.URL)
	}
	if c.URL2 != "" && !strings.HasPrefix(c.URL2, "http://") && !strings.HasPrefix(c.URL2, "https://") {
		return usagef("--url2 %q: want http:// or https://", c.URL2)
	}
	c.URL, c.URL2 = strings.TrimRight(c.URL, "/"), strings.TrimRight(c.URL2, "/")
	switch {
	case c.Devices < 1:
		return usagef("--devices must be at least 1")
	case c.Procs < 1:
		return usagef("--procs must be at least 1")
	case c.Duration <= 0:
		return usagef("--duration must be positive")
	case c.Settle < 0 || c.Drain < 0:
		return usagef("--settle and --drain must not be negative")
	case c.Concurrency < 0:
		return usagef("--concurrency must not be negative")
	case c.Batch < 1:
		return usagef("--batch must be at least 1")
	case c.Batch > 1 && c.Mode != "push":
		return usagef("--batch is for push only")
	case c.Warm && c.Mode != "connect":
		return usagef("--warm is for connect only")
	case math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || (c.sends() && c.Rate <= 0):
		return usagef("--rate must be a positive number")
	}
	for _, a := range c.SourceAddrs {
		if net.ParseIP(a) == nil {
			return usagef("--source-addrs: %q is not an IP address", a)
		}
	}
	switch c.Mode {
	case "d2d":
		if c.Devices < 2 || c.Devices%2 != 0 {
			return usagef("d2d: --devices must be an even number of at least 2 (pairs of sender and receiver)")
		}
	case "fanout":
		if c.Fanout < 2 {
			return usagef("fanout: --fanout must be at least 2 (a sender and a sibling)")
		}
		if c.Devices < c.Fanout || c.Devices%c.Fanout != 0 {
			return usagef("fanout: --devices (%d) must be a multiple of --fanout (%d)", c.Devices, c.Fanout)
		}
	}
	if per := (c.connections() + c.Procs - 1) / c.Procs; per > maxConnsPerProc {
		return usagef("%d connections over %d procs is %d a process; one process holds at most %d: raise --procs", c.connections(), c.Procs, per, maxConnsPerProc)
	}
	if c.units() < c.Procs {
		return usagef("--procs (%d) is more than the %d units of work to spread", c.Procs, c.units())
	}
	if c.Concurrency == 0 {
		c.Concurrency = map[string]int{"idle": 128, "connect": 256, "push": 256, "async": 256, "d2d": 64, "fanout": 64}[c.Mode]
	}
	c.Concurrency = max(c.Concurrency, c.Procs)
	return nil
}

// maxConnsPerProc leaves room under the 20,000 open files of a process for the
// HTTP connections of the REST calls and the process's own files.
const maxConnsPerProc = 19500

// sends reports whether the mode sends messages at --rate.
func (c *benchConfig) sends() bool {
	return c.Mode == "push" || c.Mode == "async" || c.Mode == "d2d" || c.Mode == "fanout"
}

// unitSize is the number of devices in one unit of work: a device, a d2d pair,
// a fanout account. Units are what the workers split.
func (c *benchConfig) unitSize() int {
	switch c.Mode {
	case "d2d":
		return 2
	case "fanout":
		return c.Fanout
	}
	return 1
}

func (c *benchConfig) units() int       { return c.Devices / c.unitSize() }
func (c *benchConfig) connections() int { return c.units() * c.unitSize() }

// messages is how many messages a run sends at rate over the duration.
func messages(rate float64, d time.Duration) int {
	return int(math.Round(rate * d.Seconds()))
}

// newRunID returns a short random prefix for the run's account ids.
func newRunID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return "b" + hex.EncodeToString(b)
}

// parsePIDs parses --server-pid.
func parsePIDs(l listFlag) ([]int, error) {
	var pids []int
	for _, s := range l {
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 {
			return nil, usagef("--server-pid: %q is not a pid", s)
		}
		pids = append(pids, p)
	}
	return pids, nil
}
