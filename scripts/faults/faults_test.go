package faults

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/heraldpush/herald/scripts/testenv"
)

// full selects the full scenarios of `make faults`; without it each scenario runs
// a short version, part of `go test ./...`.
var full = flag.Bool("faults.full", false, "run the full fault scenarios (make faults) instead of the short ones")

// outEnv names the environment variable of a file that receives each scenario's
// figures as one JSON object per line.
const outEnv = "HERALD_FAULTS_OUT"

// bound is the failure bound of every wait: nothing asserts that anything happens
// faster than this, only that it happens.
const bound = 60 * time.Second

// binEnv names the environment variable of a herald binary to run instead of
// building ./cmd/herald, e.g. to put a release build through the faults.
const binEnv = "HERALD_FAULTS_BIN"

// heraldBin is the herald binary every scenario runs, built once in TestMain.
var heraldBin string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "herald-faults-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	heraldBin = os.Getenv(binEnv)
	if heraldBin == "" {
		heraldBin, err = testenv.BuildHerald(dir)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		_ = os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// size picks the short or the full figure of a scenario.
func size(short, long int) int {
	if *full {
		return long
	}
	return short
}

// figures are what one scenario reports: messages sent, accepted by the
// platform, delivered to their devices, reported as not delivered (a failure
// status or receipt), and lost (accepted, neither delivered nor reported: always
// 0, or the scenario fails), and how long the platform took to recover.
type figures struct {
	Scenario  string        `json:"scenario"`
	Full      bool          `json:"full"`
	Sent      int64         `json:"sent"`
	Accepted  int64         `json:"accepted"`
	Delivered int64         `json:"delivered"`
	Reported  int64         `json:"reported"`
	Lost      int64         `json:"lost"`
	Recovery  time.Duration `json:"recovery_ns"`
	// Extra holds the scenario's own figures, printed after the common ones in
	// the order given.
	Extra [][2]string `json:"extra,omitempty"`
}

func (f *figures) add(name string, value any) {
	f.Extra = append(f.Extra, [2]string{name, fmt.Sprint(value)})
}

var outMu sync.Mutex

// report prints the scenario's figures line and appends them to $HERALD_FAULTS_OUT;
// it fails the test if anything accepted was lost.
func report(t *testing.T, f *figures) {
	t.Helper()
	f.Full = *full
	var b strings.Builder
	fmt.Fprintf(&b, "faults: %s sent=%d accepted=%d delivered=%d reported=%d lost=%d recovery=%v",
		f.Scenario, f.Sent, f.Accepted, f.Delivered, f.Reported, f.Lost, f.Recovery.Round(time.Millisecond))
	for _, kv := range f.Extra {
		fmt.Fprintf(&b, " %s=%s", kv[0], kv[1])
	}
	fmt.Println(b.String())
	if path := os.Getenv(outEnv); path != "" {
		line, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		outMu.Lock()
		defer outMu.Unlock()
		file, err := os.OpenFile(path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			t.Fatalf("%s: %v", outEnv, err)
		}
		defer file.Close()
		if _, err := file.Write(append(line, '\n')); err != nil {
			t.Fatalf("%s: %v", outEnv, err)
		}
	}
	if f.Lost != 0 {
		t.Errorf("%s: %d accepted messages lost", f.Scenario, f.Lost)
	}
}

// waitFor polls cond until it holds, failing the test after bound.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %v", what, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitForMsg is waitFor with a description computed when it gives up.
func waitForMsg(t *testing.T, what func() string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s after %v", what(), bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
