/*
 * pipebench: the C ceiling for conduit's named-pipe benchmarks.
 *
 * A client and a server, each in two flavours: "overlapped" issues every
 * ReadFile, WriteFile and ConnectNamedPipe with an OVERLAPPED on a handle
 * associated with a completion port, with
 * FILE_SKIP_COMPLETION_PORT_ON_SUCCESS so that a call that completes at
 * once is done without the port, and waits on the port otherwise; "sync"
 * makes plain synchronous calls. One operation is in flight at a time, as in
 * a Go program's Read or Write loop. Nothing else runs: no runtime, no
 * scheduler, no allocation per operation. Built with mingw-w64:
 *
 *   x86_64-w64-mingw32-gcc -O2 -o pipebench.exe pipebench.c
 *
 * Usage:
 *   pipebench server overlapped|sync discard|echo PIPE
 *       Creates PIPE (\\.\pipe\...), prints "ready", serves one client at a
 *       time (discard: reads everything; echo: writes back what it reads)
 *       and exits when its standard input closes.
 *   pipebench client overlapped|sync throughput|pingpong PIPE SIZE MS
 *       Connects to PIPE and, after a warm-up of MS/5, for MS milliseconds
 *       writes SIZE bytes at a time (throughput), or writes one byte and
 *       reads its echo (pingpong). Prints one JSON line: {"throughput": MB/s}
 *       or {"median": us, "p99": us}, times from QueryPerformanceCounter.
 */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define QUOTA (64 * 1024)

static HANDLE port;
static int overlapped;
static LARGE_INTEGER freq;

static void die(const char *what) {
	fprintf(stderr, "pipebench: %s: error %lu\n", what, GetLastError());
	ExitProcess(1);
}

static double now_us(void) {
	LARGE_INTEGER c;
	QueryPerformanceCounter(&c);
	return (double)c.QuadPart * 1e6 / (double)freq.QuadPart;
}

/* finish waits for an overlapped call that returned pending (or, without
 * the port, for nothing) and returns its byte count, or -1 on failure with
 * the error in GetLastError. ok and n are the call's own answer, ov its
 * OVERLAPPED. */
static long finish(BOOL ok, DWORD n, OVERLAPPED *ov) {
	DWORD got;
	ULONG_PTR key;
	OVERLAPPED *o;
	if (ok) /* at once: the OVERLAPPED has the count, the call's own may not */
		return overlapped ? (long)ov->InternalHigh : (long)n;
	if (!overlapped || GetLastError() != ERROR_IO_PENDING)
		return -1;
	if (!GetQueuedCompletionStatus(port, &got, &key, &o, INFINITE))
		return -1;
	return (long)got;
}

static long xread(HANDLE h, void *buf, DWORD len) {
	OVERLAPPED o;
	DWORD n = 0;
	BOOL ok;
	memset(&o, 0, sizeof o);
	ok = ReadFile(h, buf, len, &n, overlapped ? &o : NULL);
	return finish(ok, n, &o);
}

static long xwrite(HANDLE h, const void *buf, DWORD len) {
	OVERLAPPED o;
	DWORD n = 0;
	BOOL ok;
	memset(&o, 0, sizeof o);
	ok = WriteFile(h, buf, len, &n, overlapped ? &o : NULL);
	return finish(ok, n, &o);
}

/* prepare associates h with the port and skips the port for calls that
 * complete at once. */
static void prepare(HANDLE h) {
	if (!overlapped)
		return;
	if (!CreateIoCompletionPort(h, port, 0, 0))
		die("CreateIoCompletionPort");
	if (!SetFileCompletionNotificationModes(h, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS | FILE_SKIP_SET_EVENT_ON_HANDLE))
		die("SetFileCompletionNotificationModes");
}

static DWORD WINAPI watch_stdin(LPVOID arg) {
	char b[64];
	DWORD n;
	(void)arg;
	while (ReadFile(GetStdHandle(STD_INPUT_HANDLE), b, sizeof b, &n, NULL) && n > 0)
		;
	ExitProcess(0);
	return 0;
}

