#!/usr/bin/env bash
# Runs one windows/amd64 program under the Wine server of a test-bed run
# (testbed/winrun.sh writes the go_windows_amd64_exec that calls this), and
# bounds it from outside.
#
# A Go test binary ends itself at its -test.timeout with every goroutine's
# stack, but only while it still runs Go code: a process stuck in a Wine
# call, or whose Wine server died, never answers. So the program gets its
# own -test.timeout plus CONDUIT_WINE_GRACE seconds (default 60: time for
# Go's own timeout to print its stacks), or CONDUIT_WINE_BOUND seconds if it
# is not a test binary and that is set. Past the bound, this names the
# package that hung, says whether the run's Wine server was alive, writes
# the native stacks of the hung process's threads (gdb, where installed) and
# a list of the run's Wine processes to the run's log, kills the program and
# every Wine program it started, and exits 124.
set -uo pipefail

run=${CONDUIT_WINRUN:?winexec.sh runs inside testbed/winrun.sh}
log=${CONDUIT_TESTBED_LOG:-/dev/null}
wine=${CONDUIT_TESTBED_WINE:?}

bound=${CONDUIT_WINE_BOUND:-0}
for a in "$@"; do
	case $a in
	-test.timeout=*)
		t=${a#-test.timeout=}
		# Go prints durations such as 10m0s, 600s, 1h0m0s.
		secs=$(echo "$t" | awk '{
			s = 0; n = ""; x = $0
			while (length(x) > 0) {
				c = substr(x, 1, 1); x = substr(x, 2)
				if (c ~ /[0-9.]/) { n = n c; continue }
				if (c == "h") s += n * 3600
				else if (c == "m" && substr(x, 1, 1) == "s") { s += n / 1000; x = substr(x, 2) }
				else if (c == "m") s += n * 60
				else if (c == "s") s += n
				n = ""
			}
			printf "%d", s
		}')
		if [ "${secs:-0}" -gt 0 ]; then
			bound=$((secs + ${CONDUIT_WINE_GRACE:-60}))
		fi
		;;
	esac
done

if [ "$bound" -le 0 ]; then
	exec "$wine" "$@"
fi

# descendants PID: PID's descendants, from the process table.
descendants() {
	ps -eo pid=,ppid= | awk -v root="$1" '
		{ parent[$1] = $2 }
		END {
			for (p in parent) {
				q = p
				while (q in parent && q != root && q > 1) q = parent[q]
				if (q == root && p != root) print p
			}
		}'
}

# marked: the live processes whose environment holds this run's mark: the
# program and every Wine program it started, even one that left the
# process group (Wine calls setsid for a child given a console of its own)
# or whose parent died (Wine double-forks). A zombie's environment reads
# empty, so zombies are not among them. Left out: the Wine programs a
# process starts for the whole prefix on demand (explorer.exe /desktop,
# conhost.exe), which other packages' binaries may be using; the run's
# teardown ends them.
mark="CONDUIT_WINEXEC=$$.$RANDOM"
marked() {
	local e p
	for e in $(grep -lzxF -- "$mark" /proc/[0-9]*/environ 2>/dev/null); do
		p=${e#/proc/}
		p=${p%/environ}
		case $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null) in
		*explorer.exe* | *conhost.exe*) continue ;;
		esac
		echo "$p"
	done
}

# stillMarked PID...: those of the PIDs that are still marked (one that
# ended may have had its PID reused by another run's process since).
stillMarked() {
	local p
	for p; do
		grep -qzxF -- "$mark" "/proc/$p/environ" 2>/dev/null && echo "$p"
	done
}

# The program in a process group of its own, so that the Wine programs it
# starts (test children, re-executed test binaries) go with it.
setsid -w env "$mark" "$wine" "$@" &
pid=$!
(
	# Check every few seconds; the bound's precision does not matter.
	end=$(($(date +%s) + bound))
	while [ "$(date +%s)" -lt "$end" ]; do
		sleep 2
		kill -0 "$pid" 2>/dev/null || exit 0
	done
	kill -0 "$pid" 2>/dev/null || exit 0
	pkg=$(pwd)
	repo=$(git -C "$pkg" rev-parse --show-toplevel 2>/dev/null) && pkg=${pkg#"$repo"/}
	server=$(cat "$run/server" 2>/dev/null || echo 0)
	if [ "$server" != 0 ] && kill -0 "$server" 2>/dev/null; then
		alive="alive"
	else
		alive="dead"
	fi
	{
		echo "=== $(date -u +%FT%TZ) hang: $pkg ($(basename "$1")) ran past its bound of ${bound}s; the run's Wine server was $alive"
		echo "--- the run's processes:"
		ps -eo pid,pgid,stat,etime,args | awk -v g="$pid" 'NR == 1 || $2 == g'
		if command -v gdb >/dev/null; then
			echo "--- native stacks of $pid's threads:"
			timeout 60 gdb -p "$pid" -batch -ex 'thread apply all bt 12' 2>&1 | grep -v '^\[New LWP' | head -n 400
		fi
	} >>"$log" 2>&1
	echo "testbed: HANG: the Windows test binary of package $pkg ran past its bound of ${bound}s (its -test.timeout plus grace) and was killed with every Wine program it started; the run's Wine server was $alive; details: $log" >&2
	touch "$run/hung.$pid"
	# Its process group, and any descendant that left it.
	kill -KILL $(descendants "$pid") 2>/dev/null
	kill -KILL -- "-$pid" 2>/dev/null
) &
watch=$!
{ wait "$pid"; } 2>/dev/null
status=$?
kill "$watch" 2>/dev/null
wait "$watch" 2>/dev/null
if [ -f "$run/hung.$pid" ]; then
	status=124
fi

# What the program left running. On Windows a child outlives its parent
# and keeps running, unseen; here it would also keep go test's stderr open
# (Wine gives every child its parent's stderr) and go test would wait 30 s
# and fail with "Test I/O incomplete", naming nothing. A leftover gets 10 s
# to end (a child killed just before the program exited may still be on
# its way out), then it is named, killed, and the run fails.
left=$(marked)
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ -z "$left" ] && break
	sleep 1
	left=$(marked)
done
if [ -n "$left" ]; then
	pkg=$(pwd)
	repo=$(git -C "$pkg" rev-parse --show-toplevel 2>/dev/null) && pkg=${pkg#"$repo"/}
	{
		echo "=== $(date -u +%FT%TZ) left running: $pkg ($(basename "$1")) exited with status $status and left these running 10 s later"
		ps -o pid,ppid,pgid,stat,etime,args -p "$(echo $left | tr ' ' ,)"
		if command -v gdb >/dev/null; then
			for p in $(echo $left | tr ' ' '\n' | head -n 3); do
				echo "--- native stacks of $p's threads:"
				timeout 20 gdb -p "$p" -batch -ex 'thread apply all bt 12' 2>&1 | grep -v '^\[New LWP' | head -n 200
			done
		fi
	} >>"$log" 2>&1
	echo "testbed: LEFT RUNNING: the Windows test binary of package $pkg exited (status $status) and left Wine programs running 10 s later (killed now):" >&2
	ps -o pid=,args= -p "$(echo $left | tr ' ' ,)" | sed 's/^/testbed:   /' >&2
	kill -KILL $(stillMarked $left) 2>/dev/null
	[ "$status" = 0 ] && status=125
fi
exit $status
