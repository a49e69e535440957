package bench

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestBenchTopic subscribes devices of herald dev to a topic, publishes to it
// and then reaches the same number of devices by account pushes: every
// publish must reach every device once, with the per-publish figures, the
// edge's RSS per subscription and the comparison. No timing is asserted.
// herald dev is one process, API and edge: a publish crosses no link, so the
// link frames (read from its admin /metrics) are 0 for both.
func TestBenchTopic(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	cfg := smokeConfig(topicMode, "http://"+dev.Addr)
	cfg.Rate = 10 // 5 publishes in the half second
	cfg.PushRate = 40
	cfg.Edges = []string{"http://" + dev.Addr, "http://" + dev.Addr + "/"}
	cfg.AdminURLs = []string{"http://" + dev.Admin}
	cfg.ServerPIDs = []int{dev.Pid()}
	s := mustBenchSummary(t, ctx, cfg)
	if s.Mode != topicMode || s.Devices != 4 || !strings.HasPrefix(s.Topic, "bench.b") || s.Edges != 2 || s.Ceiling != nil {
		t.Errorf("summary %+v", s)
	}
	h := s.Herald
	if h.Connected != 4 || h.Subscribed != 4 || h.SubscribeFailed != 0 {
		t.Errorf("connected %d, subscribed %d (%d failed): %s", h.Connected, h.Subscribed, h.SubscribeFailed, h.FirstError)
	}
	if h.Sent != 5 || h.Published != 5 || h.PublishedDevices != 20 || h.PublishedDropped != 0 || h.SendErrors != 0 {
		t.Errorf("sent %d, published %d to %d devices (%d dropped), %d errors: %s", h.Sent, h.Published, h.PublishedDevices, h.PublishedDropped, h.SendErrors, h.FirstError)
	}
	if h.Expected != 20 || h.Delivered != 20 || h.DeliveredRatio != 1 || h.Unknown != 0 {
		t.Errorf("expected %d, delivered %d (ratio %v), %d unknown", h.Expected, h.Delivered, h.DeliveredRatio, h.Unknown)
	}
	if l := h.PublishToLast; l == nil || l.Count != 5 || l.Max < l.P50 || h.Latency == nil || h.Latency.Count != 20 || h.DeliveredPerSec <= 0 {
		t.Errorf("publish to last %+v, latency %+v, delivered_per_sec %v", l, h.Latency, h.DeliveredPerSec)
	}
	if h.LinkFrames == nil || h.LinkFrames["publish"] != 0 || h.LinkFramesPerMessage != 0 {
		t.Errorf("link frames %v (%v a publish), want none counted: herald dev publishes locally", h.LinkFrames, h.LinkFramesPerMessage)
	}
	if srv := h.Server; srv == nil || srv.RSSSubscribedKiB <= 0 || srv.RSSStartKiB <= 0 {
		t.Errorf("server figures %+v", srv)
	}
	p := s.Push
	if p == nil {
		t.Fatal("no account pushes")
	}
	checkBenchTarget(t, "push", p)
	if p.Sent != 4 || p.LinkFrames == nil {
		t.Errorf("pushes %d (want one a device), link frames %v", p.Sent, p.LinkFrames)
	}
	if s.Ratios == nil {
		t.Error("no ratios topic / push")
	}
}

// TestBenchTopicRefused checks that topic says why it cannot run.
func TestBenchTopicRefused(t *testing.T) {
	tests := []struct {
		name    string
		set     func(*Config)
		message string
	}{
		{"ceiling", func(c *Config) { c.Ceiling = true }, "--ceiling cannot be used"},
		{"bad topic", func(c *Config) { c.Topic = "a..b" }, "is not a topic name"},
		{"negative push rate", func(c *Config) { c.PushRate = -1 }, "--push-rate"},
		{"no publish", func(c *Config) { c.Rate = 0.1 }, "at least one publish"},
		{"edges for idle", func(c *Config) { c.Mode = "idle" }, "--edges is for push and topic only"},
		{"push rate for push", func(c *Config) { c.Mode, c.Edges = "push", nil }, "--push-rate are for topic only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := smokeConfig(topicMode, "http://127.0.0.1:1")
			cfg.Edges, cfg.PushRate = []string{"http://127.0.0.1:1"}, 10
			tt.set(&cfg)
			var ue *UsageError
			if _, _, err := runBench(context.Background(), cfg); !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.message) {
				t.Errorf("error %v, want a UsageError with %q", err, tt.message)
			}
		})
	}
}
