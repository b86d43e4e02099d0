#!/usr/bin/env bash
# Ends every Wine process of a test-bed run (testbed/winrun.sh) and its
# server, whether the server still answers or not, and removes the server's
# socket directory.
#
#   testbed/winkill.sh RUNDIR
#
# A Wine process is the run's when its environment names the run's prefix
# (WINEPREFIX=RUNDIR/prefix): every program Wine starts inherits it,
# services.exe and the test binaries' children included.
set -uo pipefail
run=${1:?usage: winkill.sh RUNDIR}
prefix=$run/prefix
wineserver=$(cat "$(dirname "$(dirname "$run")")/wineserver" 2>/dev/null || command -v wineserver)

# procs: the pids of the run's processes, this script and its callers aside.
procs() {
	local f p
	# One grep over every process's environment (NUL-separated lines).
	for f in $(grep -lzxF "WINEPREFIX=$prefix" /proc/[0-9]*/environ 2>/dev/null); do
		p=${f#/proc/}
		p=${p%/environ}
		[ "$p" = $$ ] && continue
		# Not the shells of the run itself (winrun.sh, make's recipe,
		# go test): only Wine's programs and server.
		case $(readlink "/proc/$p/exe" 2>/dev/null) in
		*wine*) echo "$p" ;;
		esac
	done
}

# Politely first: the server ends its programs and itself.
server=$(cat "$run/server" 2>/dev/null || echo 0)
if [ "$server" != 0 ] && kill -0 "$server" 2>/dev/null; then
	WINEPREFIX=$prefix timeout 10 "$wineserver" -k 2>/dev/null
	for _ in $(seq 100); do
		kill -0 "$server" 2>/dev/null || break
		sleep 0.05
	done
fi
left=$(procs)
if [ -n "$left" ]; then
	echo "winkill: killing $(echo $left | wc -w) Wine processes of $run that outlived the server:"
	for p in $left; do
		echo "  $p $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"
	done
	kill -KILL $left 2>/dev/null
fi
[ "$server" != 0 ] && kill -KILL "$server" 2>/dev/null
sdir=$(cat "$prefix/wineserver" 2>/dev/null)
case $sdir in
wine-*) rm -rf "/tmp/$sdir" ;;
esac
exit 0
