#!/usr/bin/env bash
# Compares this checkout's conduit with an older commit's on the Windows
# benchmarks, interleaved: the runner is built from both, and run in turn,
# old then new, PAIRS times (default 3), each time for ROUNDS rounds
# (default 2), all in one test bed (testbed/winrun.sh). `report ab` then
# gives, per row, the new build over the old one, the median over pairs.
#
#   bash bench/ab.sh OLD_COMMIT [report run arguments, e.g. -only 'ping-pong|64 KiB']
#
# Environment: PAIRS, ROUNDS. Writes bench/.build/ab.md.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
old=${1:?usage: bench/ab.sh OLD_COMMIT [report run arguments]}
shift
pairs=${PAIRS:-3}
rounds=${ROUNDS:-2}
build=$repo/bench/.build/ab
mkdir -p "$build"
tree=$(mktemp -d)
trap 'git -C "$repo" worktree remove --force "$tree" >/dev/null 2>&1 || rm -rf "$tree"' EXIT
git -C "$repo" worktree add -q --detach "$tree" "$old"

echo "ab: building the runner at $old and from this checkout" >&2
x86_64-w64-mingw32-gcc -O2 -Wall -o "$build/pipebench.exe" "$repo/bench/c/pipebench.c"
# The old runner: the old commit's bench module if it has the same
# workloads, built against the old library (the bench module's go.mod
# replaces conduit with ../).
(cd "$tree/bench" && GOOS=windows GOARCH=amd64 go build -o "$build/old.exe" ./cmd/report)
(cd "$repo/bench" && GOOS=windows GOARCH=amd64 go build -o "$build/new.exe" ./cmd/report)
(cd "$repo/bench" && go build -o "$build/report" ./cmd/report)

bash "$repo/testbed/winrun.sh" bash -c '
	build=$1 pairs=$2 rounds=$3; shift 3
	for i in $(seq "$pairs"); do
		for v in old new; do
			echo "ab: pair $i of $pairs: $v" >&2
			go_windows_amd64_exec "$build/$v.exe" run -o "$build/$v.$i.json" -c "$build" -rounds "$rounds" "$@"
		done
	done' _ "$build" "$pairs" "$rounds" "$@"
files=()
for i in $(seq "$pairs"); do files+=("$build/old.$i.json" "$build/new.$i.json"); done
"$build/report" ab -md "$build/ab.md" "${files[@]}"
cat "$build/ab.md"
