#!/usr/bin/env bash
# test.sh is `make test`: it starts private Postgres and Redis servers, runs the
# static checks and the race-enabled tests of the packages in PKGS (default
# ./...) against them, and stops the servers on every exit path. After the Go
# tests' usual output it lists the tests that were skipped, with their reasons.
#
# Servers already started with `make services-up` are reused and left running.
# After the Go tests, scripts/fuzz.sh runs each fuzz target for TEST_FUZZTIME
# (default 2s), and scripts/jstest.sh runs the JavaScript SDK's tests and the
# browser end-to-end tests of the demo (both only when PKGS is ./..., the
# default).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PKGS=${PKGS:-./...}
GOTEST_FLAGS=${GOTEST_FLAGS:-}

if scripts/services.sh status; then
	echo "==> using services from make services-up (stop them with make services-down)"
else
	trap 'echo "==> stopping services"; scripts/services.sh stop' EXIT
fi
echo "==> starting services"
scripts/services.sh start
# shellcheck source=/dev/null
source .services/env

scripts/check.sh vet staticcheck gofmt

# Node.js and clients/js's npm packages: schemas/tsgen's TestSchemaTSCompiles runs
# their tsc.
scripts/jstest.sh deps

echo "==> go test -race $PKGS"
# go test -json through scripts/testsummary prints what plain go test prints (what
# go test -v prints, when GOTEST_FLAGS has -v), then every skipped test and why;
# pipefail keeps go test's exit status.
summary_flags=
if [[ " $GOTEST_FLAGS " =~ [[:space:]]--?v(=true)?[[:space:]] ]]; then
	summary_flags=-v
fi
# shellcheck disable=SC2086 # PKGS, GOTEST_FLAGS and summary_flags are lists
go test -race -count=1 -timeout 20m -json $GOTEST_FLAGS $PKGS | go run ./scripts/testsummary $summary_flags

if [[ $PKGS == ./... ]]; then
	# Every fuzz target, briefly: TEST_FUZZTIME each (the seed corpora already
	# ran in go test). FUZZTIME, which the Makefile exports, is make fuzz's.
	FUZZTIME=${TEST_FUZZTIME:-2s} scripts/fuzz.sh
	scripts/jstest.sh
else
	echo "==> PKGS=$PKGS: skipping the JavaScript tests (make test-js runs them)"
fi
