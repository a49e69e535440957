#!/usr/bin/env bash
# fuzz.sh runs every Fuzz target in the packages in PKGS (default ./...) for
# FUZZTIME each (default 30s). `go test -fuzz` takes one target in one package at
# a time, hence the loop. A failing input is written under the package's
# testdata/fuzz and the script stops.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PKGS=${PKGS:-./...}
FUZZTIME=${FUZZTIME:-30s}

count=0
# shellcheck disable=SC2086 # PKGS is a list of patterns
for pkg in $(go list $PKGS); do
	targets=$(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for target in $targets; do
		echo "==> $pkg $target ($FUZZTIME)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg"
		count=$((count + 1))
	done
done
echo "==> $count fuzz targets run"
