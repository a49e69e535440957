package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/heraldpush/herald/edge/token"
	"github.com/heraldpush/herald/protocol"
)

// modes are the workloads of one run, in the order of herald bench's help
// text; "suite" and "soak" are the two modes that run something else.
var modes = []string{"idle", "connect", "push", "async", "d2d", "fanout"}

// drainMode is the reconnect drain of store-and-forward (drain.go): pushes
// stored for offline devices, then the devices connect and read them. It runs
// against herald only: the ceiling server stores nothing.
const drainMode = "drain"

// Config is one invocation of the load tool: the flags of herald bench, which
// are named in its usage errors. The zero value of a field is not a default:
// the command fills every field.
type Config struct {
	// Mode is the workload: idle, connect, push, async, d2d, fanout, topic,
	// drain, suite (the standard set, each step against a fresh server) or soak.
	Mode string
	// URL is the server's public base URL (devices and REST API); URL2, if
	// set, a second edge's, where the receivers of d2d and fanout connect.
	URL, URL2 string
	// Edges, if set, are the public base URLs of the edges the devices of
	// push and topic connect to, device i to edge i mod len(Edges); the REST
	// calls still go to URL.
	Edges []string
	// AdminURLs (push, topic) are the edges' admin base URLs, whose
	// herald_edge_link_frames_total is read before and after the run.
	AdminURLs []string
	// Topic (topic) is the topic published to; empty: one named after the
	// run.
	Topic string
	// PushRate (topic), if above 0, also reaches the same number of devices
	// by account pushes, one POST /v1/push each at this rate, and compares.
	PushRate float64
	// Key is the API key for push and async.
	Key string
	// TokenKey signs the device tokens the bench mints.
	TokenKey token.HS256Key
	// Devices is the number of device connections (d2d: two per pair;
	// fanout: Fanout per account; soak: two per account).
	Devices int
	// Rate is messages per second over all devices (topic: publishes per
	// second).
	Rate float64
	// Duration is how long idle holds, the message modes send and soak runs.
	Duration time.Duration
	// Procs is the number of worker processes the connections are spread
	// over; with more than one they are children running Binary.
	Procs int
	// SourceAddrs are local IPs to dial from, each with its own ephemeral
	// ports; none: the system's choice.
	SourceAddrs []string
	// Concurrency is concurrent dials, requests or writers over all procs;
	// 0: the mode's default.
	Concurrency int
	// Batch is messages per push or async request; more than 1 uses POST
	// /v1/push/batch or POST /v1/messages/batch.
	Batch int
	// Keys (async) gives each message an idempotency key of its own, as the
	// sender SDKs do: the Idempotency-Key header of POST /v1/messages, or
	// the message's idempotency_key in a batch.
	Keys bool
	// Fanout is the devices per account of fanout, the sender included.
	Fanout int
	// Stored (drain) is the messages stored for each device before it
	// connects.
	Stored int
	// Settle is the wait after connecting before measuring; Drain the wait
	// for outstanding deliveries after the last send.
	Settle, Drain time.Duration
	// Warm (connect): connect and close every device once before the storm,
	// so that it reconnects devices the server already lists.
	Warm bool
	// ServerPIDs are the server's processes, whose RSS and CPU are read from
	// /proc; soak needs exactly one.
	ServerPIDs []int
	// Ceiling also runs the workload against the ceiling server (package
	// bench/ceiling, a child running Binary) and reports ratios to it.
	Ceiling bool
	// JSON prints one line of JSON a run instead of a table.
	JSON bool
	// RedisAddr and PostgresURL (suite) are the stores of the serve edges the
	// suite starts; without both, every step runs on herald dev and d2d,
	// which needs two edges, is skipped.
	RedisAddr, PostgresURL string
	// Quick (suite) runs a tenth of the devices for a short time, to check
	// that the set works.
	Quick bool
	// AdminURL (soak) is the server's admin base URL, for its /metrics.
	AdminURL string
	// Sample (soak) is the interval between samples of the server.
	Sample time.Duration
	// Churn (soak) is the share of the devices that reconnect every Sample.
	Churn float64
	// D2DShare (soak) is the share of the messages sent device to device; the
	// rest are sync pushes.
	D2DShare float64
	// FlatTolerance (soak) is the growth over the second half of the run, as
	// a share of a series' mean, below which the series is flat.
	FlatTolerance float64
	// Binary is the herald binary that the bench runs as its children:
	// `herald bench --worker`, `herald bench --ceiling-server`, and the
	// suite's `herald dev` and `herald serve`. Empty: a run that needs a child
	// fails.
	Binary string
}

