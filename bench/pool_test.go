package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// summaryLine is the --json summary of a run whose herald target delivered
// the latencies lat (µs) with its server using cpu seconds.
func summaryLine(t *testing.T, lat []int64, cpu float64) string {
	t.Helper()
	h := hdrhistogram.New(1, histMaxMicros, 3)
	for _, v := range lat {
		if err := h.RecordValue(v); err != nil {
			t.Fatal(err)
		}
	}
	n := int64(len(lat))
	ls := summarizeHist(h)
	ls.Hist = encodeHist(h)
	s := summary{Mode: "async", Herald: &targetSummary{Sent: n, Expected: n, Delivered: n, Latency: ls, Server: &serverSummary{CPUSeconds: cpu}}}
	b, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// repeat is n copies of v.
func repeat(v int64, n int) []int64 {
	s := make([]int64, n)
	for i := range s {
		s[i] = v
	}
	return s
}

// TestPool checks that Pool takes the runs of several files as one: the
// latencies merged (a percentile of all the messages, not of the runs'
// percentiles), the deliveries over the summed CPU, and that it refuses no
// files, a line that is not a summary, and a summary without a histogram.
func TestPool(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, lines ...string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	// Run a: 99 messages at 1 ms and one at 10 ms; runs b and c: 50 at 2 ms
	// each. Pooled, 200 messages: the p50 and p99 are 2 ms (neither run's
	// own p99 alone), the max 10 ms.
	a := write("a.json", summaryLine(t, append(repeat(1000, 99), 10000), 0.1))
	bc := write("bc.json", summaryLine(t, repeat(2000, 50), 0.025), "", summaryLine(t, repeat(2000, 50), 0.025))
	var out bytes.Buffer
	if err := Pool([]string{a, bc}, &out); err != nil {
		t.Fatal(err)
	}
	var p pooled
	if err := json.Unmarshal(out.Bytes(), &p); err != nil {
		t.Fatalf("pool printed %q: %v", out.String(), err)
	}
	if p.Runs != 3 || p.Delivered != 200 || p.Expected != 200 || math.Abs(p.CPUSeconds-0.15) > 1e-9 {
		t.Fatalf("pooled %+v, want 3 runs, 200 delivered of 200, 0.15 CPU seconds", p)
	}
	if math.Abs(p.DeliveredPerCPUSecond-200/0.15) > 1e-6 {
		t.Errorf("delivered per CPU second %v, want %v", p.DeliveredPerCPUSecond, 200/0.15)
	}
	l := p.Latency
	if l == nil || l.Count != 200 || l.P50 != 2 || l.P99 != 2 || l.Max < 9.99 || l.Max > 10.01 {
		t.Errorf("pooled latency %+v, want 200 messages, p50 and p99 2 ms, max 10 ms", l)
	}

	noHist := summaryLine(t, repeat(1000, 10), 0.01)
	noHist = strings.Replace(noHist, `"hist":"`, `"was":"`, 1)
	for _, tc := range []struct {
		name, want string
		names      []string
	}{
		{"no files", "name the files", nil},
		{"not JSON", "not a summary", []string{write("bad.json", "herald bench async: 10 devices")}},
		{"no histogram", "no latency histogram", []string{write("old.json", noHist)}},
		{"no such file", "no such file", []string{filepath.Join(dir, "missing.json")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Pool(tc.names, &bytes.Buffer{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Pool = %v, want an error with %q", err, tc.want)
			}
			var ue *UsageError
			if tc.names == nil && !errors.As(err, &ue) {
				t.Errorf("no files: %T, want a usage error", err)
			}
		})
	}
}
