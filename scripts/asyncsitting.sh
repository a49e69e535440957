#!/usr/bin/env bash
# asyncsitting.sh runs one sitting of issue 21's comparison at one rate
# (BENCHMARKS.md, "Issue 21"): ROUNDS rounds, each a `herald dev` of the BEFORE
# build under `herald bench async` one message a request, then one of this
# tree's build under the same bench in batches of BATCH, alternating so that
# the machine's state hits both alike. The bench is this tree's in both, and
# each run's --json summary goes to a file per build; at the end `herald bench
# pool` turns each file into one line (deliveries per CPU-second over all the
# rounds, the latencies of every message merged), printed with the ratio.
#
#   scripts/asyncsitting.sh BEFORE-COMMIT ROUNDS BATCH BENCH-ARGS...
#   scripts/asyncsitting.sh 3ac78fd 6 20 --rate 1000 --duration 40s
#   scripts/asyncsitting.sh 3ac78fd 3 100 --rate 5000 --duration 20s
#
# BEFORE-COMMIT is built in a temporary git worktree. ASYNCSITTING_OUT=DIR
# keeps the summaries (before.json, after.json) there. The bench runs 1,000
# devices unless BENCH-ARGS say otherwise.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

log() { printf 'asyncsitting: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ $# -ge 3 ] || die "usage: asyncsitting.sh BEFORE-COMMIT ROUNDS BATCH BENCH-ARGS..."
BEFORE=$1 ROUNDS=$2 BATCH=$3
shift 3
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
[[ $BATCH =~ ^[1-9][0-9]*$ ]] || die "BATCH must be a positive number"
git -C "$ROOT" rev-parse --verify -q "$BEFORE^{commit}" >/dev/null || die "no commit $BEFORE"

WORK=$(mktemp -d)
OUT=${ASYNCSITTING_OUT:-$WORK}
mkdir -p "$OUT"
: >"$OUT/before.json"
: >"$OUT/after.json"
PID=

cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	git -C "$ROOT" worktree remove --force "$WORK/before-tree" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

log "building this tree and $BEFORE"
(cd "$ROOT" && go build -o "$WORK/after" ./cmd/herald)
git -C "$ROOT" worktree add -q --detach "$WORK/before-tree" "$BEFORE"
(cd "$WORK/before-tree" && go build -o "$WORK/before" ./cmd/herald)

# run BUILD OUT BENCH-ARGS...: one herald dev of BUILD under one bench run,
# whose summary is appended to OUT.
run() {
	local build=$1 out=$2 i
	shift 2
	"$WORK/$build" dev --addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --log-format json >"$WORK/dev.log" 2>&1 &
	PID=$!
	local line=
	for i in $(seq 300); do
		line=$(grep -m1 '"herald listening"' "$WORK/dev.log" || true)
		[ -n "$line" ] && break
		kill -0 "$PID" 2>/dev/null || die "$build's herald dev exited: $(tail -5 "$WORK/dev.log")"
		sleep 0.1
	done
	local addr
	addr=$(printf '%s' "$line" | sed -n 's/.*"addr":"\([^"]*\)".*/\1/p')
	[ -n "$addr" ] || die "$build's herald dev did not say where it listens"
	"$WORK/after" bench async --url "http://$addr" --devices 1000 "$@" --server-pid "$PID" --json >>"$out"
	kill "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
}

for r in $(seq "$ROUNDS"); do
	log "round $r of $ROUNDS, load $(cut -d' ' -f1-3 /proc/loadavg)"
	run before "$OUT/before.json" "$@"
	run after "$OUT/after.json" --batch "$BATCH" "$@"
done

before=$("$WORK/after" bench pool "$OUT/before.json")
after=$("$WORK/after" bench pool "$OUT/after.json")
printf 'before (%s, 1 a request): %s\n' "$BEFORE" "$before"
printf 'after (batches of %s): %s\n' "$BATCH" "$after"
python3 - "$before" "$after" <<'PY'
import json, sys
b, a = json.loads(sys.argv[1]), json.loads(sys.argv[2])
lb, la = b["latency_ms"], a["latency_ms"]
print("ratio %.2fx; p50 %.2f against %.2f ms; p99 %.2f against %.2f ms (%s); delivered %d of %d against %d of %d" % (
    a["delivered_per_cpu_second"] / b["delivered_per_cpu_second"], la["p50"], lb["p50"], la["p99"], lb["p99"],
    "no worse" if la["p99"] <= lb["p99"] else "worse", a["delivered"], a["expected"], b["delivered"], b["expected"]))
PY
