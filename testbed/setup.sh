#!/usr/bin/env bash
# Prepares the Wine test bed that runs conduit's windows/amd64 tests on Linux.
#
# Idempotent: a second run reuses everything. It installs Debian's wine and
# mingw-w64 when they are missing (as root), builds the bcryptprimitives.dll
# shim from testbed/prng.c, and makes a template Wine prefix in a cache
# directory outside the repository. No program runs in the template: each
# run copies it and gets a Wine server of its own (testbed/winrun.sh, which
# make's recipes use).
#
# It prints one line: a directory whose go_windows_amd64_exec runs each
# windows/amd64 program in a test bed of its own (a fresh copy and server
# per program: slower than winrun.sh, which shares one between the programs
# of a run, but as isolated), for `PATH=$(setup.sh):$PATH GOOS=windows go
# test` by hand.
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

wineserver=$(command -v wineserver)
[ -x /usr/lib/wine/wineserver64 ] && wineserver=/usr/lib/wine/wineserver64
echo "$wine" >"$cache/wine"
echo "$wineserver" >"$cache/wineserver"

export WINEPREFIX=$prefix WINEDEBUG=-all
if [ ! -f "$prefix/.conduit-ready" ]; then
	echo "testbed: creating Wine prefix in $prefix" >&2
	# No Mono or Gecko: nothing here needs .NET or HTML, and looking for
	# them costs minutes.
	# Address space randomisation off where it can be, as winrun.sh does
	# for every run (a Wine process can fail to start with it on).
	norandom=()
	[ "${CONDUIT_TESTBED_ASLR:-}" != on ] && setarch "$(uname -m)" -R true 2>/dev/null && norandom=(setarch "$(uname -m)" -R)
	WINEDLLOVERRIDES="mscoree,mshtml=" "${norandom[@]}" "$wine" wineboot -i >>"$log" 2>&1 9>&-
	# The template's server saves the registry and ends: runs copy a
	# prefix that no server is writing.
	"$wineserver" -w
	touch "$prefix/.conduit-ready"
fi

dll=$prefix/drive_c/windows/system32/bcryptprimitives.dll
if [ ! -f "$dll" ] || [ "$repo/testbed/prng.c" -nt "$dll" ]; then
	x86_64-w64-mingw32-gcc -O2 -shared -s -o "$dll.tmp.$$" "$repo/testbed/prng.c" -ladvapi32
	mv "$dll.tmp.$$" "$dll"
fi

# The wrapper for this checkout (another checkout's names its own scripts).
bin=$cache/bin/$(printf '%s' "$repo" | md5sum | cut -c1-12)
mkdir -p "$bin"
tmp=$bin/go_windows_amd64_exec.tmp.$$
cat >"$tmp" <<WRAP
#!/bin/sh
# Written by conduit's testbed/setup.sh: runs one windows/amd64 program in a
# test bed of its own (winrun.sh), bounded (winexec.sh).
exec bash "$repo/testbed/winrun.sh" bash "$repo/testbed/winexec.sh" "\$@"
WRAP
chmod +x "$tmp"
mv "$tmp" "$bin/go_windows_amd64_exec"
echo "$bin"
