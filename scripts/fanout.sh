#!/usr/bin/env bash
# fanout.sh measures a topic's fan-out across a cluster of `herald serve`
# processes on one machine (BENCHMARKS.md, "Topics: fan-out"): EDGES edges
# (--roles=edge) and one API process (--roles=api) on the test Redis and a
# Postgres database of their own, then ROUNDS runs of `herald bench topic`
# with the devices spread over the edges, each run followed, in the same
# invocation, by the same devices reached by account pushes (--push-rate), so
# that the two alternate. It prints one JSON summary a run.
#
#   source .services/env
#   scripts/fanout.sh EDGES ROUNDS BENCH-ARGS...
#   scripts/fanout.sh 4 2 --devices 60000 --procs 4 --rate 0.5 --duration 40s --push-rate 8000 \
#       --source-addrs 127.0.0.1,127.0.0.2,127.0.0.3,127.0.0.4
#
# The --server-pid list is the API's pid first, then the edges' in order: the
# summary's server.per_pid splits the CPU between the API and the edges.
# FANOUT_LOGS=DIR keeps the servers' logs there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'fanout: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ $# -ge 2 ] || die "usage: fanout.sh EDGES ROUNDS BENCH-ARGS..."
EDGES=$1 ROUNDS=$2
shift 2
[[ $EDGES =~ ^[1-9][0-9]*$ && $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "EDGES and ROUNDS must be positive numbers"
: "${HERALD_TEST_REDIS_ADDR:?source .services/env first}" "${HERALD_TEST_POSTGRES_URL:?source .services/env first}"

WORK=$(mktemp -d)
RUN=fo$$
DB=${RUN}_db
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	psql "$HERALD_TEST_POSTGRES_URL" -qc "drop database if exists $DB" >/dev/null 2>&1 || true
	if [ -n "${FANOUT_LOGS:-}" ]; then mkdir -p "$FANOUT_LOGS" && cp "$WORK"/*.log "$FANOUT_LOGS"/ || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

log "building"
(cd "$ROOT" && go build -o "$WORK/herald" ./cmd/herald)
psql "$HERALD_TEST_POSTGRES_URL" -qc "create database $DB" >/dev/null

declare -A ADDR ADMIN PID
start() {
	local name=$1 line i
	shift
	HERALD_TOKEN_SECRET="k1:$SECRET" HERALD_API_KEYS="bench:sha256:$HASH" HERALD_CLUSTER_KEY="$SECRET" \
		HERALD_POSTGRES_URL="${HERALD_TEST_POSTGRES_URL%/*}/$DB?sslmode=disable" \
		"$WORK/herald" serve "$@" --edge-id "$RUN-$name" --addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
		--redis-addr "$HERALD_TEST_REDIS_ADDR" --redis-prefix "$RUN:" --drain-window 0s --log-format json >"$WORK/$name.log" 2>&1 &
	PID[$name]=$!
	PIDS+=("$!")
	for i in $(seq 300); do
		line=$(grep -m1 '"herald listening"' "$WORK/$name.log" || true)
		[ -n "$line" ] && break
		kill -0 "${PID[$name]}" 2>/dev/null || die "$name exited: $(tail -5 "$WORK/$name.log")"
		sleep 0.1
	done
	ADDR[$name]=$(printf '%s' "$line" | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p')
	ADMIN[$name]=$(printf '%s' "$line" | sed -n 's/.*"admin":"\([^"]*\)".*/\1/p')
	[ -n "${ADDR[$name]}" ] && [ -n "${ADMIN[$name]}" ] || die "$name did not say where it listens"
	log "$name on ${ADDR[$name]} (admin ${ADMIN[$name]}), pid ${PID[$name]}"
}

EDGE_URLS="" ADMIN_URLS="" EDGE_PIDS=""
for i in $(seq "$EDGES"); do
	start "edge-$i" --roles=edge --internal-addr 127.0.0.1:0
	EDGE_URLS+="${EDGE_URLS:+,}http://${ADDR[edge-$i]}"
	ADMIN_URLS+="${ADMIN_URLS:+,}http://${ADMIN[edge-$i]}"
	EDGE_PIDS+=",${PID[edge-$i]}"
done
start api --roles=api

for r in $(seq "$ROUNDS"); do
	log "round $r, load $(cut -d' ' -f1-3 /proc/loadavg)"
	"$WORK/herald" bench topic "$@" --url "http://${ADDR[api]}" --edges "$EDGE_URLS" --admin-urls "$ADMIN_URLS" \
		--token-secret "k1:$SECRET" --key "$KEY" --server-pid "${PID[api]}$EDGE_PIDS" --json
done
