#!/usr/bin/env bash
# jstest.sh is the JavaScript part of `make test` (and all of `make test-js`):
#
#   1. checks for Node.js 20+ and npm;
#   2. runs `npm ci` in clients/js when node_modules is missing or older than the
#      lock file;
#   3. installs Debian's chromium when it is missing (see ensure_chromium);
#   4. builds bin/herald, which the tests start as `herald dev`;
#   5. checks that the committed clients/js/dist is what `npm run build` makes of
#      clients/js/src (built into a temporary directory, dist is left alone);
#   6. runs the SDK's tests (`npm test`) and the browser end-to-end tests of the
#      demo and the operator's console (`npm run test:browser`) against
#      bin/herald. The console's two-edge cluster test needs
#      HERALD_TEST_POSTGRES_URL and HERALD_TEST_REDIS_ADDR, which scripts/test.sh
#      exports before it runs this script; without them it is skipped with a
#      note.
#
# `scripts/jstest.sh deps` does steps 1 and 2 only: scripts/test.sh runs it before
# the Go tests, which compile generated TypeScript with clients/js's tsc.
#
# With CI=true nothing is skipped: a missing tool is installed or fails the run.
# Without CI, a missing Node.js skips the JavaScript tests and a Chromium that
# cannot be installed (no root) skips the browser tests, each with a note.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
JS=clients/js
CHROMIUM_BIN=${CHROMIUM_BIN:-/usr/bin/chromium}
export CHROMIUM_BIN

log() { printf 'jstest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# shellcheck source=scripts/apt.sh
source "$ROOT/scripts/apt.sh"

# ensure_node checks for Node.js 20 or newer and npm. Debian's own nodejs is too
# old on bookworm, so nothing is installed: CI images bring their Node.js.
ensure_node() {
	local why=""
	if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
		why="node and npm not found"
	else
		local major
		major=$(node -p 'process.versions.node.split(".")[0]')
		((major >= 20)) || why="node $(node --version) is too old"
	fi
	[[ -z $why ]] && return 0
	if [[ ${CI:-} == true ]]; then
		die "$why: the JavaScript tests need Node.js 20 or newer with npm (https://nodejs.org)"
	fi
	log "$why: skipping the JavaScript tests; install Node.js 20 or newer with npm to run them"
	exit 0
}

# ensure_deps runs npm ci when node_modules is missing or older than the lock file.
ensure_deps() {
	local stamp=$JS/node_modules/.package-lock.json
	if [[ ! -f $stamp || $JS/package-lock.json -nt $stamp || $JS/package.json -nt $stamp ]]; then
		echo "==> npm ci ($JS)"
		(cd "$JS" && npm ci --no-audit --no-fund)
	fi
}

# ensure_chromium installs Debian's chromium for the browser tests when it is
# missing. Under CI it must succeed; otherwise a failed install (or no root)
# leaves a note and the browser tests are skipped. It sets BROWSER=1 when there is
# a browser to run them with.
BROWSER=0
ensure_chromium() {
	if [[ -x $CHROMIUM_BIN ]]; then
		BROWSER=1
		return 0
	fi
	if [[ ${CI:-} == true ]]; then
		apt_install chromium
	elif [[ $EUID -ne 0 ]] || ! (apt_install chromium); then
		log "no Chromium at $CHROMIUM_BIN: skipping the browser tests (apt-get install chromium, or set CHROMIUM_BIN)"
		return 0
	fi
	[[ -x $CHROMIUM_BIN ]] || die "chromium was installed but $CHROMIUM_BIN does not exist; set CHROMIUM_BIN"
	BROWSER=1
}

# check_dist builds clients/js/src into a temporary directory and compares it
# with the committed clients/js/dist, which the browser and `herald dev` load.
check_dist() {
	echo "==> clients/js/dist is up to date"
	local out=$TMP/dist
	# tsc itself, not `npm run build`: its prebuild step empties dist.
	(cd "$JS" && node_modules/.bin/tsc -p tsconfig.json --outDir "$out") || die "building clients/js/src failed"
	if ! diff -r "$out" "$JS/dist" >"$TMP/dist.diff" 2>&1; then
		head -n 40 "$TMP/dist.diff" >&2
		die "clients/js/dist is not what clients/js/src builds to; run: cd clients/js && npm run build"
	fi
}

ensure_node
ensure_deps
if [[ ${1:-} == deps ]]; then
	exit 0 # scripts/test.sh: the Go tests compile TypeScript with clients/js's tsc
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

ensure_chromium

echo "==> go build -o bin/herald ./cmd/herald"
go build -o bin/herald ./cmd/herald
export HERALD_BIN=$ROOT/bin/herald

check_dist

cd "$JS"
if compgen -G 'test/*.test.mjs' >/dev/null; then
	echo "==> npm test ($JS)"
	npm test
fi
if ((BROWSER)); then
	echo "==> npm run test:browser ($JS, $CHROMIUM_BIN)"
	npm run test:browser
fi
