#!/usr/bin/env bash
# regionbench.sh measures whole processes across two regions on one machine
# (BENCHMARKS.md, "Regions: cross-region against same-region"): region eu with
# two `herald serve` edges (eu-1, its gateway, also the API; eu-2) and region
# us with one (us-1, its gateway, with the API role too), each region's
# registry in the test Redis under a key prefix of its own, the device list in
# one Postgres database they share. Then ROUNDS rounds of `herald bench`, each
# sending from eu-1 (d2d: the senders on eu-1; push: POST /v1/push to eu-1's
# API) to devices on eu-1 (same edge), on eu-2 (same region) and on us-1
# (other region), in turn, so that the machine's load hits each alike. It
# prints one line a run: the path, then the bench's JSON summary; progress
# goes to stderr.
#
#   source .services/env
#   scripts/regionbench.sh ROUNDS MODE BENCH-ARGS...      # MODE: d2d or push
#   scripts/regionbench.sh 2 d2d --devices 200 --rate 500 --duration 10s
#   scripts/regionbench.sh 2 push --devices 200 --rate 500 --duration 10s
#
# REGIONBENCH_LOGS=DIR keeps the servers' logs there.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'regionbench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ $# -ge 2 ] || die "usage: regionbench.sh ROUNDS d2d|push BENCH-ARGS..."
ROUNDS=$1 MODE=$2
shift 2
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
case $MODE in d2d | push) ;; *) die "unknown mode $MODE: want d2d or push" ;; esac
: "${HERALD_TEST_REDIS_ADDR:?source .services/env first}" "${HERALD_TEST_POSTGRES_URL:?source .services/env first}"

WORK=$(mktemp -d)
RUN=rb$$
DB=${RUN}_db
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
REGION_KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
PIDS=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	psql "$HERALD_TEST_POSTGRES_URL" -qc "drop database if exists $DB" >/dev/null 2>&1 || true
	if [ -n "${REGIONBENCH_LOGS:-}" ]; then mkdir -p "$REGIONBENCH_LOGS" && cp "$WORK"/*.log "$REGIONBENCH_LOGS"/ || true; fi
	rm -rf "$WORK"
}
trap cleanup EXIT

# freeport prints a loopback port that was free a moment ago: the gateways'
# internal addresses must be known before either region starts.
freeport() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

log "building"
(cd "$ROOT" && go build -o "$WORK/herald" ./cmd/herald)
psql "$HERALD_TEST_POSTGRES_URL" -qc "create database $DB" >/dev/null

declare -A ADDR PID
# start NAME REGION ARGS...: starts herald serve and waits until it listens.
start() {
	local name=$1 region=$2 line i
	shift 2
	HERALD_TOKEN_SECRET="k1:$SECRET" HERALD_API_KEYS="bench:sha256:$HASH" HERALD_CLUSTER_KEY="$SECRET" \
		HERALD_POSTGRES_URL="${HERALD_TEST_POSTGRES_URL%/*}/$DB?sslmode=disable" \
		"$WORK/herald" serve "$@" --edge-id "$RUN-$name" --addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 \
		--redis-addr "$HERALD_TEST_REDIS_ADDR" --redis-prefix "$RUN-$region:" --region "$region" --region-key "$REGION_KEY" \
		--drain-window 0s --log-format json >"$WORK/$name.log" 2>&1 &
	PID[$name]=$!
	PIDS+=("$!")
	for i in $(seq 300); do
		line=$(grep -m1 '"herald listening"' "$WORK/$name.log" || true)
		[ -n "$line" ] && break
		kill -0 "${PID[$name]}" 2>/dev/null || die "$name exited: $(tail -5 "$WORK/$name.log")"
		sleep 0.1
	done
	ADDR[$name]=$(printf '%s' "$line" | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p')
	[ -n "${ADDR[$name]}" ] || die "$name did not say where it listens"
	log "$name ($region) on ${ADDR[$name]}, pid ${PID[$name]}"
}

EU_GW=127.0.0.1:$(freeport) US_GW=127.0.0.1:$(freeport)
start eu-1 eu --roles=edge,api --internal-addr "$EU_GW" --gateway --region-peers "us=$US_GW"
start eu-2 eu --roles=edge --internal-addr 127.0.0.1:0 --region-peers "us=$US_GW"
start us-1 us --roles=edge,api --internal-addr "$US_GW" --gateway --region-peers "eu=$EU_GW"

for r in $(seq "$ROUNDS"); do
	for path in same-edge:eu-1 same-region:eu-2 other-region:us-1; do
		name=${path%%:*} to=${path#*:}
		log "round $r, $MODE $name, load $(cut -d' ' -f1-3 /proc/loadavg)"
		if [ "$MODE" = d2d ]; then
			where=(--url "http://${ADDR[eu-1]}" --url2 "http://${ADDR[$to]}")
		else
			where=(--url "http://${ADDR[eu-1]}" --edges "http://${ADDR[$to]}")
		fi
		printf '%s %s ' "$MODE" "$name"
		"$WORK/herald" bench "$MODE" "$@" "${where[@]}" --token-secret "k1:$SECRET" --key "$KEY" \
			--server-pid "${PID[eu-1]},${PID[eu-2]},${PID[us-1]}" --json
	done
done
