package main

import (
	"context"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestBenchUsage checks that a bad command line of herald bench, refused by
// the flags or by package bench, exits 2 and says why.
func TestBenchUsage(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"no mode", []string{"bench"}, "a mode is required"},
		{"unknown mode", []string{"bench", "storm"}, `unknown mode "storm"`},
		{"odd d2d devices", []string{"bench", "d2d", "--devices", "3"}, "even"},
		{"fanout devices", []string{"bench", "fanout", "--devices", "15", "--fanout", "10"}, "multiple of --fanout"},
		{"too many per process", []string{"bench", "idle", "--devices", "40000"}, "raise --procs"},
		{"batch outside push and async", []string{"bench", "d2d", "--batch", "10"}, "push and async only"},
		{"keys outside async", []string{"bench", "push", "--keys"}, "--keys is for async only"},
		{"pool without files", []string{"bench", "pool"}, "name the files"},
		{"warm outside connect", []string{"bench", "push", "--warm"}, "--warm is for connect only"},
		{"drain without stored", []string{"bench", "drain", "--stored", "0"}, "--stored must be between 1 and"},
		{"drain beside the ceiling", []string{"bench", "drain", "--ceiling"}, "--ceiling cannot be used"},
		{"bad source address", []string{"bench", "idle", "--source-addrs", "localhost"}, "not an IP address"},
		{"bad pid", []string{"bench", "idle", "--server-pid", "x"}, "--server-pid"},
		{"soak without admin", []string{"bench", "soak", "--server-pid", "1"}, "--admin-url is required"},
		{"soak without pid", []string{"bench", "soak", "--admin-url", "http://127.0.0.1:1"}, "--server-pid is required"},
		{"soak odd devices", []string{"bench", "soak", "--admin-url", "http://127.0.0.1:1", "--server-pid", "1", "--devices", "3"}, "even"},
		{"soak churn", []string{"bench", "soak", "--admin-url", "http://127.0.0.1:1", "--server-pid", "1", "--churn", "2"}, "--churn"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := runCmd(t, context.Background(), tt.args...)
			if r.code != 2 || !strings.Contains(r.stderr, tt.stderr) {
				t.Errorf("exit code %d, stderr %q; want 2 and %q", r.code, r.stderr, tt.stderr)
			}
		})
	}
}

// TestBenchCommand runs herald bench against an in-process herald dev and
// checks that its flags reach the run: the figures of the workloads
// themselves are package bench's tests.
func TestBenchCommand(t *testing.T) {
	dev := mustDev(t)
	pid := strconv.Itoa(os.Getpid())
	tests := []struct {
		name string
		args []string
		want map[string]any // top-level fields of the one-line JSON
	}{
		{"fanout", []string{"bench", "fanout", "--url", dev.base, "--devices", "4", "--fanout", "2", "--rate", "40",
			"--duration", "500ms", "--settle", "0s", "--drain", "10s", "--concurrency", "3", "--server-pid", pid, "--json"},
			map[string]any{"mode": "fanout", "devices": 4.0, "fanout": 2.0, "rate": 40.0, "duration": "500ms", "procs": 1.0, "concurrency": 3.0}},
		{"soak", []string{"bench", "soak", "--url", dev.base, "--admin-url", "http://" + dev.node.addr("admin"), "--server-pid", pid,
			"--devices", "2", "--rate", "20", "--duration", "1s", "--sample", "500ms", "--churn", "0.5", "--d2d-share", "0.25",
			"--flat-tolerance", "0.5", "--drain", "10s", "--json"},
			map[string]any{"mode": "soak", "devices": 2.0, "rate": 20.0, "duration": "1s", "sample": "500ms", "churn": 0.5,
				"d2d_share": 0.25, "tolerance": 0.5, "pid": float64(os.Getpid()), "lost": 0.0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 2*waitBound)
			defer cancel()
			r := runCmd(t, ctx, tt.args...)
			if r.code != 0 {
				t.Fatalf("exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
			}
			var got map[string]any
			if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &got); err != nil {
				t.Fatalf("--json printed %q: %v", r.stdout, err)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Errorf("%s: %v, want %v", k, got[k], v)
				}
			}
		})
	}
	t.Run("table", func(t *testing.T) {
		r := runCmd(t, context.Background(), "bench", "idle", "--url", dev.base, "--devices", "2", "--duration", "100ms", "--settle", "0s")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "herald bench idle: 2 devices for 100ms, 1 procs, concurrency 128;") ||
			!strings.Contains(r.stdout, "FIGURE") {
			t.Errorf("exit code %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
		}
	})
}
