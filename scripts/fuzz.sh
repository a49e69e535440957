#!/usr/bin/env bash
# fuzz.sh runs every Fuzz target in the packages in PKGS (default ./...) for
# FUZZTIME each (default 30s). `go test -fuzz` takes one target in one package at
# a time, hence the loop. A failing input is written under the package's
# testdata/fuzz and the script stops: fix the code, and keep the input there so
# that every plain `go test` runs it from then on.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PKGS=${PKGS:-./...}
FUZZTIME=${FUZZTIME:-30s}

count=0
start=$SECONDS
# The targets are read from the test files rather than from `go test -list`,
# which would build each test binary once more.
# shellcheck disable=SC2086 # PKGS is a list of patterns
for line in $(go list -f '{{.ImportPath}}={{.Dir}}' $PKGS); do
	pkg=${line%%=*} dir=${line#*=}
	targets=$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$dir"/*_test.go 2>/dev/null | sort || true)
	for target in $targets; do
		echo "==> $pkg $target ($FUZZTIME)"
		# The fuzzing engine can end a short run with "context deadline
		# exceeded" of its own, a worker caught by -fuzztime, with no failing
		# input. That, and only that, is run again, up to twice more: one
		# retry alone has met the same deadline now and then on a loaded host.
		for attempt in 1 2 3; do
			if out=$(go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" 2>&1); then
				printf '%s\n' "$out"
				break
			fi
			printf '%s\n' "$out"
			if [ "$attempt" -lt 3 ] && grep -q 'context deadline exceeded' <<<"$out" && ! grep -q 'Failing input written' <<<"$out"; then
				echo "==> $pkg $target: the engine's own deadline, no failing input; once more"
				continue
			fi
			exit 1
		done
		count=$((count + 1))
	done
done
echo "==> $count fuzz targets run for $FUZZTIME each, in $((SECONDS - start))s"
