/*
 * Wine 8 server crash: NtQuerySystemInformation(SystemHandleInformation)
 * while a process has an empty handle table.
 *
 * Wine's server enumerates every process's handle table for the request
 * (server/handle.c, enum_handles) with an unsigned index compared against
 * the table's `last`, a signed int that is -1 when the table is empty:
 * the comparison is unsigned, so the loop walks far past the entries and
 * the server dies with SIGSEGV. Found by conduit's leak checks (which count
 * handles this way because Wine's GetProcessHandleCount answers 0) while
 * another test binary started: a program started from Unix (`wine x.exe`)
 * has no parent process, and its table is created empty
 * (server/process.c, create_process: alloc_handle_table(process, 0)) and
 * stays so until its start-up makes its first handle.
 *
 * This program asks for the system's handles as fast as it can for the
 * number of seconds given (default 20); run.sh starts Wine programs from
 * Unix beside it, as `go test` starts test binaries.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -o enumhandles.exe enumhandles.c -lntdll
 * Run:   testbed/winebugs/run.sh (a test bed of its own; reports whether
 *        the server died).
 * On Windows the queries succeed and it exits 0.
 */
#include <windows.h>
#include <winternl.h>
#include <stdio.h>
#include <stdlib.h>

#define SystemHandleInformationClass 16

int main(int argc, char **argv)
{
    static unsigned char buf[4 << 20];
    ULONG need = 0;
    NTSTATUS status;
    DWORD end = GetTickCount() + 1000 * (argc > 1 ? atoi(argv[1]) : 20);
    unsigned long n = 0;

    while (GetTickCount() < end) {
        status = NtQuerySystemInformation(SystemHandleInformationClass, buf, sizeof(buf), &need);
        if (status != 0) {
            printf("NtQuerySystemInformation: status %#lx\n", (unsigned long)status);
            return 1;
        }
        n++;
    }
    printf("%lu queries, all answered\n", n);
    return 0;
}
