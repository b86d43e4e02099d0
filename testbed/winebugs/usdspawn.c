/*
 * The parent half of the shared-user-data reproducer (see usdtaken.c):
 * starts itself twice with CreateProcessW, once as a plain child and once
 * with the argument usd-victim (whose page at 0x7ffe0000 usdtaken.so takes),
 * and prints what each start gave. Under Wine 8 with usdtaken.so preloaded:
 * the plain child runs (exit code 7); the victim's start fails with error
 * 1359, ERROR_INTERNAL_ERROR. Exit status 0 when both did so.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -o usdspawn.exe usdspawn.c
 */
#include <windows.h>
#include <stdio.h>
#include <string.h>

static DWORD start(const wchar_t *arg, DWORD *code)
{
	wchar_t self[MAX_PATH], cmd[2 * MAX_PATH];
	STARTUPINFOW si = {sizeof si};
	PROCESS_INFORMATION pi;
	GetModuleFileNameW(NULL, self, MAX_PATH);
	swprintf(cmd, sizeof cmd / sizeof cmd[0], L"\"%ls\" %ls", self, arg);
	if (!CreateProcessW(NULL, cmd, NULL, NULL, FALSE, 0, NULL, NULL, &si, &pi))
		return GetLastError();
	WaitForSingleObject(pi.hProcess, INFINITE);
	GetExitCodeProcess(pi.hProcess, code);
	CloseHandle(pi.hThread);
	CloseHandle(pi.hProcess);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return 7; /* a child: it ran */
	DWORD code = 0, err;
	int ok = 1;
	err = start(L"plain", &code);
	printf("plain child: CreateProcess error %lu, exit code %lu\n", err, code);
	ok &= err == 0 && code == 7;
	code = 0;
	err = start(L"usd-victim", &code);
	printf("child whose 0x7ffe0000 is taken: CreateProcess error %lu%s\n", err,
	       err == ERROR_INTERNAL_ERROR ? " (ERROR_INTERNAL_ERROR: \"Internal error.\")" : "");
	ok &= err == ERROR_INTERNAL_ERROR;
	return ok ? 0 : 1;
}
