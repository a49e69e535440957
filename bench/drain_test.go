package bench

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/heraldpush/herald/bench/ceiling"
)

// TestBenchDrain stores messages for offline devices of herald dev (its inbox
// in memory), connects them and checks that each stored message was counted
// once, with the drain's figures. No timing is asserted.
func TestBenchDrain(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	cfg := smokeConfig(drainMode, "http://"+dev.Addr)
	cfg.Stored = 3
	cfg.ServerPIDs = []int{dev.Pid()}
	s := mustBenchSummary(t, ctx, cfg)
	if s.Mode != drainMode || s.Devices != 4 || s.Stored != 3 || s.Ceiling != nil {
		t.Errorf("summary %+v", s)
	}
	h := s.Herald
	if h.Connected != 4 || h.ConnectErrors != 0 {
		t.Errorf("connected %d, %d errors (%s), want 4 and 0", h.Connected, h.ConnectErrors, h.FirstError)
	}
	if h.Stored != 12 || h.Expected != 12 || h.Delivered != 12 || h.DeliveredRatio != 1 || h.Duplicates != 0 || h.Unknown != 0 {
		t.Errorf("stored %d, expected %d, delivered %d (ratio %v), %d duplicates, %d unknown; want 12 stored and delivered once (%s)",
			h.Stored, h.Expected, h.Delivered, h.DeliveredRatio, h.Duplicates, h.Unknown, h.FirstError)
	}
	if h.Statuses["queued"] != 12 || len(h.Statuses) != 1 {
		t.Errorf("push statuses %v, want 12 queued", h.Statuses)
	}
	if h.DrainPerSec <= 0 || h.TimeToLastMS <= 0 || h.DeliveredPerSec != 0 || h.SentPerSec != 0 {
		t.Errorf("drain_per_sec %v, time_to_last_ms %v, delivered_per_sec %v, sent_per_sec %v; want the first two only (the fill is not a send at a rate)",
			h.DrainPerSec, h.TimeToLastMS, h.DeliveredPerSec, h.SentPerSec)
	}
	if h.Latency == nil || h.Latency.Count != 12 || h.Latency.Max < h.Latency.P50 || h.ResponseLatency == nil || h.ResponseLatency.Count != 12 {
		t.Errorf("latency %+v, response latency %+v for 12 stored messages", h.Latency, h.ResponseLatency)
	}
	// The server's CPU comes from /proc in clock ticks: so short a run may
	// show none, and then no rate per CPU second.
	if srv := h.Server; srv == nil || srv.RSSEndKiB <= 0 || len(srv.PIDs) != 1 {
		t.Errorf("server figures %+v", srv)
	} else if want := float64(h.Delivered) / srv.CPUSeconds; srv.CPUSeconds > 0 && srv.DeliveredPerCPUSecond != want {
		t.Errorf("delivered_per_cpu_second %v, want %v (%d delivered in %v s of server CPU)", srv.DeliveredPerCPUSecond, want, h.Delivered, srv.CPUSeconds)
	}
}

// TestBenchDrainRefused checks that drain says why it cannot run: a server
// that stores nothing (the ceiling), --ceiling, and --stored out of range.
func TestBenchDrainRefused(t *testing.T) {
	c := ceiling.New()
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()

	cfg := smokeConfig(drainMode, srv.URL)
	cfg.Stored = 2
	if _, _, err := runBench(ctx, cfg); err == nil || !strings.Contains(err.Error(), "0 of 8 pushes were stored (statuses: offline 8") {
		t.Errorf("drain against a server without an inbox: %v, want an error saying nothing was stored", err)
	}

	tests := []struct {
		name    string
		set     func(*Config)
		message string
	}{
		{"ceiling", func(c *Config) { c.Ceiling = true }, "--ceiling cannot be used"},
		{"stored 0", func(c *Config) { c.Stored = 0 }, "--stored must be between 1 and 10000"},
		{"stored above the limit", func(c *Config) { c.Stored = maxStored + 1 }, "--stored must be between 1 and 10000"},
		{"too many messages", func(c *Config) { c.Stored, c.Devices = maxStored, maxDrainMessages/maxStored+1 }, "at most 10000000 messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smokeConfig(drainMode, srv.URL)
			cfg.Stored = maxStored
			tt.set(&cfg)
			var ue *UsageError
			if _, _, err := runBench(ctx, cfg); !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %v, want a UsageError with %q", err, tt.message)
			}
		})
	}
}
