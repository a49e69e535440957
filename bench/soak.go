package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/heraldpush/herald/edge/token"
)

// herald bench soak holds a steady mixed load on a running server for a set
// time and watches whether the server's goroutines, heap and RSS stay flat:
// sync pushes and device-to-device msgs between the two devices of each
// account, at --rate, while a fraction of the devices reconnects every
// --sample interval. Every --sample it reads go_goroutines and
// go_memstats_heap_inuse_bytes from the server's /metrics (--admin-url) and
// VmRSS from /proc/<--server-pid>/status, and at the end it fits a line to
// each series over the second half of the run and counts the accepted
// messages that never arrived.
//
// The goroutines, all owned by runSoak, which stops and waits for them: one
// reader per device connection, --concurrency senders fed by the pacing loop,
// the churn loop and the sampler.

// soakConfig is one soak run.
type soakConfig struct {
	URL, AdminURL, Key string
	TokenKey           token.HS256Key
	PID                int
	// Devices are in accounts of two, "a" and "b".
	Devices int
	Rate    float64
	// D2DShare is the share of the messages sent device to device; the rest
	// are sync pushes.
	D2DShare float64
	// Churn is the share of the devices that reconnect every Sample interval,
	// one at a time, spread over it.
	Churn            float64
	Duration, Sample time.Duration
	// Drain bounds the wait for outstanding messages: before a churned
	// device closes, and after the last send.
	Drain time.Duration
	// Tolerance is the growth over the second half of the run, as a share of
	// a series' mean, below which the series is flat.
	Tolerance   float64
	Concurrency int
	Run         string
}

// soakConfigOf takes a soak run's config from the bench's.
func soakConfigOf(cfg Config) (soakConfig, error) {
	pids := cfg.ServerPIDs
	c := soakConfig{
		URL: strings.TrimRight(cfg.URL, "/"), AdminURL: strings.TrimRight(cfg.AdminURL, "/"), Key: cfg.Key,
		TokenKey: cfg.TokenKey, Devices: cfg.Devices, Rate: cfg.Rate, D2DShare: cfg.D2DShare,
		Churn: cfg.Churn, Duration: cfg.Duration, Sample: cfg.Sample, Drain: cfg.Drain, Tolerance: cfg.FlatTolerance,
		Concurrency: cfg.Concurrency, Run: newRunID(),
	}
	if c.Concurrency == 0 {
		c.Concurrency = 32
	}
	validURL := func(u string) bool { return strings.HasPrefix(u, "http://") || strings.HasPrefix(u, "https://") }
	switch {
	case !validURL(c.URL):
		return c, usagef("--url %q: want http:// or https://", c.URL)
	case c.AdminURL == "":
		return c, usagef("soak: --admin-url is required: the server's admin listener, for its /metrics")
	case !validURL(c.AdminURL):
		return c, usagef("--admin-url %q: want http:// or https://", c.AdminURL)
	case len(pids) != 1:
		return c, usagef("soak: --server-pid is required, one pid: the server's RSS comes from /proc")
	case c.Devices < 2 || c.Devices%2 != 0:
		return c, usagef("soak: --devices must be an even number of at least 2 (accounts of two devices)")
	case math.IsNaN(c.Rate) || math.IsInf(c.Rate, 0) || c.Rate <= 0:
		return c, usagef("--rate must be a positive number")
	case c.Duration <= 0 || c.Sample <= 0:
		return c, usagef("--duration and --sample must be positive")
	case c.Sample > c.Duration:
		return c, usagef("--sample (%v) must not be longer than --duration (%v)", c.Sample, c.Duration)
	case c.Drain < 0:
		return c, usagef("--drain must not be negative")
	case !(c.D2DShare >= 0 && c.D2DShare <= 1):
		return c, usagef("--d2d-share must be between 0 and 1")
	case !(c.Churn >= 0 && c.Churn <= 1):
		return c, usagef("--churn must be between 0 and 1")
	case !(c.Tolerance > 0 && c.Tolerance < 1):
		return c, usagef("--flat-tolerance must be between 0 and 1, exclusive")
	case c.Concurrency < 0:
		return c, usagef("--concurrency must not be negative")
	}
	c.PID = pids[0]
	return c, nil
}

// runSoak is herald bench soak.
func runSoak(ctx context.Context, cfg Config, stdout, stderr io.Writer) error {
	sc, err := soakConfigOf(cfg)
	if err != nil {
		return err
	}
	s := newSoak(sc, stderr)
	defer s.api.CloseIdleConnections()
	sum, err := s.run(ctx)
	if sum == nil {
		return err
	}
	if cfg.JSON {
		b, err := json.Marshal(sum)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s\n", b)
	} else {
		sum.writeTable(stdout)
	}
	if sum.Lost > 0 {
		return fmt.Errorf("soak: %d accepted messages were lost", sum.Lost)
	}
	return err
}

// soak is one soak run in progress.
type soak struct {
	cfg      soakConfig
	progress io.Writer
	api      *http.Client // pushes and /metrics
	dialer   *http.Client // WebSocket handshakes
	start    time.Time
	devices  []*soakDevice // a and b of account i at 2i and 2i+1

	readers sync.WaitGroup // one reader per connection

	mu       sync.Mutex
	msgs     map[int]*soakMsg // guarded by mu: messages with no outcome yet, or accepted and not arrived
	counts   soakCounts       // guarded by mu
	statuses map[string]int64 // guarded by mu: the outcomes of pushes and receipts
	firstErr string           // guarded by mu

	samplesMu sync.Mutex
	samples   []soakSample // guarded by samplesMu
}

