#!/usr/bin/env bash
# faults.sh is `make faults`: the full fault-injection suite (scripts/faults),
# each scenario with real herald processes on loopback, against private Postgres
# and Redis servers that it starts and stops (or those of `make services-up`).
#
# Each scenario prints one line `faults: <scenario> sent=… accepted=… …`; the
# lines also go, as JSON, to $HERALD_FAULTS_OUT (default bin/faults.jsonl).
# RELIABILITY.md holds the figures of one run. FAULTSFLAGS adds go test flags,
# e.g. FAULTSFLAGS='-run TestFaultLinkCut'.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

FAULTSFLAGS=${FAULTSFLAGS:-}
export HERALD_FAULTS_OUT=${HERALD_FAULTS_OUT:-$PWD/bin/faults.jsonl}
mkdir -p "$(dirname "$HERALD_FAULTS_OUT")"
: >"$HERALD_FAULTS_OUT"

if scripts/services.sh status; then
	echo "==> using services from make services-up"
else
	trap 'echo "==> stopping services"; scripts/services.sh stop' EXIT
	echo "==> starting services"
	scripts/services.sh start
fi
# shellcheck source=/dev/null
source .services/env

echo "==> go test ./scripts/faults/ -faults.full"
# shellcheck disable=SC2086 # FAULTSFLAGS is a list
go test -run TestFault -v -count=1 -timeout 30m $FAULTSFLAGS ./scripts/faults/ -args -faults.full
echo "==> figures in $HERALD_FAULTS_OUT"
