#!/usr/bin/env bash
# Prepares the Wine test bed that runs conduit's windows/amd64 tests on Linux.
#
# Idempotent: a second run reuses everything. It installs Debian's wine and
# mingw-w64 when they are missing (as root), builds the bcryptprimitives.dll
# shim from testbed/prng.c, makes a Wine prefix in a cache directory outside
# the repository and writes a go_windows_amd64_exec wrapper there, so that
# `GOOS=windows GOARCH=amd64 go test` runs each test binary under Wine.
#
# It prints one line: the directory to put on PATH.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${CONDUIT_TESTBED:-${XDG_CACHE_HOME:-$HOME/.cache}/conduit-testbed}
prefix=$cache/wineprefix
bin=$cache/bin
log=$cache/setup.log
mkdir -p "$cache" "$bin"

# One setup at a time: make's targets may run several at once, and two
# apt-get or wineboot runs on one machine or prefix collide.
exec 9>"$cache/lock"
flock 9

# gcc: the native race detector (cgo), which make test uses for ipc.
need=()
command -v wine >/dev/null 2>&1 || need+=(wine wine64)
command -v x86_64-w64-mingw32-gcc >/dev/null 2>&1 || need+=(gcc-mingw-w64-x86-64)
command -v gcc >/dev/null 2>&1 || need+=(gcc)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "testbed: missing ${need[*]}; run as root, or: sudo apt-get install wine64 wine gcc-mingw-w64-x86-64 gcc" >&2
		exit 1
	fi
	echo "testbed: installing ${need[*]} (apt-get)" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >>"$log" 2>&1
	apt-get install -y -qq wine64 wine gcc-mingw-w64-x86-64 gcc >>"$log" 2>&1 || {
		echo "testbed: apt-get install failed; see $log" >&2
		exit 1
	}
fi

wine=$(command -v wine64 || command -v wine)
# Debian puts the 64-bit loader outside PATH on some versions.
[ -x /usr/lib/wine/wine64 ] && wine=/usr/lib/wine/wine64

export WINEPREFIX=$prefix WINEDEBUG=-all
if [ ! -f "$prefix/.conduit-ready" ]; then
	echo "testbed: creating Wine prefix in $prefix" >&2
	# No Mono or Gecko: nothing here needs .NET or HTML, and looking for
	# them costs minutes.
	WINEDLLOVERRIDES="mscoree,mshtml=" "$wine" wineboot -i >>"$log" 2>&1 9>&-
	wineserver -w
	touch "$prefix/.conduit-ready"
fi

dll=$prefix/drive_c/windows/system32/bcryptprimitives.dll
if [ ! -f "$dll" ] || [ "$repo/testbed/prng.c" -nt "$dll" ]; then
	x86_64-w64-mingw32-gcc -O2 -shared -s -o "$dll.tmp.$$" "$repo/testbed/prng.c" -ladvapi32
	mv "$dll.tmp.$$" "$dll"
fi

# Start the Wine server and its services (services.exe, winedevice.exe,
# ...) here, detached from our standard streams, and keep the server a
# minute after its last program exits. Otherwise the first test binary
# starts them, they inherit its stdout and stderr, and `go test` waits for
# those to close: "Test I/O incomplete", a failed run. wineserver fails
# (exit 2) when one is already running: then nothing is left to start.
# (Without the lock's descriptor: the server outlives this script.)
if wineserver -p60 </dev/null >/dev/null 2>&1 9>&-; then
	"$wine" cmd /c exit </dev/null >/dev/null 2>&1 9>&- || true
fi

# A name of this process's own: several setup.sh may run at once.
tmp=$bin/go_windows_amd64_exec.tmp.$$
# The wrapper does the same before each program: a build of many packages
# (-race, cgo) can outlast the server's minute.
cat >"$tmp" <<WRAP
#!/bin/sh
# Written by conduit's testbed/setup.sh: runs a windows/amd64 binary under Wine.
export WINEPREFIX="$prefix" WINEDEBUG=-all
if wineserver -p60 </dev/null >/dev/null 2>&1; then
	"$wine" cmd /c exit </dev/null >/dev/null 2>&1 || true
fi
exec "$wine" "\$@"
WRAP
chmod +x "$tmp"
mv "$tmp" "$bin/go_windows_amd64_exec"
echo "$bin"
