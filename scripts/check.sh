#!/usr/bin/env bash
# check.sh runs the static checks on the packages in PKGS (default ./...):
#
#   scripts/check.sh [vet] [staticcheck] [gofmt]    default: all three
#
# staticcheck is run with `go run` at a pinned version, so nothing has to be
# installed by hand and every machine runs the same checks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PKGS=${PKGS:-./...}
STATICCHECK=${STATICCHECK:-honnef.co/go/tools/cmd/staticcheck@v0.8.2}

run_vet() {
	echo "==> go vet $PKGS"
	# shellcheck disable=SC2086 # PKGS is a list of patterns
	go vet $PKGS
}

run_staticcheck() {
	echo "==> staticcheck ($STATICCHECK) $PKGS"
	# shellcheck disable=SC2086
	go run "$STATICCHECK" $PKGS
}

run_gofmt() {
	echo "==> gofmt -l"
	local files unformatted
	# shellcheck disable=SC2086
	files=$(go list -f '{{$d := .Dir}}{{range .GoFiles}}{{$d}}/{{.}}
{{end}}{{range .CgoFiles}}{{$d}}/{{.}}
{{end}}{{range .TestGoFiles}}{{$d}}/{{.}}
{{end}}{{range .XTestGoFiles}}{{$d}}/{{.}}
{{end}}{{range .IgnoredGoFiles}}{{$d}}/{{.}}
{{end}}' $PKGS)
	[[ -n $files ]] || return 0
	unformatted=$(xargs gofmt -l <<<"$files")
	if [[ -n $unformatted ]]; then
		echo "files not formatted with gofmt (run gofmt -w on them):" >&2
		echo "$unformatted" >&2
		return 1
	fi
}

steps=("$@")
((${#steps[@]})) || steps=(vet staticcheck gofmt)
for step in "${steps[@]}"; do
	case $step in
	vet) run_vet ;;
	staticcheck) run_staticcheck ;;
	gofmt) run_gofmt ;;
	*)
		echo "usage: $0 [vet] [staticcheck] [gofmt]" >&2
		exit 2
		;;
	esac
done
