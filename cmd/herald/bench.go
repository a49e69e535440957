package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/heraldpush/herald/bench"
	"github.com/heraldpush/herald/bench/ceiling"
	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/settings"
)

// herald bench is the load tool of package bench; this command only reads its
// flags into a bench.Config. The binary is also the tool's child processes:
// `herald bench --worker` (a worker of a parent bench, its spec on stdin) and
// `herald bench --ceiling-server` (the ceiling server, package bench/ceiling).

const benchUsage = `usage: herald bench MODE [flags]

modes:
  idle      hold --devices connections (the server pings them) for --duration
  connect   a reconnect storm: open --devices connections as fast as --concurrency allows
  push      sync pushes through POST /v1/push (--batch N: POST /v1/push/batch) at --rate
  async     POST /v1/messages at --rate (--batch N: POST /v1/messages/batch); latency to the device's receipt of the msg
  d2d       device pairs, sender on --url and receiver on --url2, msgs at --rate in all
  fanout    accounts of --fanout devices; one device of each sends to its siblings
  topic     fan-out: --devices (accounts of one device, spread over --edges) subscribe
            to one topic; POST /v1/topics/{topic}/messages at --rate for --duration,
            one at a time; the time from a publish to its last delivery, link
            frames per publish (--admin-urls); --push-rate R then reaches the
            same devices by one POST /v1/push each at R and compares
  drain     store-and-forward: --stored pushes stored for each of --devices offline
            devices, which then connect and read them; the drain rate and the
            time to the last message (herald only, no --ceiling)
  suite     the standard set (make bench): with --redis-addr and --postgres-url, one
            serve edge (two for d2d) on them, herald dev for async and fanout;
            each step beside its ceiling
  pool      FILE...: the --json summaries of several runs (one a line) taken as one:
            their delivery latencies merged and their deliveries over their
            servers' CPU seconds, one line of JSON; pool each build's rounds to
            compare two builds with one statistic
  soak      a steady mix of sync pushes and d2d msgs at --rate with reconnect churn
            for --duration, against a server given by --admin-url and --server-pid:
            its goroutines, heap and RSS every --sample, whether they stay flat,
            and the accepted messages lost (exit 1 if any)

flags:
`

