#!/usr/bin/env bash
# services.sh starts and stops the private Postgres and Redis instances a test run
# uses, so that `make test` works on a machine where neither is running.
#
#   scripts/services.sh start   start both (or reuse the developer's own, see below)
#   scripts/services.sh stop    stop both and remove their temp dir; idempotent
#   scripts/services.sh env     print the export lines for the running services
#   scripts/services.sh status  exit 0 if the services of the state file are up
#
# The state lives in .services/env at the repository root: a shell file with the
# export lines for HERALD_TEST_POSTGRES_URL and HERALD_TEST_REDIS_ADDR plus the
# plain variables `stop` needs. When either variable is already set in the
# environment, `start` uses it and starts nothing for that service.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE_DIR="$ROOT/.services"
STATE="$STATE_DIR/env"
START_TIMEOUT=${HERALD_SERVICES_TIMEOUT:-30}

log() { printf 'services: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=scripts/apt.sh
source "$ROOT/scripts/apt.sh"

# pg_bindir prints the newest /usr/lib/postgresql/N/bin holding a server.
pg_bindir() {
	local d
	for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -V -r); do
		if [[ -x $d/postgres && -x $d/initdb && -x $d/pg_ctl ]]; then
			echo "$d"
			return 0
		fi
	done
	return 1
}

# port_free reports whether nothing listens on 127.0.0.1:$1.
port_free() {
	! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port prints a port below the ephemeral range that nothing listens on.
free_port() {
	local i p
	for i in $(seq 1 100); do
		p=$((20000 + RANDOM % 12000))
		if port_free "$p"; then
			echo "$p"
			return 0
		fi
	done
	die "no free TCP port found"
}

# as_pg runs a command as the postgres user when running as root, since the
# server refuses to run as root.
as_pg() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# state_set appends a variable assignment to the state file, so that `stop` can
# clean up even when `start` failed halfway.
state_set() {
	printf '%s=%q\n' "$1" "$2" >>"$STATE"
}

# pid_alive reports whether process $1 exists and its command is $2.
pid_alive() {
	local comm
	[[ -n $1 ]] && comm=$(cat "/proc/$1/comm" 2>/dev/null) && [[ $comm == "$2"* ]]
}

start_postgres() {
	local bin dir port attempt
	bin=$(pg_bindir) || {
		apt_install postgresql
		bin=$(pg_bindir) || die "postgresql installed but no server under /usr/lib/postgresql/*/bin"
	}
	if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
		useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
	fi
	dir="$SERVICES_DIR/pg"
	mkdir -p "$dir"
	[[ $EUID -eq 0 ]] && chown postgres: "$dir"
	chmod 700 "$dir"
	state_set PG_BIN "$bin"
	state_set PG_DATA "$dir/data"

	as_pg "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale --no-sync \
		>"$SERVICES_DIR/initdb.log" 2>&1 || {
		cat "$SERVICES_DIR/initdb.log" >&2
		die "initdb failed"
	}
	as_pg tee -a "$dir/data/postgresql.conf" >/dev/null <<-EOF
		listen_addresses = '127.0.0.1'
		unix_socket_directories = '$dir'
		fsync = off
		synchronous_commit = off
		full_page_writes = off
		max_connections = 300
	EOF

	# Another process may take the port between the probe and the bind; retry.
	for attempt in 1 2 3; do
		port=$(free_port)
		if as_pg "$bin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "-p $port" \
			-w -t "$START_TIMEOUT" start >/dev/null 2>&1; then
			break
		fi
		if ((attempt == 3)); then
			tail -n 20 "$dir/postgres.log" >&2 2>/dev/null || true
			die "postgres did not start within ${START_TIMEOUT}s (log: $dir/postgres.log)"
		fi
		log "postgres failed to start on port $port; retrying"
	done
	state_set PG_PID "$(head -n1 "$dir/data/postmaster.pid")"

	local deadline=$((SECONDS + START_TIMEOUT))
	until pg_isready -q -h 127.0.0.1 -p "$port" -U postgres 2>/dev/null ||
		as_pg "$bin/psql" -qAt -h 127.0.0.1 -p "$port" -U postgres -c 'select 1' >/dev/null 2>&1; do
		((SECONDS < deadline)) || die "postgres on port $port not ready within ${START_TIMEOUT}s"
		sleep 0.1
	done
	HERALD_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
	log "postgres $(basename "$(dirname "$bin")") on 127.0.0.1:$port"
}

