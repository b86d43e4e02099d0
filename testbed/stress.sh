#!/usr/bin/env bash
# Finds flaky tests: runs conduit's suites many times with CPU load beside
# them and prints, per test, in how many runs it failed. `make stress` runs
# it.
#
#   testbed/stress.sh [SUITE...]
#
# SUITEs (default: all of them):
#   native        go test ./... natively
#   native-race   ipc natively under the race detector (as make test runs it)
#   windows       go test ./... and interop/ under Wine (testbed/winrun.sh)
#   windows-race  the same built with -race
#
# Environment: STRESS_RUNS (default 20) runs of each suite; STRESS_LOAD
# (default 2) busy processes beside them for the whole time, so that the
# tests run slower and in other orders than on a quiet machine, as they do
# in CI beside other work; STRESS_TIMEOUT (default 300s) each test binary's
# -timeout (the Wine runs are also bounded from outside, by winexec.sh);
# STRESS_DIR (default a new directory under /tmp) where every run's output
# is kept, as `go test -json`.
#
# Exit status: 0 if no test failed in any run, 1 otherwise.
set -uo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo" || exit 1
runs=${STRESS_RUNS:-20}
load=${STRESS_LOAD:-2}
timeout=${STRESS_TIMEOUT:-300s}
dir=${STRESS_DIR:-$(mktemp -d /tmp/conduit-stress.XXXXXX)}
mkdir -p "$dir"
suites=("$@")
[ ${#suites[@]} -eq 0 ] && suites=(native native-race windows windows-race)
for s in "${suites[@]}"; do
	case $s in
	native | native-race | windows | windows-race) ;;
	*)
		echo "stress: unknown suite $s (native, native-race, windows, windows-race)" >&2
		exit 2
		;;
	esac
done

# Build everything once, so that the first run does not pay for it.
bash testbed/setup.sh >/dev/null || exit 1

busy=()
stop_load() { [ ${#busy[@]} -gt 0 ] && kill "${busy[@]}" 2>/dev/null; busy=(); }
trap 'stop_load' EXIT
trap 'stop_load; exit 130' INT TERM
for _ in $(seq "$load"); do
	sh -c 'while :; do :; done' &
	busy+=($!)
done

# suite NAME OUT: one run of suite NAME, as go test -json lines into OUT.
suite() {
	case $1 in
	native) go test -count=1 -json -timeout "$timeout" ./... ;;
	native-race) CGO_ENABLED=1 go test -race -count=1 -json -timeout "$timeout" ./ipc ;;
	windows)
		bash testbed/winrun.sh go test -count=1 -json -timeout "$timeout" ./...
		(cd interop && bash ../testbed/winrun.sh go test -count=1 -json -timeout "$timeout" ./...)
		;;
	windows-race)
		bash testbed/winrun.sh env CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc go test -race -count=1 -json -timeout "$timeout" ./...
		(cd interop && bash ../testbed/winrun.sh env CGO_ENABLED=1 CC=x86_64-w64-mingw32-gcc go test -race -count=1 -json -timeout "$timeout" ./...)
		;;
	esac >"$2" 2>"$2.stderr"
}

# failures FILE: "package test" for each test that failed in FILE, and
# "package (package)" for a package that failed with no failing test (a
# panic, a timeout, a hang killed from outside, a build failure).
failures() {
	awk '
		/"Action":"fail"/ {
			pkg = $0; sub(/.*"Package":"/, "", pkg); sub(/".*/, "", pkg)
			sub(/^github.com\/conduit-ipc\/conduit\//, "", pkg)
			if ($0 ~ /"Test":"/) {
				t = $0; sub(/.*"Test":"/, "", t); sub(/".*/, "", t)
				print pkg, t; failedtest[pkg] = 1
			} else pkgfail[pkg] = 1
		}
		END { for (p in pkgfail) if (!(p in failedtest)) print p, "(package)" }
	' "$1"
	# A build failure prints no JSON for its package.
	grep -h '^FAIL.*\[build failed\]\|^# ' "$1.stderr" 2>/dev/null | sed 's/^/build: /' | head -n 3
}

start=$SECONDS
tally=$dir/tally
: >"$tally"
for i in $(seq "$runs"); do
	for s in "${suites[@]}"; do
		out=$dir/$s.$i.json
		t0=$SECONDS
		suite "$s" "$out"
		n=0
		while IFS= read -r f; do
			[ -n "$f" ] || continue
			echo "$s $f" >>"$tally"
			n=$((n + 1))
		done < <(failures "$out")
		echo "stress: run $i/$runs of $s: $n failures, $((SECONDS - t0))s ($out)"
		grep -h '^testbed: ' "$out.stderr" 2>/dev/null
	done
done
stop_load

echo
echo "stress: $runs runs of ${suites[*]} with $load busy processes beside, in $((SECONDS - start))s; output in $dir"
if [ ! -s "$tally" ]; then
	echo "stress: no test failed"
	exit 0
fi
# A subtest's failure fails its parents too: list each failing test once,
# by how many runs it failed in.
echo "runs failed  suite         package  test"
sort "$tally" | uniq -c | sort -rn | awk '{ printf "%11d  %-12s  %s  %s\n", $1, $2, $3, $4 }'
exit 1
