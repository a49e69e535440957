package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
)

func main() {
	verbose := flag.Bool("v", false, "print every line of output, as go test -v does")
	flag.Parse()
	if err := summarize(os.Stdin, os.Stdout, *verbose); err != nil {
		fmt.Fprintln(os.Stderr, "testsummary:", err)
		os.Exit(1)
	}
}

// event is one line of `go test -json` (see `go doc test2json`).
type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

// test names one test of one package.
type test struct{ pkg, name string }

// summarize copies the go test output that r's events carry to w, as plain go test
// (or go test -v, when verbose) would print it, then lists the skipped tests.
func summarize(r io.Reader, w io.Writer, verbose bool) error {
	held := map[test][]string{} // the output of each running test
	var running []test          // the tests in held, in the order they started (some may have ended)
	var skips []string
	// end drops the tests of pkg that are still held, printing their output when
	// pkg failed: a package that ends with tests still running panicked or timed
	// out, and their output says where.
	end := func(pkg string, failed bool) {
		var still []test
		for _, t := range running {
			out, ok := held[t]
			switch {
			case !ok:
			case t.pkg != pkg:
				still = append(still, t)
			default:
				if failed && !verbose {
					writeReport(w, out)
				}
				delete(held, t)
			}
		}
		running = still
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil || e.Action == "" {
			fmt.Fprintf(w, "%s\n", sc.Bytes())
			continue
		}
		t := test{e.Package, e.Test}
		switch {
		case e.Action == "build-output":
			io.WriteString(w, e.Output)
		case e.Action == "output" && e.Test == "":
			if strings.HasPrefix(e.Output, "FAIL\t"+e.Package) {
				end(e.Package, true) // before the package's closing line
			}
			if verbose || !quiet[e.Output] {
				io.WriteString(w, e.Output)
			}
		case e.Action == "output":
			if verbose {
				io.WriteString(w, e.Output)
			}
			if _, ok := held[t]; !ok {
				running = append(running, t)
			}
			held[t] = append(held[t], e.Output)
		case e.Test != "" && (e.Action == "pass" || e.Action == "fail" || e.Action == "skip"):
			// A race found while several tests run may be written into the output
			// of one that passes, while another fails for it: it is shown wherever
			// it lands.
			if !verbose && (e.Action == "fail" || hasRace(held[t])) {
				writeReport(w, held[t])
			}
			if e.Action == "skip" {
				skips = append(skips, e.Package+" "+e.Test+skipReason(held[t]))
			}
			delete(held, t)
		case e.Test == "" && (e.Action == "pass" || e.Action == "fail"):
			end(e.Package, e.Action == "fail")
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(skips) > 0 {
		fmt.Fprintf(w, "==> %d skipped:\n", len(skips))
		for _, s := range skips {
			fmt.Fprintf(w, "  %s\n", s)
		}
	}
	return nil
}

// quiet is the package output that plain go test shows only with -v.
var quiet = map[string]bool{
	"PASS\n":                              true,
	"testing: warning: no tests to run\n": true,
}

// writeReport prints the output of a failed test as plain go test does: its
// "--- FAIL" line first, then what it logged, without the progress lines (=== RUN
// and the like) that only go test -v shows.
func writeReport(w io.Writer, out []string) {
	for _, report := range []bool{true, false} {
		for _, l := range out {
			if strings.HasPrefix(l, "--- ") == report && !strings.HasPrefix(l, "=== ") {
				io.WriteString(w, l)
			}
		}
	}
}

// hasRace reports whether out holds a report of the race detector.
func hasRace(out []string) bool {
	for _, l := range out {
		if strings.HasPrefix(l, "WARNING: DATA RACE") {
			return true
		}
	}
	return false
}

// skipReason is what a skipped test logged, e.g. ": db_test.go:20: no database",
// on one line.
func skipReason(out []string) string {
	var msgs []string
	for _, l := range out {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "=== ") || strings.HasPrefix(l, "--- SKIP") {
			continue
		}
		msgs = append(msgs, l)
	}
	if len(msgs) == 0 {
		return ""
	}
	return ": " + strings.Join(msgs, " / ")
}