// UsageError is a configuration that cannot run: an unknown mode, a value out
// of range, flags that do not go together. herald bench exits 2 on it.
type UsageError struct{ msg string }

// Error returns the message, which names the flag at fault.
func (e *UsageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// Run runs cfg: one workload against the server (and its ceiling), the suite
// or a soak. It prints the report to stdout, a table or JSON, and its progress
// to stderr. A soak that lost accepted messages is an error.
func Run(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	switch cfg.Mode {
	case "soak":
		return runSoak(ctx, cfg, stdout, stderr)
	case "suite":
		return runSuite(ctx, cfg, stdout, stderr)
	}
	w := cfg.workload()
	if err := w.validate(); err != nil {
		return err
	}
	if cfg.Ceiling && w.Mode == drainMode {
		return usagef("drain: --ceiling cannot be used: the ceiling server stores nothing")
	}
	if cfg.Ceiling && w.Mode == topicMode {
		return usagef("topic: --ceiling cannot be used: the ceiling server has no topics (--push-rate compares with account pushes)")
	}
	s, err := runOnce(ctx, w, cfg.ServerPIDs, cfg.Ceiling, cfg.Binary, stderr)
	if err != nil {
		return err
	}
	if cfg.JSON {
		return writeSummaryJSON(stdout, s)
	}
	s.writeTable(stdout)
	return nil
}

// workload is one run of a workload. It travels to the worker processes as
// JSON on their stdin, so it holds no secrets that the command line would show.
type workload struct {
	Mode        string         `json:"mode"`
	URL         string         `json:"url"`
	URL2        string         `json:"url2,omitempty"`
	Edges       []string       `json:"edges,omitempty"`
	AdminURLs   []string       `json:"admin_urls,omitempty"`
	Topic       string         `json:"topic,omitempty"`
	PushRate    float64        `json:"push_rate,omitempty"`
	Key         string         `json:"key"`
	TokenKey    token.HS256Key `json:"token_key"`
	Devices     int            `json:"devices"`
	Rate        float64        `json:"rate"`
	Duration    time.Duration  `json:"duration"`
	Procs       int            `json:"procs"`
	SourceAddrs []string       `json:"source_addrs,omitempty"`
	Concurrency int            `json:"concurrency"`
	Batch       int            `json:"batch"`
	Keys        bool           `json:"keys,omitempty"`
	Fanout      int            `json:"fanout"`
	Stored      int            `json:"stored,omitempty"`
	Settle      time.Duration  `json:"settle"`
	Drain       time.Duration  `json:"drain"`
	// Warm (connect): connect and close every device once before the storm, so
	// that the storm reconnects devices the server already lists, as after a
	// deploy, instead of adding new ones.
	Warm bool `json:"warm,omitempty"`
	// Run prefixes the bench's account ids, so that two runs against one server
	// never replace each other's connections.
	Run string `json:"run"`
}

// workload is the workload of cfg, with a fresh run id.
func (cfg Config) workload() workload {
	return workload{
		Mode: cfg.Mode, URL: cfg.URL, URL2: cfg.URL2, Edges: cfg.Edges, AdminURLs: cfg.AdminURLs, Topic: cfg.Topic, PushRate: cfg.PushRate,
		Key: cfg.Key, TokenKey: cfg.TokenKey,
		Devices: cfg.Devices, Rate: cfg.Rate, Duration: cfg.Duration, Procs: cfg.Procs, SourceAddrs: cfg.SourceAddrs,
		Concurrency: cfg.Concurrency, Batch: cfg.Batch, Keys: cfg.Keys, Fanout: cfg.Fanout, Stored: cfg.Stored, Settle: cfg.Settle, Drain: cfg.Drain,
		Warm: cfg.Warm, Run: newRunID(),
	}
}

// validate checks a config and fills the mode's defaults.
func (c *workload) validate() error {
	if c.Mode == "" {
		return usagef("a mode is required: %s, %s, %s (see -h)", strings.Join(modes, ", "), topicMode, drainMode)
	}
	if !slices.Contains(modes, c.Mode) && c.Mode != drainMode && c.Mode != topicMode {
		return usagef("unknown mode %q: want %s, %s, %s, suite or soak", c.Mode, strings.Join(modes, ", "), topicMode, drainMode)
	}
	if !strings.HasPrefix(c.URL, "http://") && !strings.HasPrefix(c.URL, "https://") {
		return usagef("--url %q: want http:// or https://", c.URL)
	}
	if c.URL2 != "" && !strings.HasPrefix(c.URL2, "http://") && !strings.HasPrefix(c.URL2, "https://") {
		return usagef("--url2 %q: want http:// or https://", c.URL2)
	}
	c.URL, c.URL2 = strings.TrimRight(c.URL, "/"), strings.TrimRight(c.URL2, "/")
	for _, l := range [][]string{c.Edges, c.AdminURLs} {
		for i, u := range l {
			if !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
				return usagef("--edges and --admin-urls: %q: want http:// or https://", u)
			}
			l[i] = strings.TrimRight(u, "/")
		}
	}
	if len(c.Edges) > 0 && c.Mode != "push" && c.Mode != topicMode {
		return usagef("--edges is for push and topic only")
	}
	if c.Mode == topicMode {
		if err := c.validateTopic(); err != nil {
			return err
		}
	} else if c.PushRate != 0 || c.Topic != "" {
		return usagef("--topic and --push-rate are for topic only")
	}
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
	case c.Batch > 1 && c.Mode != "push" && c.Mode != "async":
		return usagef("--batch is for push and async only")
	case c.Keys && c.Mode != "async":
		return usagef("--keys is for async only")
	case c.Warm && c.Mode != "connect":
		return usagef("--warm is for connect only")
	case c.Mode == drainMode && (c.Stored < 1 || c.Stored > maxStored):
		return usagef("drain: --stored must be between 1 and %d", maxStored)
	case c.Mode == drainMode && c.Devices > maxDrainMessages/c.Stored:
		return usagef("drain: --devices times --stored must be at most %d messages", maxDrainMessages)
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
		c.Concurrency = map[string]int{"idle": 128, "connect": 256, "push": 256, "async": 256, "d2d": 64, "fanout": 64, drainMode: 256, topicMode: 256}[c.Mode]
	}
	c.Concurrency = max(c.Concurrency, c.Procs)
	return nil
}

