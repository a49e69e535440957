#!/usr/bin/env bash
# test.sh is `make test`: it starts private Postgres and Redis servers, runs the
# static checks and the race-enabled tests of the packages in PKGS (default
# ./...) against them, and stops the servers on every exit path.
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
# shellcheck disable=SC2086 # PKGS and GOTEST_FLAGS are lists
go test -race -count=1 -timeout 20m $GOTEST_FLAGS $PKGS

if [[ $PKGS == ./... ]]; then
	# Every fuzz target, briefly: TEST_FUZZTIME each (the seed corpora already
	# ran in go test). FUZZTIME, which the Makefile exports, is make fuzz's.
	FUZZTIME=${TEST_FUZZTIME:-2s} scripts/fuzz.sh
	scripts/jstest.sh
else
	echo "==> PKGS=$PKGS: skipping the JavaScript tests (make test-js runs them)"
fi