static void server(const char *mode, const wchar_t *path) {
	int echo = strcmp(mode, "echo") == 0;
	static char buf[1 << 20];
	HANDLE h = CreateNamedPipeW(path, PIPE_ACCESS_DUPLEX | (overlapped ? FILE_FLAG_OVERLAPPED : 0),
		PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, QUOTA, QUOTA, 0, NULL);
	if (h == INVALID_HANDLE_VALUE)
		die("CreateNamedPipe");
	prepare(h);
	CreateThread(NULL, 0, watch_stdin, NULL, 0, NULL);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		OVERLAPPED o;
		memset(&o, 0, sizeof o);
		if (!ConnectNamedPipe(h, overlapped ? &o : NULL)) {
			DWORD e = GetLastError();
			if (e == ERROR_IO_PENDING) {
				if (finish(FALSE, 0, &o) < 0)
					die("ConnectNamedPipe");
			} else if (e != ERROR_PIPE_CONNECTED) {
				die("ConnectNamedPipe");
			}
		}
		for (;;) {
			long n = xread(h, buf, echo ? QUOTA : sizeof buf);
			if (n < 0)
				break; /* the client closed: ERROR_BROKEN_PIPE */
			if (echo && n > 0 && xwrite(h, buf, (DWORD)n) < 0)
				break;
		}
		DisconnectNamedPipe(h);
	}
}

static int cmp(const void *a, const void *b) {
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static int client(const char *work, const wchar_t *path, long size, double ms) {
	HANDLE h;
	char *buf = calloc(1, size > 1 ? size : 1);
	double warm = ms * 1000 / 5, run = ms * 1000, t, end;
	for (;;) {
		h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
			overlapped ? FILE_FLAG_OVERLAPPED : 0, NULL);
		if (h != INVALID_HANDLE_VALUE)
			break;
		if (GetLastError() != ERROR_PIPE_BUSY || !WaitNamedPipeW(path, 5000))
			die("CreateFile");
	}
	prepare(h);
	if (strcmp(work, "throughput") == 0) {
		double bytes = 0, start;
		for (end = now_us() + warm; now_us() < end;)
			if (xwrite(h, buf, size) != size)
				die("WriteFile");
		start = now_us();
		for (end = start + run; (t = now_us()) < end; bytes += size)
			if (xwrite(h, buf, size) != size)
				die("WriteFile");
		printf("{\"throughput\": %.3f}\n", bytes / (t - start));
	} else {
		size_t cap = 1 << 16, n = 0;
		double *lat = malloc(cap * sizeof *lat);
		for (end = now_us() + warm; now_us() < end;)
			if (xwrite(h, buf, 1) != 1 || xread(h, buf, 1) != 1)
				die("ping-pong");
		t = now_us();
		for (end = t + run; t < end;) {
			double t2;
			if (xwrite(h, buf, 1) != 1 || xread(h, buf, 1) != 1)
				die("ping-pong");
			t2 = now_us();
			if (n == cap)
				lat = realloc(lat, (cap *= 2) * sizeof *lat);
			lat[n++] = t2 - t;
			t = t2;
		}
		qsort(lat, n, sizeof *lat, cmp);
		{
			double med = n % 2 ? lat[n / 2] : (lat[n / 2 - 1] + lat[n / 2]) / 2;
			size_t r = (size_t)(0.99 * n + 0.999999999);
			printf("{\"median\": %.3f, \"p99\": %.3f}\n", med, lat[r > 0 ? r - 1 : 0]);
		}
	}
	CloseHandle(h);
	return 0;
}

int main(int argc, char **argv) {
	wchar_t path[512];
	if (argc < 5) {
		fprintf(stderr, "usage: pipebench server overlapped|sync discard|echo PIPE\n"
			"       pipebench client overlapped|sync throughput|pingpong PIPE SIZE MS\n");
		return 2;
	}
	QueryPerformanceFrequency(&freq);
	overlapped = strcmp(argv[2], "overlapped") == 0;
	if (overlapped && !(port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1)))
		die("CreateIoCompletionPort");
	MultiByteToWideChar(CP_UTF8, 0, argv[4], -1, path, 512);
	if (strcmp(argv[1], "server") == 0) {
		server(argv[3], path);
		return 1;
	}
	if (argc < 7)
		return 2;
	return client(argv[3], path, atol(argv[5]), atof(argv[6]));
}