// maxStored bounds drain's --stored and maxDrainMessages its messages in all
// (--devices times --stored), which the workers keep a table of. A server's
// inbox keeps at most its MaxMessages a device (100 by default) and drops the
// oldest beyond: the delivered ratio shows it.
const (
	maxStored        = 10000
	maxDrainMessages = 10_000_000
)

// maxConnsPerProc leaves room under the 20,000 open files of a process for the
// HTTP connections of the REST calls and the process's own files.
const maxConnsPerProc = 19500

// sends reports whether the mode sends messages at --rate.
func (c *workload) sends() bool {
	return c.Mode == "push" || c.Mode == "async" || c.Mode == "d2d" || c.Mode == "fanout" || c.Mode == topicMode
}

// unitSize is the number of devices in one unit of work: a device, a d2d pair,
// a fanout account. Units are what the workers split.
func (c *workload) unitSize() int {
	switch c.Mode {
	case "d2d":
		return 2
	case "fanout":
		return c.Fanout
	}
	return 1
}

func (c *workload) units() int       { return c.Devices / c.unitSize() }
func (c *workload) connections() int { return c.units() * c.unitSize() }

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

// mintToken signs a device token for a bench device, valid for a day: longer
// than any run, granting topics (none: no topics claim).
func mintToken(key token.HS256Key, account, device string, topics ...string) (string, error) {
	iss, err := token.NewHS256Issuer(key)
	if err != nil {
		return "", err
	}
	return iss.IssueTopics(account, device, 24*time.Hour, topics)
}

// validateTopic checks a topic run and names its topic after the run if none
// is given.
func (c *workload) validateTopic() error {
	if c.Topic == "" {
		c.Topic = "bench." + c.Run
	}
	switch {
	case !protocol.ValidTopic(c.Topic):
		return usagef("topic: --topic %q is not a topic name", c.Topic)
	case math.IsNaN(c.PushRate) || math.IsInf(c.PushRate, 0) || c.PushRate < 0:
		return usagef("topic: --push-rate must be a positive number, or 0 for no comparison")
	case c.Rate > 0 && messages(c.Rate, c.Duration) < 1:
		return usagef("topic: --rate times --duration must be at least one publish")
	case messages(c.Rate, c.Duration) > maxPublishes:
		return usagef("topic: --rate times --duration must be at most %d publishes", maxPublishes)
	}
	return nil
}

// maxPublishes bounds the publishes of a topic run: each worker reports three
// figures a publish.
const maxPublishes = 100_000
