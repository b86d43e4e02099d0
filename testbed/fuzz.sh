#!/usr/bin/env bash
# Runs every Go fuzz target of conduit's module for a bounded time.
#
#   testbed/fuzz.sh            every target, FUZZTIME (default 3s) each
#   FUZZTIME=5m testbed/fuzz.sh     the long run (make fuzz FUZZTIME=5m)
#   testbed/fuzz.sh -l         list the targets, run nothing
#   testbed/fuzz.sh REGEX      only the targets whose name matches REGEX
#
# Targets are found by `func FuzzX(` in the module's *_test.go files (the
# nested modules bench/, ci/ and examples/grpc/ are not conduit's library).
# A file that builds only on Windows (a _windows_test.go name, or a
# //go:build line naming windows alone) is fuzzed as windows/amd64 under
# Wine, through the test bed's go_windows_amd64_exec (testbed/setup.sh);
# every other target natively. Go's fuzzing coordinator runs under Wine as
# it does on Windows: it starts its worker processes (the test binary again,
# through CreateProcess) and shares inputs with them through a file mapping,
# which Wine 8 supports (checked: FuzzWin32Normalization gathers its
# baseline and fuzzes with 2 workers), so the Windows targets are fuzzed,
# not just replayed.
#
# Each target is `go test -run '^$' -fuzz '^Name$' -fuzztime $FUZZTIME`;
# FUZZPARALLEL, if set, is passed as -parallel (the number of workers,
# default GOMAXPROCS). The script carries on past a failure and exits 1 if
# any target failed. A failing input is written by go test to the package's
# testdata/fuzz/FuzzX/ directory, which go test replays from then on: commit
# it with the fix, as a regression test.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
fuzztime=${FUZZTIME:-3s}
list=false
filter=.
case ${1:-} in
-l) list=true ;;
-h | --help)
	sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
	exit 0
	;;
"") ;;
*) filter=$1 ;;
esac

# Directories of nested modules: their files are not this module's.
nested=$(git ls-files '*/go.mod' | xargs -r -n1 dirname)

# windows_only FILE: whether FILE builds on Windows alone.
windows_only() {
	case $1 in *_windows_test.go) return 0 ;; esac
	local c
	c=$(sed -n 's|^//go:build[[:space:]]*||p' "$1" | head -n1)
	[ -n "$c" ] && [ "$(printf '%s' "$c" | tr -d ' ()')" = windows ]
}

targets=() # "goos pkg name"
while IFS= read -r file; do
	skip=false
	for d in $nested; do
		case $file in "$d"/*) skip=true ;; esac
	done
	$skip && continue
	goos=native
	windows_only "$file" && goos=windows
	while IFS= read -r name; do
		printf '%s\n' "$name" | grep -Eq -- "$filter" || continue
		targets+=("$goos ./$(dirname "$file") $name")
	done < <(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' "$file")
done < <(git ls-files --cached --others --exclude-standard '*_test.go')

if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no fuzz target matches $filter" >&2
	exit 1
fi
if $list; then
	printf '%s\n' "${targets[@]}" | sort | awk '{printf "%-8s %-22s %s\n", $1, $2, $3}'
	exit 0
fi

winbin=
for t in "${targets[@]}"; do
	if [ "${t%% *}" = windows ]; then
		winbin=$(bash testbed/setup.sh) || {
			echo "fuzz: the Wine test bed failed (testbed/setup.sh)" >&2
			exit 1
		}
		break
	fi
done

parallel=()
[ -n "${FUZZPARALLEL:-}" ] && parallel=(-parallel "$FUZZPARALLEL")
failed=()
out=$(mktemp)
trap 'rm -f "$out"' EXIT
start=$SECONDS
for t in $(printf '%s\n' "${targets[@]}" | sort | tr ' ' ':'); do
	IFS=: read -r goos pkg name <<<"$t"
	echo "fuzz: $name ($pkg, ${goos/native/$(go env GOOS)}) for $fuzztime"
	t0=$SECONDS
	if [ "$goos" = windows ]; then
		PATH="$winbin:$PATH" GOOS=windows GOARCH=amd64 \
			go test -count=1 -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "${parallel[@]}" "$pkg" >"$out" 2>&1
	else
		go test -count=1 -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "${parallel[@]}" "$pkg" >"$out" 2>&1
	fi
	rc=$?
	tail -n 25 "$out"
	if [ "$rc" -ne 0 ]; then
		if ! grep -q 'Failing input written to' "$out" &&
			[ "$(grep -A1 -- "^--- FAIL: $name " "$out" | tail -n1 | tr -d ' \t')" = contextdeadlineexceeded ]; then
			# Go's coordinator can fail a run that found nothing when
			# -fuzztime ends while a worker is mid-call, more often on a
			# loaded machine (golang/go#75804, fixed in Go 1.27): no input
			# failed, so it is not the target's failure.
			echo "fuzz: $name: 'context deadline exceeded' at the end of -fuzztime with no failing input: Go's coordinator (golang/go#75804), not a failure"
		else
			failed+=("$name ($pkg)")
			echo "fuzz: $name FAILED; go test writes a failing input to $pkg/testdata/fuzz/$name/"
		fi
	fi
	echo "fuzz: $name took $((SECONDS - t0))s"
done
echo "fuzz: ${#targets[@]} targets in $((SECONDS - start))s"
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: failed: %s\n' "${failed[@]}" >&2
	exit 1
fi
