#!/usr/bin/env bash
# conduit's benchmarks, every peer in the same run: what `make bench` runs.
#
#   bash bench/run.sh           the full run (a few minutes): writes
#                               docs/bench/results.md and docs/bench/chart.svg,
#                               and the summary between the bench markers in
#                               README.md; bench/explanations.txt says why
#                               rows fall short
#   bash bench/run.sh -quick    a smoke test (1 short round each, 50 idle
#                               connections): writes bench/.build/quick.md and
#                               quick.svg, leaves docs/bench alone
#
# Any other arguments go to `report run` on both platforms (e.g. -rounds 7,
# -d 400ms, -only 'ping-pong'). It builds the C programs (bench/c) with
# mingw-w64, the runner for Windows and for Linux (bench/cmd/report), runs
# the Windows part under Wine through the test bed (testbed/setup.sh, which
# installs Wine and mingw-w64 on a fresh Debian machine when run as root)
# and the Linux part natively, and renders both into one table and chart.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
build=$repo/bench/.build
mkdir -p "$build"

quick=
args=()
for a in "$@"; do
	case $a in
	-quick | --quick) quick=1; args+=(-quick) ;;
	*) args+=("$a") ;;
	esac
done

bin=$(bash "$repo/testbed/setup.sh")
export PATH="$bin:$PATH"
wine_version=$("$bin/go_windows_amd64_exec" --version)

echo "bench: building pipebench.exe and the runner" >&2
x86_64-w64-mingw32-gcc -O2 -Wall -o "$build/pipebench.exe" "$repo/bench/c/pipebench.c"
(cd "$repo/bench" && GOOS=windows GOARCH=amd64 go build -o "$build/report.exe" ./cmd/report)
(cd "$repo/bench" && go build -o "$build/report" ./cmd/report)

# Children of the Windows runner are Windows programs: the runner itself
# and pipebench.exe, found in $build.
"$bin/go_windows_amd64_exec" "$build/report.exe" run -o "$build/windows.json" -c "$build" ${args[@]+"${args[@]}"}
"$build/report" run -o "$build/linux.json" ${args[@]+"${args[@]}"}

notes=(-notes "$repo/bench/explanations.txt")
if [ -n "$quick" ]; then
	md=$build/quick.md svg=$build/quick.svg
else
	mkdir -p "$repo/docs/bench"
	md=$repo/docs/bench/results.md svg=$repo/docs/bench/chart.svg
	notes+=(-readme "$repo/README.md")
fi
"$build/report" render -md "$md" -svg "$svg" -wine "$wine_version" "${notes[@]}" "$build/windows.json" "$build/linux.json"
echo "bench: wrote $md and $svg" >&2
