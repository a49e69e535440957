package bench

import (
	"bufio"
	"bytes"
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
	var pl pooling
	for _, name := range names {
		if err := pl.add(name); err != nil {
			return err
		}
	}
	p := pl.pooled
	if p.Runs == 0 {
		return fmt.Errorf("bench: pool: no summary in %s", strings.Join(names, ", "))
	}
	if pl.noCPU {
		p.CPUSeconds = 0
	} else {
		p.DeliveredPerCPUSecond = float64(p.Delivered) / p.CPUSeconds
	}
	p.Latency = summarizeHist(pl.hist)
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(out, "%s\n", b)
	return err
}

// pooling is a Pool in progress: the counts so far, the latencies merged,
// and whether a run lacked its server's CPU.
type pooling struct {
	pooled
	hist  *hdrhistogram.Histogram
	noCPU bool
}

// add adds the summaries of the file name.
func (p *pooling) add(name string) error {
	f, err := os.Open(name)
	if err != nil {
		return fmt.Errorf("bench: pool: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for line := 1; sc.Scan(); line++ {
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		var s summary
		if err := json.Unmarshal(text, &s); err != nil {
			return fmt.Errorf("bench: pool: %s:%d: not a summary: %w", name, line, err)
		}
		t := s.Herald
		if t == nil || t.Latency == nil || t.Latency.Hist == "" {
			return fmt.Errorf("bench: pool: %s:%d: no latency histogram (nothing delivered, or a summary of an older herald bench)", name, line)
		}
		if p.hist, err = mergeHist(p.hist, t.Latency.Hist); err != nil {
			return fmt.Errorf("bench: pool: %s:%d: %w", name, line, err)
		}
		p.Runs++
		p.Delivered += t.Delivered
		p.Expected += t.Expected
		if t.Server == nil || t.Server.CPUSeconds <= 0 {
			p.noCPU = true
		} else {
			p.CPUSeconds += t.Server.CPUSeconds
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("bench: pool: %s: %w", name, err)
	}
	return nil
}
