package main

import (
	"encoding/json"
	"strings"
	"testing"
)

// ev is one line of go test -json.
func ev(tb testing.TB, action, pkg, test, output string) string {
	tb.Helper()
	b, err := json.Marshal(event{Action: action, Package: pkg, Test: test, Output: output})
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

func TestSummarize(t *testing.T) {
	// The events go test -json gives for a package with a passing test that logs, a
	// skipped one and a failing subtest, as Go 1.26 writes them.
	pkgA := func(tb testing.TB) []string {
		return []string{
			ev(tb, "start", "ex/a", "", ""),
			ev(tb, "run", "ex/a", "TestOK", ""),
			ev(tb, "output", "ex/a", "TestOK", "=== RUN   TestOK\n"),
			ev(tb, "output", "ex/a", "TestOK", "    a_test.go:5: chatter\n"),
			ev(tb, "output", "ex/a", "TestOK", "--- PASS: TestOK (0.00s)\n"),
			ev(tb, "pass", "ex/a", "TestOK", ""),
			ev(tb, "output", "ex/a", "TestSkip", "=== RUN   TestSkip\n"),
			ev(tb, "output", "ex/a", "TestSkip", "    a_test.go:6: no database\n"),
			ev(tb, "output", "ex/a", "TestSkip", "--- SKIP: TestSkip (0.00s)\n"),
			ev(tb, "skip", "ex/a", "TestSkip", ""),
			ev(tb, "output", "ex/a", "TestFail", "=== RUN   TestFail\n"),
			ev(tb, "output", "ex/a", "TestFail/sub", "=== RUN   TestFail/sub\n"),
			ev(tb, "output", "ex/a", "TestFail/sub", "    a_test.go:8: boom\n"),
			ev(tb, "output", "ex/a", "TestFail/sub", "--- FAIL: TestFail/sub (0.00s)\n"),
			ev(tb, "fail", "ex/a", "TestFail/sub", ""),
			ev(tb, "output", "ex/a", "TestFail", "--- FAIL: TestFail (0.00s)\n"),
			ev(tb, "fail", "ex/a", "TestFail", ""),
			ev(tb, "output", "ex/a", "", "FAIL\n"),
			ev(tb, "output", "ex/a", "", "FAIL\tex/a\t0.005s\n"),
			ev(tb, "fail", "ex/a", "", ""),
		}
	}
	tests := []struct {
		name    string
		lines   func(testing.TB) []string
		verbose bool
		want    string
	}{
		{
			name:  "failures, passes and skips",
			lines: pkgA,
			want: "--- FAIL: TestFail/sub (0.00s)\n    a_test.go:8: boom\n--- FAIL: TestFail (0.00s)\nFAIL\nFAIL\tex/a\t0.005s\n" +
				"==> 1 skipped:\n  ex/a TestSkip: a_test.go:6: no database\n",
		},
		{
			name:    "verbose",
			lines:   pkgA,
			verbose: true,
			want: "=== RUN   TestOK\n    a_test.go:5: chatter\n--- PASS: TestOK (0.00s)\n=== RUN   TestSkip\n    a_test.go:6: no database\n" +
				"--- SKIP: TestSkip (0.00s)\n=== RUN   TestFail\n=== RUN   TestFail/sub\n    a_test.go:8: boom\n--- FAIL: TestFail/sub (0.00s)\n" +
				"--- FAIL: TestFail (0.00s)\nFAIL\nFAIL\tex/a\t0.005s\n==> 1 skipped:\n  ex/a TestSkip: a_test.go:6: no database\n",
		},
		{
			name: "a passing package is one line",
			lines: func(tb testing.TB) []string {
				return []string{
					ev(tb, "output", "ex/b", "TestOK", "=== RUN   TestOK\n"),
					ev(tb, "output", "ex/b", "TestOK", "--- PASS: TestOK (0.00s)\n"),
					ev(tb, "pass", "ex/b", "TestOK", ""),
					ev(tb, "output", "ex/b", "", "PASS\n"),
					ev(tb, "output", "ex/b", "", "ok  \tex/b\t0.010s\n"),
					ev(tb, "pass", "ex/b", "", ""),
					ev(tb, "output", "ex/c", "", "testing: warning: no tests to run\n"),
					ev(tb, "output", "ex/c", "", "PASS\n"),
					ev(tb, "output", "ex/c", "", "ok  \tex/c\t0.010s [no tests to run]\n"),
					ev(tb, "pass", "ex/c", "", ""),
					ev(tb, "output", "ex/d", "", "?   \tex/d\t[no test files]\n"),
					ev(tb, "skip", "ex/d", "", ""),
				}
			},
			want: "ok  \tex/b\t0.010s\nok  \tex/c\t0.010s [no tests to run]\n?   \tex/d\t[no test files]\n",
		},
		{
			name: "a build failure",
			lines: func(tb testing.TB) []string {
				return []string{
					`{"ImportPath":"ex/c [ex/c.test]","Action":"build-output","Output":"# ex/c [ex/c.test]\n"}`,
					`{"ImportPath":"ex/c [ex/c.test]","Action":"build-output","Output":"c/c_test.go:5:32: undefined: f\n"}`,
					`{"ImportPath":"ex/c [ex/c.test]","Action":"build-fail"}`,
					ev(tb, "output", "ex/c", "", "FAIL\tex/c [build failed]\n"),
					ev(tb, "fail", "ex/c", "", ""),
				}
			},
			want: "# ex/c [ex/c.test]\nc/c_test.go:5:32: undefined: f\nFAIL\tex/c [build failed]\n",
		},
		{
			name: "a test that never ends: a timeout",
			lines: func(tb testing.TB) []string {
				return []string{
					ev(tb, "output", "ex/e", "TestSlow", "=== RUN   TestSlow\n"),
					ev(tb, "output", "ex/e", "TestSlow", "    e_test.go:9: waiting\n"),
					ev(tb, "output", "ex/f", "TestOther", "=== RUN   TestOther\n"),
					ev(tb, "output", "ex/e", "", "panic: test timed out after 1s\n"),
					ev(tb, "output", "ex/e", "", "FAIL\tex/e\t1.005s\n"),
					ev(tb, "fail", "ex/e", "", ""),
					ev(tb, "output", "ex/f", "TestOther", "--- PASS: TestOther (0.00s)\n"),
					ev(tb, "pass", "ex/f", "TestOther", ""),
				}
			},
			want: "panic: test timed out after 1s\n    e_test.go:9: waiting\nFAIL\tex/e\t1.005s\n",
		},
		{
			name: "a race reported in the output of a test that passed",
			lines: func(tb testing.TB) []string {
				return []string{
					ev(tb, "output", "ex/g", "TestQuiet", "=== RUN   TestQuiet\n"),
					ev(tb, "output", "ex/g", "TestQuiet", "==================\n"),
					ev(tb, "output", "ex/g", "TestQuiet", "WARNING: DATA RACE\n"),
					ev(tb, "output", "ex/g", "TestQuiet", "  g.flush()\n"),
					ev(tb, "output", "ex/g", "TestQuiet", "--- PASS: TestQuiet (0.00s)\n"),
					ev(tb, "pass", "ex/g", "TestQuiet", ""),
					ev(tb, "output", "ex/g", "TestLoud", "=== RUN   TestLoud\n"),
					ev(tb, "output", "ex/g", "TestLoud", "    testing.go:1712: race detected during execution of test\n"),
					ev(tb, "output", "ex/g", "TestLoud", "--- FAIL: TestLoud (0.00s)\n"),
					ev(tb, "fail", "ex/g", "TestLoud", ""),
					ev(tb, "output", "ex/g", "", "FAIL\tex/g\t0.005s\n"),
					ev(tb, "fail", "ex/g", "", ""),
				}
			},
			want: "--- PASS: TestQuiet (0.00s)\n==================\nWARNING: DATA RACE\n  g.flush()\n" +
				"--- FAIL: TestLoud (0.00s)\n    testing.go:1712: race detected during execution of test\nFAIL\tex/g\t0.005s\n",
		},
		{
			name:  "lines that are not events pass through",
			lines: func(testing.TB) []string { return []string{"go: downloading example.com/x v1.0.0", "{}", "[1]"} },
			want:  "go: downloading example.com/x v1.0.0\n{}\n[1]\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			if err := summarize(strings.NewReader(strings.Join(tt.lines(t), "\n")+"\n"), &out, tt.verbose); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("output:\n%s\nwant:\n%s", out.String(), tt.want)
			}
		})
	}
}
