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
# Wine, all of them one after another in one test bed (testbed/winrun.sh);
# every other target natively. Go's fuzzing coordinator runs under Wine as
# it does on Windows: it starts its worker processes (the test binary again,
# through CreateProcess) and shares inputs with them through a file mapping,
# which Wine 8 supports (checked: FuzzWin32Normalization gathers its
# baseline and fuzzes with 2 workers), so the Windows targets are fuzzed,
# not just replayed. The workers are processes of one Wine server, as they
# are of one machine on Windows: a target that uses names of the machine's
# (a mailslot's, a pipe's) must keep its workers from meeting on one
# (FuzzMailslotName holds a machine-wide mutex).
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
# FUZZ_IN_BED=FILE testbed/fuzz.sh GOOS:PKG:NAME... is the script calling
# itself inside the Windows targets' one test bed (below): it runs those
# targets and writes their failures to FILE.
[ -n "${FUZZ_IN_BED:-}" ] || case ${1:-} in
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
[ -n "${FUZZ_IN_BED:-}" ] || while IFS= read -r file; do
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

if [ ${#targets[@]} -eq 0 ] && [ -z "${FUZZ_IN_BED:-}" ]; then
	echo "fuzz: no fuzz target matches $filter" >&2
	exit 1
fi
if $list; then
	printf '%s\n' "${targets[@]}" | sort | awk '{printf "%-8s %-22s %s\n", $1, $2, $3}'
	exit 0
fi

# run_target GOOS PKG NAME: go test -fuzz for one target, its output's tail
# printed; a failure is appended to $failfile.
run_target() {
	local goos=$1 pkg=$2 name=$3 t0=$SECONDS rc
	echo "fuzz: $name ($pkg, ${goos/native/$(GOOS= go env GOOS)}) for $fuzztime"
	if [ "$goos" = windows ]; then
		GOOS=windows GOARCH=amd64 go test -count=1 -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "${parallel[@]}" "$pkg" >"$out" 2>&1
	else
		GOOS= GOARCH= go test -count=1 -run '^$' -fuzz "^$name\$" -fuzztime "$fuzztime" "${parallel[@]}" "$pkg" >"$out" 2>&1
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
			echo "$name ($pkg)" >>"$failfile"
			echo "fuzz: $name FAILED; go test writes a failing input to $pkg/testdata/fuzz/$name/"
		fi
	fi
	echo "fuzz: $name took $((SECONDS - t0))s"
}

parallel=()
[ -n "${FUZZPARALLEL:-}" ] && parallel=(-parallel "$FUZZPARALLEL")
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# Inside the Windows targets' test bed (below): run the targets given as
# GOOS:PKG:NAME and leave.
if [ -n "${FUZZ_IN_BED:-}" ]; then
	if [ $# -eq 0 ] || [ -z "${CONDUIT_WINRUN:-}" ]; then
		echo "fuzz: FUZZ_IN_BED is set outside the Windows targets' test bed, or with no target" >&2
		exit 2
	fi
	failfile=$FUZZ_IN_BED
	for t in "$@"; do
		IFS=: read -r goos pkg name <<<"$t"
		if [ -e "$CONDUIT_WINRUN/server-died" ]; then
			# winrun.sh has said so and fails the run; a target after it
			# would meet a server nobody watches.
			echo "$name ($pkg): not run, the test bed's Wine server died" >>"$failfile"
			continue
		fi
		run_target "$goos" "$pkg" "$name"
	done
	exit 0
fi

failfile=$(mktemp)
trap 'rm -f "$out" "$failfile"' EXIT
start=$SECONDS
native=() windows=()
for t in $(printf '%s\n' "${targets[@]}" | sort | tr ' ' ':'); do
	case $t in
	windows:*) windows+=("$t") ;;
	*) native+=("$t") ;;
	esac
done
for t in "${native[@]}"; do
	IFS=: read -r goos pkg name <<<"$t"
	run_target "$goos" "$pkg" "$name"
done
# The Windows targets share one test bed (testbed/winrun.sh: a prefix and
# Wine server of their own, every program bounded from outside), which
# saves a bed's start (2-3 s) per target; each target's go test still
# starts its own coordinator and workers, and has ended, with them, before
# the next begins.
if [ ${#windows[@]} -gt 0 ]; then
	FUZZ_IN_BED=$failfile bash testbed/winrun.sh bash "$repo/testbed/fuzz.sh" "${windows[@]}" || {
		# The targets' failures are in $failfile; this is the bed's.
		echo "fuzz: the Windows targets' test bed failed (testbed/winrun.sh)" >&2
		echo "the Windows targets' test bed" >>"$failfile"
	}
fi
echo "fuzz: ${#targets[@]} targets in $((SECONDS - start))s"
if [ -s "$failfile" ]; then
	sed 's/^/fuzz: failed: /' "$failfile" >&2
	exit 1
fi