// soakCounts are a soak run's message and connection counts.
type soakCounts struct {
	Sent, Pushes, D2D, Skipped, SendErrors   int64
	Accepted, Delivered, Duplicates, Unknown int64
	Reconnects, Disconnects, ConnectErrors   int64
}

// soakMsg is a message the soak sent whose outcome or arrival is awaited.
type soakMsg struct {
	to, from          *soakDevice // from: the sending device of a d2d msg, nil for a push
	accepted, arrived bool
}

func newSoak(cfg soakConfig, progress io.Writer) *soak {
	s := &soak{
		cfg: cfg, progress: progress, msgs: map[int]*soakMsg{}, statuses: map[string]int64{},
		api: &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			MaxIdleConns: cfg.Concurrency + 2, MaxIdleConnsPerHost: cfg.Concurrency + 2, IdleConnTimeout: time.Minute,
		}},
		dialer: &http.Client{Transport: &http.Transport{}},
	}
	for i := range cfg.Devices {
		s.devices = append(s.devices, &soakDevice{unit: i / 2, id: string(rune('a' + i%2))})
	}
	return s
}

// run connects the devices, holds the load for the duration while sampling,
// drains, and summarizes. Every goroutine it starts has returned when it
// returns.
func (s *soak) run(ctx context.Context) (*soakSummary, error) {
	sum := s.newSummary()
	fmt.Fprintf(s.progress, "bench soak: connecting %d devices to %s\n", len(s.devices), s.cfg.URL)
	defer s.closeAll()
	eachConcurrently(ctx, s.devices, s.cfg.Concurrency, func(d *soakDevice) {
		if err := s.connect(ctx, d); err != nil {
			s.noteErr("connect: " + err.Error())
		}
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if n := s.connectedCount(); n < len(s.devices) {
		return nil, fmt.Errorf("soak: %d of %d devices connected: %s", n, len(s.devices), s.errText())
	}
	s.start = time.Now()
	fmt.Fprintf(s.progress, "bench soak: running for %v, a sample every %v\n", s.cfg.Duration, s.cfg.Sample)
	writeSampleHeader(s.progress)
	s.takeSample(ctx, false)

	runCtx, stopRun := context.WithTimeout(ctx, s.cfg.Duration)
	defer stopRun()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		s.sampleLoop(runCtx)
	}()
	go func() {
		defer wg.Done()
		s.churnLoop(runCtx)
	}()
	s.load(runCtx)
	stopRun()
	wg.Wait()
	// Interrupted (Ctrl-C), the run still drains, for at most --drain, and
	// reports what it saw.
	if ctx.Err() != nil {
		sum.Notes = append(sum.Notes, fmt.Sprintf("interrupted after %v of %v: the figures cover that part", time.Since(s.start).Round(time.Second), s.cfg.Duration))
	}
	s.drain(context.WithoutCancel(ctx))
	s.takeSample(context.WithoutCancel(ctx), true)
	s.finish(sum)
	return sum, ctx.Err()
}

// load sends at the rate until ctx ends, through cfg.Concurrency senders,
// and returns when they have all returned.
func (s *soak) load(ctx context.Context) {
	jobs := make(chan int, s.cfg.Concurrency)
	var wg sync.WaitGroup
	for range s.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for seq := range jobs {
				buf = s.send(ctx, buf[:0], seq)
			}
		}()
	}
	perMsg := float64(time.Second) / s.cfg.Rate
	start := time.Now()
pace:
	for seq := 0; ; seq++ {
		due := start.Add(time.Duration(float64(seq) * perMsg))
		if d := time.Until(due); d > time.Millisecond && !sleepCtx(ctx, d) {
			break
		}
		select {
		case jobs <- seq:
		case <-ctx.Done():
			break pace
		}
	}
	close(jobs)
	wg.Wait()
}

// drain waits, up to --drain, until every message has its outcome and every
// accepted one has arrived.
func (s *soak) drain(ctx context.Context) {
	deadline := time.Now().Add(s.cfg.Drain)
	for time.Now().Before(deadline) && s.pending() > 0 && sleepCtx(ctx, 5*time.Millisecond) {
	}
}

func (s *soak) pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func (s *soak) noteErr(e string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstErr == "" {
		s.firstErr = e
	}
}

func (s *soak) errText() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.firstErr == "" {
		return "no error recorded"
	}
	return s.firstErr
}

// newSummary starts the summary of the run.
func (s *soak) newSummary() *soakSummary {
	host, _ := os.Hostname()
	sum := &soakSummary{
		Mode: "soak", Started: time.Now().UTC().Truncate(time.Second), Host: host, CPUs: runtime.NumCPU(),
		URL: s.cfg.URL, AdminURL: s.cfg.AdminURL, PID: s.cfg.PID, Devices: s.cfg.Devices, Rate: s.cfg.Rate,
		D2DShare: s.cfg.D2DShare, Churn: s.cfg.Churn, Duration: s.cfg.Duration.String(), Sample: s.cfg.Sample.String(),
		Tolerance: s.cfg.Tolerance,
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if f := strings.Fields(string(b)); len(f) >= 3 {
			sum.LoadAvg = strings.Join(f[:3], " ")
		}
	}
	return sum
}
