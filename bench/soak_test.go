package bench

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

// TestBenchSoak runs a short soak against an in-process herald dev and checks
// that the samples and every figure of the summary are there. No timing is
// asserted: the verdict on the series is not, only that each has one.
func TestBenchSoak(t *testing.T) {
	dev := mustDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
	defer cancel()
	cfg := devConfig("soak", "http://"+dev.Addr)
	cfg.AdminURL, cfg.ServerPIDs = "http://"+dev.Admin, []int{dev.Pid()}
	cfg.Devices, cfg.Rate, cfg.Duration, cfg.Sample = 4, 40, 3*time.Second, 500*time.Millisecond
	cfg.Churn, cfg.Drain, cfg.JSON = 0.5, 10*time.Second, true
	stdout, stderr, err := runBench(ctx, cfg)
	if err != nil {
		t.Fatalf("bench soak: %v\nstdout: %s\nstderr: %s", err, stdout, stderr)
	}
	var s soakSummary
	if err := json.Unmarshal([]byte(strings.TrimSpace(stdout)), &s); err != nil {
		t.Fatalf("bench soak --json printed %q: %v", stdout, err)
	}
	if s.Mode != "soak" || s.Devices != 4 || s.Rate != 40 || s.Duration != "3s" || s.Sample != "500ms" {
		t.Errorf("summary header %+v", s)
	}
	// The first sample is taken before the load and the last after the drain.
	if len(s.Samples) < 2 {
		t.Fatalf("%d samples, want at least 2", len(s.Samples))
	}
	for i, x := range s.Samples {
		if x.Goroutines <= 0 || x.HeapInuseBytes <= 0 || x.RSSKiB <= 0 {
			t.Errorf("sample %d lacks a server figure: %+v", i, x)
		}
		if i > 0 && x.AtSeconds < s.Samples[i-1].AtSeconds {
			t.Errorf("sample %d at %vs comes before sample %d at %vs", i, x.AtSeconds, i-1, s.Samples[i-1].AtSeconds)
		}
	}
	last := s.Samples[len(s.Samples)-1]
	if !last.AfterLoad || last.Sent != s.Sent || last.Delivered != s.Delivered {
		t.Errorf("last sample %+v, summary sent %d delivered %d", last, s.Sent, s.Delivered)
	}
	var names []string
	for _, se := range s.Series {
		names = append(names, se.Name)
		if se.Samples < 2 || se.Mean <= 0 {
			t.Errorf("series %+v: fitted on fewer than 2 samples", se)
		}
	}
	if got := strings.Join(names, ","); got != "goroutines,heap_inuse_mib,rss_mib" {
		t.Errorf("series %s", got)
	}
	if s.Sent == 0 || s.Pushes == 0 || s.D2D == 0 || s.Pushes+s.D2D != s.Sent {
		t.Errorf("sent %d: %d pushes, %d d2d", s.Sent, s.Pushes, s.D2D)
	}
	if s.Lost != 0 || s.Unresolved != 0 || s.Delivered != s.Accepted || s.Accepted == 0 {
		t.Errorf("accepted %d, delivered %d, lost %d, unresolved %d (%s)", s.Accepted, s.Delivered, s.Lost, s.Unresolved, s.FirstError)
	}
	if s.Reconnects == 0 || s.ConnectErrors != 0 || s.Disconnects != 0 {
		t.Errorf("reconnects %d, connect errors %d, disconnects %d (%s)", s.Reconnects, s.ConnectErrors, s.Disconnects, s.FirstError)
	}
}

// TestSoakFit checks the line fitted to a series: the second half only, the
// growth as a share of the mean, and unread figures left out.
func TestSoakFit(t *testing.T) {
	at := func(sec float64, g float64) soakSample { return soakSample{AtSeconds: sec, Goroutines: g} }
	value := func(x soakSample) float64 { return x.Goroutines }
	tests := []struct {
		name    string
		samples []soakSample
		growth  float64
		flat    bool
		n       int
	}{
		{"flat after a warm-up", []soakSample{at(0, 10), at(10, 500), at(20, 100), at(30, 100), at(40, 100)}, 0, true, 3},
		{"growing", []soakSample{at(0, 100), at(10, 100), at(20, 100), at(30, 110), at(40, 120)}, 100 * 20.0 / 110, false, 3},
		{"falling is no growth", []soakSample{at(0, 100), at(10, 100), at(20, 100), at(30, 90), at(40, 80)}, -100 * 20.0 / 90, true, 3},
		{"unread left out", []soakSample{at(0, 1), at(20, 100), at(30, -1), at(40, 100)}, 0, true, 2},
		{"too few", []soakSample{at(0, 1), at(40, 100)}, 0, false, 1},
		{"after the load left out", []soakSample{at(0, 1), at(20, 100), at(30, 100), at(40, 100), {AtSeconds: 45, Goroutines: 10, AfterLoad: true}}, 0, true, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			se := fitSeries("g", tt.samples, value, 0.05)
			if se.Samples != tt.n || se.Flat != tt.flat || math.Abs(se.GrowthPercent-tt.growth) > 1e-9 {
				t.Errorf("got %+v, want %d samples, growth %v%%, flat %v", se, tt.n, tt.growth, tt.flat)
			}
		})
	}
}

func TestParseMetrics(t *testing.T) {
	in := "# HELP go_goroutines x\n# TYPE go_goroutines gauge\ngo_goroutines 42\ngo_goroutines_total{a=\"b\"} 7\ngo_memstats_heap_inuse_bytes 1.5e+06\n"
	v, err := parseMetrics(strings.NewReader(in), "go_goroutines", "go_memstats_heap_inuse_bytes")
	if err != nil || v[0] != 42 || v[1] != 1.5e6 {
		t.Errorf("got %v, %v", v, err)
	}
	if _, err := parseMetrics(strings.NewReader(in), "go_threads"); err == nil {
		t.Error("a missing metric: no error")
	}
}