# redis_ping reports whether a Redis server answers PING on 127.0.0.1:$1.
redis_ping() (
	local reply=""
	{ exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || exit 1
	printf 'PING\r\n' >&3
	IFS= read -r -t 1 reply <&3 || true
	[[ $reply == "+PONG"* ]]
)

start_redis() {
	command -v redis-server >/dev/null || apt_install redis-server
	local dir="$SERVICES_DIR/redis" port attempt deadline
	mkdir -p "$dir"
	for attempt in 1 2 3; do
		port=$(free_port)
		rm -f "$dir/redis.pid"
		redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
			--daemonize yes --dir "$dir" --pidfile "$dir/redis.pid" \
			--logfile "$dir/redis.log" >"$dir/redis.out" 2>&1 || cat "$dir/redis.out" >&2
		deadline=$((SECONDS + START_TIMEOUT))
		until redis_ping "$port"; do
			if ((SECONDS >= deadline)) || grep -q 'Address already in use' "$dir/redis.log" 2>/dev/null; then
				break
			fi
			sleep 0.05
		done
		if redis_ping "$port"; then
			break
		fi
		if ((attempt == 3)); then
			tail -n 20 "$dir/redis.log" >&2 2>/dev/null || true
			die "redis did not answer PING on port $port within ${START_TIMEOUT}s (log: $dir/redis.log)"
		fi
		log "redis failed to start on port $port; retrying"
	done
	state_set REDIS_PIDFILE "$dir/redis.pid"
	state_set REDIS_PID "$(cat "$dir/redis.pid" 2>/dev/null || true)"
	HERALD_TEST_REDIS_ADDR="127.0.0.1:$port"
	local version
	version=$(redis-server --version | awk '{print $3}')
	log "redis ${version#v=} on $HERALD_TEST_REDIS_ADDR"
}

# ensure_kcat installs kcat, the Kafka client of scripts/kcat-check.sh and
# TestKcatInterop, when it is missing. The test only skips without it, so outside
# CI a failed install (or no root) leaves a note instead of stopping the run.
ensure_kcat() {
	command -v kcat >/dev/null && return 0
	if [[ ${CI:-} == true ]]; then
		apt_install kcat
	elif [[ $EUID -ne 0 ]] || ! (apt_install kcat); then
		log "kcat not installed: TestKcatInterop will skip (apt-get install kcat)"
	fi
}

# running reports whether the state file describes services that are all alive.
running() {
	[[ -f $STATE ]] || return 1
	grep -q '^export HERALD_TEST_REDIS_ADDR=' "$STATE" || return 1
	(
		# shellcheck source=/dev/null
		source "$STATE"
		[[ -d ${SERVICES_DIR:-/nonexistent} ]] || exit 1
		if [[ -n ${PG_PID:-} ]]; then pid_alive "$PG_PID" postgres || exit 1; fi
		if [[ -n ${REDIS_PID:-} ]]; then pid_alive "$REDIS_PID" redis || exit 1; fi
	)
}

cmd_start() {
	local pg_url=${HERALD_TEST_POSTGRES_URL:-} redis_addr=${HERALD_TEST_REDIS_ADDR:-}
	if running; then
		log "already running (state in $STATE)"
		return 0
	fi
	cmd_stop
	mkdir -p "$STATE_DIR"
	: >"$STATE"
	# Leave nothing behind when a step below fails.
	trap 'cmd_stop' EXIT
	SERVICES_DIR=$(mktemp -d /tmp/herald-services.XXXXXX)
	chmod 755 "$SERVICES_DIR"
	state_set SERVICES_DIR "$SERVICES_DIR"

	if [[ -n $pg_url ]]; then
		HERALD_TEST_POSTGRES_URL=$pg_url
		log "postgres: using HERALD_TEST_POSTGRES_URL from the environment"
	else
		start_postgres
	fi
	if [[ -n $redis_addr ]]; then
		HERALD_TEST_REDIS_ADDR=$redis_addr
		log "redis: using HERALD_TEST_REDIS_ADDR from the environment"
	else
		start_redis
	fi
	ensure_kcat
	printf 'export HERALD_TEST_POSTGRES_URL=%q\n' "$HERALD_TEST_POSTGRES_URL" >>"$STATE"
	printf 'export HERALD_TEST_REDIS_ADDR=%q\n' "$HERALD_TEST_REDIS_ADDR" >>"$STATE"
	trap - EXIT
}

# wait_gone waits up to 10 s for process $1 to exit.
wait_gone() {
	local i
	for i in $(seq 1 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}

# cmd_stop runs in a subshell so that sourcing the state file does not leak its
# variables into the caller.
cmd_stop() (
	[[ -f $STATE ]] || exit 0
	local SERVICES_DIR="" PG_BIN="" PG_DATA="" PG_PID="" REDIS_PIDFILE="" REDIS_PID="" pid
	# shellcheck source=/dev/null
	source "$STATE"

	if [[ -n $PG_DATA && -f $PG_DATA/postmaster.pid ]]; then
		pid=$(head -n1 "$PG_DATA/postmaster.pid")
		as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m immediate -w -t 10 stop >/dev/null 2>&1 || true
		if pid_alive "$pid" postgres; then
			kill -KILL "$pid" 2>/dev/null || true
			wait_gone "$pid" || log "postgres pid $pid did not exit"
		fi
	fi
	# A state file left by another machine names pids that are not ours: trust
	# them only while our temp dir exists.
	[[ -d $SERVICES_DIR ]] || REDIS_PID=""
	if [[ -n $REDIS_PIDFILE && -f $REDIS_PIDFILE ]]; then
		REDIS_PID=$(cat "$REDIS_PIDFILE")
	fi
	if pid_alive "$REDIS_PID" redis; then
		kill -TERM "$REDIS_PID" 2>/dev/null || true
		wait_gone "$REDIS_PID" || { kill -KILL "$REDIS_PID" 2>/dev/null || true; }
	fi
	if [[ $SERVICES_DIR == */herald-services.* && -d $SERVICES_DIR ]]; then
		rm -rf "$SERVICES_DIR"
	fi
	rm -f "$STATE"
	rmdir "$STATE_DIR" 2>/dev/null || true
)

cmd_env() {
	[[ -f $STATE ]] || die "not running; run scripts/services.sh start"
	grep '^export ' "$STATE"
}

case ${1:-} in
start) cmd_start ;;
stop) cmd_stop ;;
env) cmd_env ;;
status) running ;;
*)
	echo "usage: $0 start|stop|env|status" >&2
	exit 2
	;;
esac
