package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// pooled is the one-line JSON that Pool prints: the runs of its files taken
// as one run of all their messages.
type pooled struct {
	Runs       int     `json:"runs"`
	Delivered  int64   `json:"delivered"`
	Expected   int64   `json:"expected"`
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	// DeliveredPerCPUSecond is all the runs' deliveries over all their
	// servers' CPU seconds, when every run measured its server's CPU.
	DeliveredPerCPUSecond float64         `json:"delivered_per_cpu_second,omitempty"`
	Latency               *latencySummary `json:"latency_ms"`
}

// Pool reads the one-line JSON summaries (--json) of runs from the files
// named (each holds one or more lines), merges the delivery latencies of
// their herald targets and sums their deliveries and server CPU, and prints
// the pooled figures as one line of JSON: how two builds compare over
// alternating rounds, with one statistic instead of a round each. A summary
// without the latency histogram (a run with nothing delivered, or of an
// older herald bench) is an error.
func Pool(names []string, out io.Writer) error {
	if len(names) == 0 {
		return usagef("pool: name the files of the --json summaries to pool")
	}
	var (
		p   pooled
		h   *hdrhistogram.Histogram
		cpu = true
	)
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			return fmt.Errorf("bench: pool: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 16<<20)
		line := 0
		for sc.Scan() {
			line++
			text := strings.TrimSpace(sc.Text())
			if text == "" {
				continue
			}
			var s summary
			if err := json.Unmarshal([]byte(text), &s); err != nil {
				f.Close()
				return fmt.Errorf("bench: pool: %s:%d: not a summary: %w", name, line, err)
			}
			t := s.Herald
			if t == nil || t.Latency == nil || t.Latency.Hist == "" {
				f.Close()
				return fmt.Errorf("bench: pool: %s:%d: no latency histogram (nothing delivered, or a summary of an older herald bench)", name, line)
			}
			if h, err = mergeHist(h, t.Latency.Hist); err != nil {
				f.Close()
				return fmt.Errorf("bench: pool: %s:%d: %w", name, line, err)
			}
			p.Runs++
			p.Delivered += t.Delivered
			p.Expected += t.Expected
			if t.Server == nil || t.Server.CPUSeconds <= 0 {
				cpu = false
			} else {
				p.CPUSeconds += t.Server.CPUSeconds
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return fmt.Errorf("bench: pool: %s: %w", name, err)
		}
	}
	if p.Runs == 0 {
		return fmt.Errorf("bench: pool: no summary in %s", strings.Join(names, ", "))
	}
	if cpu {
		p.DeliveredPerCPUSecond = float64(p.Delivered) / p.CPUSeconds
	} else {
		p.CPUSeconds = 0
	}
	p.Latency = summarizeHist(h)
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}
