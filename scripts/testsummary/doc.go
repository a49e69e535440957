// Command testsummary is the filter behind `make test`'s Go tests: it reads the
// events of `go test -json` on stdin and prints what plain `go test` prints (a line
// per package, the output of failing tests, build errors), then every skipped test
// with its reason. Plain `go test` shows a skip nowhere, so a test skipped for a
// missing service or tool would read as a pass.
//
//	go test -json ./... | go run ./scripts/testsummary [-v]
//
// With -v it prints every line of output, as `go test -v` does, before the skips.
// A line that is not an event is printed as it is. It exits 0 unless stdin cannot
// be read: go test's own exit status, through `set -o pipefail`, is the verdict.
//
// It imports nothing of Herald's.
package main
