#!/usr/bin/env bash
# Runs the Wine bug reproducers in this directory, each in a test bed of its
# own (testbed/winrun.sh), and says for each whether the bug showed.
#
#   testbed/winebugs/run.sh
#
# enumhandles: Wine 8's server crashes (SIGSEGV in enum_handles) on
# NtQuerySystemInformation(SystemHandleInformation) while any process has
# an empty handle table, as a program started from Unix has for a moment;
# see enumhandles.c.
#
# usdtaken: a Wine process whose page at 0x7ffe0000 (Windows' shared user
# data) is already mapped when it starts exits before it reaches the server,
# and its parent's CreateProcess fails with ERROR_INTERNAL_ERROR ("Internal
# error."); by chance, Debian's Wine (no preloader) lets the brk heap take
# that page; see usdtaken.c and usdspawn.c.
#
# Exit status: 0 if every reproducer behaved as documented (the bug shows),
# 1 otherwise.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
x86_64-w64-mingw32-gcc -O2 -o "$out/enumhandles.exe" "$here/enumhandles.c" -lntdll || exit 1
# The query loop, and beside it Wine programs started from Unix, each of
# which has an empty handle table for a moment as it starts.
log=$(bash "$here/../winrun.sh" bash -c '
	"$CONDUIT_TESTBED_WINE" "$1" 20 & q=$!
	while kill -0 $q 2>/dev/null; do "$CONDUIT_TESTBED_WINE" cmd /c exit </dev/null >/dev/null 2>&1; done
	wait $q; echo "the query loop exited with status $?"' _ "$out/enumhandles.exe" 2>&1)
echo "$log"
status=0
if echo "$log" | grep -q "the Wine server of this run .* died"; then
	echo "enumhandles: the Wine server died, as Wine 8.0's does (server/handle.c enum_handles)"
else
	echo "enumhandles: the Wine server survived: this Wine does not have the bug"
	status=1
fi

gcc -shared -fPIC -O2 -o "$out/usdtaken.so" "$here/usdtaken.c" || exit 1
x86_64-w64-mingw32-gcc -O2 -o "$out/usdspawn.exe" "$here/usdspawn.c" || exit 1
# WINEDEBUG=err+virtual shows the line the test bed's -all hides.
log=$(bash "$here/../winrun.sh" bash -c '
	LD_PRELOAD="$1" WINEDEBUG=err+virtual "$CONDUIT_TESTBED_WINE" "$2"; echo "usdspawn exited with status $?"' _ "$out/usdtaken.so" "$out/usdspawn.exe" 2>&1)
echo "$log"
if echo "$log" | grep -q "usdspawn exited with status 0"; then
	echo "usdtaken: the child whose 0x7ffe0000 was taken never started, and CreateProcess failed with ERROR_INTERNAL_ERROR, as with Wine 8.0 (dlls/ntdll/unix/virtual.c virtual_alloc_first_teb)"
else
	echo "usdtaken: the child started, or CreateProcess failed otherwise: this Wine does not have the bug"
	status=1
fi
exit $status
