#!/usr/bin/env bash
# Runs a command against a Wine test bed of its own: a prefix copied from the
# template that setup.sh prepares, and a Wine server for that prefix alone,
# both torn down when the command ends, however it ends.
#
#   testbed/winrun.sh COMMAND [ARG...]
#
# COMMAND runs with GOOS=windows GOARCH=amd64 and a go_windows_amd64_exec
# on PATH, so `testbed/winrun.sh go test ./namedpipe` runs the Windows tests
# under Wine. Every Windows program that COMMAND starts that way is bounded
# from outside (testbed/winexec.sh): a test binary that Go's own -timeout
# cannot end (a process that no longer runs Go code) is killed, with its
# Wine processes, and named. If the run's Wine server dies, every Wine
# process of the run is killed at once and the run fails, saying so, rather
# than each test binary hanging until its bound.
#
# Why a server and a prefix per run: Wine's server is per prefix, and one
# shared by two runs (make test beside make bench, two checkouts) lets one
# break the other: a crash of the server, a test that fills a pipe name
# space, a run's teardown killing the other's programs. A copy costs about a
# second (hard links, with the registry files copied, since the server
# rewrites them); booting the run's Wine services a second or two more.
#
# Environment: CONDUIT_TESTBED (the cache directory, as for setup.sh);
# CONDUIT_WINE_BOUND (seconds; winexec.sh's bound for programs that are not
# test binaries, default none). The run's directory is exported to COMMAND
# as CONDUIT_WINRUN; a command already inside a run (CONDUIT_WINRUN set)
# runs in it, without a second bed. Logs of hangs and server deaths are kept
# in the cache's logs/ directory (the last 20 runs').
set -uo pipefail