// runBench is herald bench.
func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var c bench.Config
	var (
		secrets, sources, serverPIDs settings.List
		edges, adminURLs             settings.List
		worker, ceilingServer        bool
		ceilingAddr                  string
	)
	fs := settings.NewFlags("bench", stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), benchUsage)
		fs.PrintDefaults()
	}
	fs.StringVar(&c.URL, "url", "http://127.0.0.1:8080", "the server's public base URL (devices and REST API)")
	fs.StringVar(&c.URL2, "url2", "", "d2d and fanout: a second edge's base URL; the receivers connect there")
	fs.Var(&edges, "edges", "push, topic: the edges' public base URLs, comma-separated; device i connects to edge i mod their number (REST calls go to --url)")
	fs.Var(&adminURLs, "admin-urls", "push, topic: the edges' admin base URLs, comma-separated, for herald_edge_link_frames_total (link frames per message)")
	fs.StringVar(&c.Topic, "topic", "", "topic: the topic to publish to (default: bench.<run id>)")
	fs.Float64Var(&c.PushRate, "push-rate", 0, "topic: also reach the same number of devices by one account push each at this rate, and compare (0: no comparison)")
	fs.StringVar(&c.Key, "key", settings.DevAPIKey, "API key for push and async")
	fs.Var(&secrets, "token-secret", "HS256 secret to mint device tokens, as kid:secret or secret (default: the development secret)")
	fs.IntVar(&c.Devices, "devices", 100, "device connections (d2d: two per pair; fanout: --fanout per account)")
	fs.Float64Var(&c.Rate, "rate", 1000, "messages per second, over all devices (push, async, d2d, fanout; topic: publishes per second)")
	fs.DurationVar(&c.Duration, "duration", 10*time.Second, "how long idle holds and the message modes send")
	fs.IntVar(&c.Procs, "procs", 1, "worker processes to spread the connections over (one process holds at most about 19,500)")
	fs.Var(&sources, "source-addrs", "local IPs to dial from, comma-separated (127.0.0.1,127.0.0.2,...): each has its own ephemeral ports")
	fs.IntVar(&c.Concurrency, "concurrency", 0, "concurrent dials (connect), requests (push, async) or writers (d2d, fanout), over all procs (0: the mode's default)")
	fs.IntVar(&c.Batch, "batch", 1, "push, async: messages per request; more than 1 uses POST /v1/push/batch or POST /v1/messages/batch")
	fs.BoolVar(&c.Keys, "keys", false, "async: give each message an idempotency key of its own, as the sender SDKs do (the Idempotency-Key header, or idempotency_key in a batch)")
	fs.IntVar(&c.Fanout, "fanout", 10, "fanout: devices per account, the sender included")
	fs.IntVar(&c.Stored, "stored", 20, "drain: messages stored for each device before it connects (the server's inbox keeps at most its --inbox-max-messages)")
	fs.DurationVar(&c.Settle, "settle", 2*time.Second, "wait after connecting before measuring")
	fs.DurationVar(&c.Drain, "drain", 5*time.Second, "how long to wait for outstanding deliveries after the last send (drain: after the last connect)")
	fs.BoolVar(&c.Warm, "warm", false, "connect: connect and close every device once first, so the storm reconnects known devices")
	fs.Var(&serverPIDs, "server-pid", "the server's pid, comma-separated for several: RSS and CPU from /proc at start and end")
	fs.BoolVar(&c.Ceiling, "ceiling", false, "also run the workload against a minimal coder/websocket server and report ratios to it")
	fs.BoolVar(&c.JSON, "json", false, "print a one-line JSON summary instead of a table")
	fs.StringVar(&c.RedisAddr, "redis-addr", "", "suite: Redis for the registry of the serve edges and herald dev (without it and --postgres-url every step runs on herald dev and d2d is skipped)")
	fs.StringVar(&c.PostgresURL, "postgres-url", "", "suite: Postgres for the device list of the serve edges")
	fs.BoolVar(&c.Quick, "quick", false, "suite: a short run with a tenth of the devices, to check the set works")
	fs.StringVar(&c.AdminURL, "admin-url", "", "soak: the server's admin base URL, for go_goroutines and go_memstats_heap_inuse_bytes from its /metrics")
	fs.DurationVar(&c.Sample, "sample", 10*time.Second, "soak: the interval between samples of the server")
	fs.Float64Var(&c.Churn, "churn", 0.1, "soak: the share of the devices that reconnect every --sample interval")
	fs.Float64Var(&c.D2DShare, "d2d-share", 0.5, "soak: the share of the messages sent device to device; the rest are sync pushes")
	fs.Float64Var(&c.FlatTolerance, "flat-tolerance", 0.05, "soak: a series is flat when it grows by less than this share of its mean over the second half")
	fs.BoolVar(&worker, "worker", false, "internal: run as a worker of a parent bench (config on stdin)")
	fs.BoolVar(&ceilingServer, "ceiling-server", false, "internal: run the ceiling server until stdin closes")
	fs.StringVar(&ceilingAddr, "ceiling-addr", "127.0.0.1:0", "internal: the ceiling server's listen address")

	mode := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		mode, args = args[0], args[1:]
	}
	if mode == "pool" {
		err := bench.Pool(args, stdout)
		var ue *bench.UsageError
		if errors.As(err, &ue) {
			return settings.UsageError{Err: err}
		}
		return err
	}
	if err := settings.Parse(fs, args); err != nil {
		return err
	}
	if mode == "" && fs.NArg() == 1 {
		mode = fs.Arg(0)
	} else if err := settings.RequireArgs(fs, 0, 0); err != nil {
		return err
	}
	switch {
	case worker:
		return bench.RunWorker(ctx, os.Stdin, stdout)
	case ceilingServer:
		return ceiling.Serve(ctx, ceilingAddr, os.Stdin, stdout)
	}
	c.Mode = mode
	c.TokenKey = token.HS256Key{Secret: []byte(settings.DevTokenSecret)}
	if len(secrets) > 0 {
		c.TokenKey = settings.HS256Keys(secrets)[0]
	}
	c.SourceAddrs = sources
	c.Edges, c.AdminURLs = edges, adminURLs
	pids, err := parsePIDs(serverPIDs)
	if err != nil {
		return err
	}
	c.ServerPIDs = pids
	// Without the path, a run that needs child processes says so when it starts them.
	if bin, err := os.Executable(); err == nil {
		c.Binary = bin
	}
	err = bench.Run(ctx, c, stdout, stderr)
	var ue *bench.UsageError
	if errors.As(err, &ue) {
		return settings.UsageError{Err: err}
	}
	return err
}

// parsePIDs parses --server-pid.
func parsePIDs(l settings.List) ([]int, error) {
	var pids []int
	for _, s := range l {
		p, err := strconv.Atoi(s)
		if err != nil || p <= 0 {
			return nil, settings.Usagef("--server-pid: %q is not a pid", s)
		}
		pids = append(pids, p)
	}
	return pids, nil
}
