#!/usr/bin/env bash
# storecost.sh runs the whole-server measurements of BENCHMARKS.md's
# "Store-and-forward: what it costs": one herald bench workload against several
# servers at once, in turn, round after round, so that the load of a shared
# machine hits each alike.
#
#   scripts/storecost.sh online ROUNDS BENCH-ARGS...
#       herald serve --roles=edge,api built three ways: "new" (this checkout,
#       inbox in Redis), "noinbox" (this checkout with the node's inbox set to
#       nil, a build for the measurement only) and "pre" (PRE_COMMIT, the commit
#       before the inbox, 71373cf by default); e.g.
#       scripts/storecost.sh online 4 push --devices 1000 --rate 2000 --duration 10s
#       scripts/storecost.sh online 4 connect --devices 5000 --warm --source-addrs 127.0.0.1,127.0.0.2
#   scripts/storecost.sh drain ROUNDS BENCH-ARGS...
#       herald bench drain against "memory" (herald dev) and "redis" (herald
#       serve --roles=edge,api, registry and inbox in Redis); e.g.
#       scripts/storecost.sh drain 3 --devices 5000 --stored 20 --drain 60s --source-addrs 127.0.0.1,127.0.0.2
#
# It needs HERALD_TEST_REDIS_ADDR and HERALD_TEST_POSTGRES_URL (source
# .services/env): each serve gets a key prefix and a Postgres database of its
# own, dropped at the end. It prints one line a run: the server's name, then the
# bench's JSON summary; progress goes to stderr. It builds into a temporary
# directory (git worktrees for the other builds) and removes it when done.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PRE_COMMIT=${PRE_COMMIT:-71373cf}

log() { printf 'storecost: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

[ $# -ge 2 ] || die "usage: storecost.sh online|drain ROUNDS BENCH-ARGS..."
KIND=$1 ROUNDS=$2
shift 2
case $KIND in online | drain) ;; *) die "unknown kind $KIND: want online or drain" ;; esac
[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "ROUNDS must be a positive number"
: "${HERALD_TEST_REDIS_ADDR:?source .services/env first}" "${HERALD_TEST_POSTGRES_URL:?source .services/env first}"

WORK=$(mktemp -d)
RUN=sc$$
SECRET=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
KEY=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
HASH=$(printf %s "$KEY" | sha256sum | cut -d' ' -f1)
PIDS=() DBS=() TREES=()

cleanup() {
	local p
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	for p in "${DBS[@]}"; do psql "$HERALD_TEST_POSTGRES_URL" -qc "drop database if exists $p" >/dev/null 2>&1 || true; done
	for p in "${TREES[@]}"; do git -C "$ROOT" worktree remove --force "$p" >/dev/null 2>&1 || true; done
	rm -rf "$WORK"
}
trap cleanup EXIT

# build NAME COMMIT [PATCH]: builds herald at COMMIT into $WORK/herald-NAME
# ("" builds this checkout); PATCH sets the inbox to nil first.
build() {
	local name=$1 commit=$2 patch=${3:-} dir=$ROOT
	if [ -n "$commit" ]; then
		dir=$WORK/tree-$name
		git -C "$ROOT" worktree add -q --detach "$dir" "$commit"
		TREES+=("$dir")
	fi
	if [ -n "$patch" ]; then
		perl -0pi -e 's/(\tif n\.inbox, err = newInbox\(c, redisClient\); err != nil \{\n[^\n]*\n\t\}\n)/$1\tn.inbox = nil \/\/ storecost.sh: no store-and-forward\n/' "$dir/cmd/herald/serve.go"
		grep -q 'n.inbox = nil' "$dir/cmd/herald/serve.go" || die "cannot patch $dir/cmd/herald/serve.go: newInbox moved"
	fi
	log "building $name"
	(cd "$dir" && go build -o "$WORK/herald-$name" ./cmd/herald)
}

# start NAME BIN ARGS...: starts a server, waits for its address and sets
# ADDR[NAME] and PID[NAME].
declare -A ADDR PID
start() {
	local name=$1 bin=$2 line i
	shift 2
	"$bin" "$@" --addr 127.0.0.1:0 --admin-addr "" --log-format json >"$WORK/$name.log" 2>&1 &
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
	log "$name on ${ADDR[$name]}, pid ${PID[$name]}"
}

# serve NAME BIN: starts herald serve --roles=edge,api on Redis and a database
# of its own.
serve() {
	local name=$1 bin=$2 db=${RUN}_$1
	psql "$HERALD_TEST_POSTGRES_URL" -qc "create database $db" >/dev/null
	DBS+=("$db")
	HERALD_TOKEN_SECRET="k1:$SECRET" HERALD_API_KEYS="bench:sha256:$HASH" HERALD_CLUSTER_KEY="$SECRET" \
		HERALD_POSTGRES_URL="${HERALD_TEST_POSTGRES_URL%/*}/$db?sslmode=disable" \
		start "$name" "$bin" serve --roles=edge,api --edge-id "$RUN-$name" --internal-addr 127.0.0.1:0 \
		--redis-addr "$HERALD_TEST_REDIS_ADDR" --redis-prefix "$RUN-$name:" --drain-window 0s
}

build new ""
if [ "$KIND" = online ]; then
	build noinbox HEAD patch
	build pre "$PRE_COMMIT"
	NAMES=(new noinbox pre)
	for n in "${NAMES[@]}"; do serve "$n" "$WORK/herald-$n"; done
	MODE=()
else
	NAMES=(memory redis)
	start memory "$WORK/herald-new" dev
	serve redis "$WORK/herald-new"
	MODE=(drain)
fi

# creds NAME sets CREDS, the bench's flags for NAME's secrets, and APIKEY.
creds() {
	CREDS=(--token-secret "k1:$SECRET" --key "$KEY") APIKEY=$KEY
	if [ "$1" = memory ]; then # herald dev: its development secrets, the bench's defaults
		CREDS=() APIKEY=dev-api-key
	fi
}

for n in "${NAMES[@]}"; do
	creds "$n"
	answer=$(curl -s -H "Authorization: Bearer $APIKEY" -H 'Content-Type: application/json' \
		-d '{"to":{"account":"storecost-probe","device":"away"},"type":"notification.v1","payload":{"title":"x"}}' "http://${ADDR[$n]}/v1/push")
	log "$n answers a push to an offline device with: $answer"
done
for r in $(seq "$ROUNDS"); do
	for n in "${NAMES[@]}"; do
		creds "$n"
		log "round $r: $n"
		out=$("$WORK/herald-new" bench "${MODE[@]}" "$@" --url "http://${ADDR[$n]}" "${CREDS[@]}" --server-pid "${PID[$n]}" --json)
		printf '%s %s\n' "$n" "$out"
	done
done