if [ $# -eq 0 ]; then
	sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
fi
if [ -n "${CONDUIT_WINRUN:-}" ] && [ -d "$CONDUIT_WINRUN" ]; then
	exec "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)

# Every program of the run starts with Linux's address space randomisation
# off (the ADDR_NO_RANDOMIZE personality, which children inherit). Debian's
# Wine 8 runs without its preloader (packaged apart), which would reserve
# the address of Windows' shared user data (0x7ffe0000) before anything
# else is mapped, and Linux puts the brk heap of wine64 (linked at
# 0x7d000000) anywhere up to 1 GiB above it: where the heap the loader
# built before Wine reserves that range already covers the page, the
# process exits before it reaches the server (silently under
# WINEDEBUG=-all) and its parent's CreateProcess fails with "Internal
# error." (about one Wine process start in 5,000; testbed/winebugs/README.md).
# Not randomised, the heap starts right after wine64, 48 MB below. Wine
# places Windows' images itself, as before. CONDUIT_TESTBED_ASLR=on keeps
# randomisation on (to show the bug).
if [ "${CONDUIT_TESTBED_ASLR:-}" != on ] && [ $((0x$(cat /proc/self/personality 2>/dev/null || echo 0) & 0x40000)) = 0 ]; then
	if setarch "$(uname -m)" -R true 2>/dev/null; then
		exec setarch "$(uname -m)" -R bash "$0" "$@"
	fi
	if [ -z "${CONDUIT_TESTBED_ASLR_WARNED:-}" ]; then
		export CONDUIT_TESTBED_ASLR_WARNED=1
		echo "testbed: cannot turn address space randomisation off (setarch -R): now and then a Wine program will fail to start (\"Internal error.\"; testbed/winebugs/README.md)" >&2
	fi
fi

bash "$here/setup.sh" >/dev/null || exit 1
cache=${CONDUIT_TESTBED:-${XDG_CACHE_HOME:-$HOME/.cache}/conduit-testbed}
template=$cache/wineprefix
wine=$(cat "$cache/wine")
wineserver=$(cat "$cache/wineserver")

# Runs whose owner is gone (a make killed with SIGKILL): their servers and
# programs are ended and their directories removed, so that nothing of one
# run is left to break the next.
mkdir -p "$cache/runs" "$cache/logs"
for d in "$cache"/runs/*/; do
	[ -d "$d" ] || continue
	d=${d%/}
	owner=$(cat "$d/owner" 2>/dev/null || echo 0)
	if [ "$owner" != 0 ] && kill -0 "$owner" 2>/dev/null; then
		continue
	fi
	# No owner yet: a run being made this moment (mktemp, then the
	# owner file), unless it is a minute old.
	if [ ! -s "$d/owner" ] && [ -n "$(find "$d" -maxdepth 0 -newermt '-60 seconds' 2>/dev/null)" ]; then
		continue
	fi
	bash "$here/winkill.sh" "$d" >/dev/null 2>&1
	rm -rf "$d"
done

run=$(mktemp -d "$cache/runs/run.XXXXXX")
echo $$ >"$run/owner"
prefix=$run/prefix
log=$cache/logs/$(basename "$run").log
: >"$log"
# Keep the last 20 runs' logs.
ls -1t "$cache"/logs/*.log 2>/dev/null | tail -n +21 | xargs -r rm -f

# The copy: hard links to the template's files (Wine's DLLs and the like,
# which nothing writes), real copies of the registry files (the server
# saves them by writing a new file and renaming it, but a copy costs little
# and leaves nothing to chance), and no record of the template's server
# directory (Debian's wine keeps it in the prefix's "wineserver" file): the
# run's server makes its own.
cp -al "$template" "$prefix" || { echo "testbed: cannot copy the prefix into $run" >&2; rm -rf "$run"; exit 1; }
for f in system.reg user.reg userdef.reg; do
	[ -f "$template/$f" ] && cp --remove-destination "$template/$f" "$prefix/$f"
done
rm -f "$prefix/wineserver"

export WINEPREFIX=$prefix WINEDEBUG=-all CONDUIT_WINRUN=$run CONDUIT_TESTBED_LOG=$log
export CONDUIT_TESTBED_HERE=$here CONDUIT_TESTBED_WINE=$wine

# The run's server, in the foreground of a background job, so that its pid
# is ours to watch; -p: it stays between programs until the teardown.
# Core dumps on for the server alone, where the kernel writes them, for a
# server that crashes (on for the whole run, they left a core in the
# package's directory from a Wine program killed as it started: Wine ends
# a terminated process's threads with SIGQUIT, fatal before its handlers).
(ulimit -c unlimited 2>/dev/null; cd "$run" && exec "$wineserver" -f -p </dev/null >>"$log" 2>&1) &
server=$!
echo "$server" >"$run/server"

# Wait until the server listens before any Wine program starts: a program
# that finds no server socket starts a server of its own (wineserver
# -p0), and ours, finding the prefix taken, exits. The socket is in the
# server's directory, named after the prefix's device and inode, under
# /tmp/<the prefix's "wineserver" file, which Debian's wine writes>, or
# /tmp/.wine-UID elsewhere.
ready=false
for _ in $(seq 200); do
	kill -0 "$server" 2>/dev/null || break
	sdir=/tmp/$(cat "$prefix/wineserver" 2>/dev/null || echo ".wine-$(id -u)")/server-$(stat -c %D "$prefix")-$(printf %x "$(stat -c %i "$prefix")")
	if [ -S "$sdir/socket" ]; then
		ready=true
		break
	fi
	sleep 0.05
done
if ! $ready; then
	echo "testbed: the run's Wine server did not start (log: $log)" >&2
	bash "$here/winkill.sh" "$run" >>"$log" 2>&1
	rm -rf "$run"
	exit 1
fi

# Boot the prefix's services (services.exe, winedevice.exe, ...) now,
# detached from our standard streams: a test binary that started them would
# hand them its stdout and stderr, and `go test` waits for those to close
# ("Test I/O incomplete").
"$wine" cmd /c exit </dev/null >/dev/null 2>&1 || true

bin=$run/bin
mkdir -p "$bin"
cat >"$bin/go_windows_amd64_exec" <<WRAP
#!/bin/sh
# Written by conduit's testbed/winrun.sh: runs a windows/amd64 binary under
# this run's Wine server, bounded (winexec.sh).
exec bash "$here/winexec.sh" "\$@"
WRAP
chmod +x "$bin/go_windows_amd64_exec"
export PATH="$bin:$PATH" GOOS=windows GOARCH=amd64

# The watch: if the server dies before the teardown, say so, with what the
# kernel and the server's log say, and end every Wine process of the run, so
# that the test binaries fail now instead of each hanging until its bound.
(
	while kill -0 "$server" 2>/dev/null; do
		[ -f "$run/tearing-down" ] && exit 0
		sleep 1
	done
	[ -f "$run/tearing-down" ] && exit 0
	wait "$server" 2>/dev/null
	{
		echo "testbed: the Wine server of this run (pid $server, prefix $prefix) died while the run was going on."
		# The server works in its socket directory, where a core
		# (core_pattern "core") lands: /tmp/<the prefix's wineserver
		# file>/server-* with Debian's wine, /tmp/.wine-UID/server-*
		# otherwise.
		sdir=/tmp/$(cat "$prefix/wineserver" 2>/dev/null || echo ".wine-$(id -u)")
		core=$(ls -1t "$sdir"/server-*/core* 2>/dev/null | head -n1)
		if [ -n "$core" ]; then
			cp "$core" "$cache/logs/$(basename "$run").core" 2>/dev/null
			echo "testbed: its core: $cache/logs/$(basename "$run").core"
			if command -v gdb >/dev/null; then
				gdb -batch -ex bt "$wineserver" "$core" 2>/dev/null | tail -n 30
			fi
		fi
		echo "testbed: ending every Wine process of the run; log: $log"
	} | tee -a "$log" >&2
	touch "$run/server-died"
	bash "$here/winkill.sh" "$run" >>"$log" 2>&1
) &
watch=$!

teardown() {
	touch "$run/tearing-down"
	kill "$watch" 2>/dev/null
	wait "$watch" 2>/dev/null
	bash "$here/winkill.sh" "$run" >>"$log" 2>&1
	rm -rf "$run"
}
trap 'teardown; exit 130' INT
trap 'teardown; exit 143' TERM

"$@"
status=$?
if [ -f "$run/server-died" ]; then
	echo "testbed: failing the run: its Wine server died (log: $log)" >&2
	[ $status -eq 0 ] && status=1
fi
teardown
exit $status
