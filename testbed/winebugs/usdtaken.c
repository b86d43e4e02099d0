/*
 * Wine 8 (Debian, no preloader): a process whose page at 0x7ffe0000 is
 * already mapped when it starts exits with status 1 before it reaches the
 * Wine server, and its parent's CreateProcess fails with
 * ERROR_INTERNAL_ERROR ("Internal error.").
 *
 * Every Wine process maps Windows' shared user data (KUSER_SHARED_DATA) at
 * 0x7ffe0000 first thing (dlls/ntdll/unix/virtual.c,
 * virtual_alloc_first_teb: "failed to map the shared user data", then
 * exit(1); an err: line that WINEDEBUG=-all, the test bed's setting,
 * hides). Wine's preloader reserves that address before anything else is
 * mapped, but Debian's wine64 package ships none (execve of
 * /usr/lib/wine/wine64-preloader fails with ENOENT, and /usr/lib/wine/wine64
 * runs directly). wine64 is linked at 0x7d000000, and Linux puts a 64-bit
 * program's brk heap at a random place up to 1 GiB above its end
 * (arch_randomize_brk, randomize_va_space 2): when the heap that the
 * loader built before Wine reserves 0x7ff00000-0x7fff0000 (virtual_init)
 * already covers that page, the process dies so: about one start in 4,000
 * to 8,000 (spawnstorm/, a program starting Go children 4 at a time, hit it
 * within minutes).
 *
 * This is the shared object half of the reproducer: preloaded (LD_PRELOAD)
 * into every Wine process of the demonstration, it maps the page at
 * 0x7ffe0000 in a process whose command line has the argument usd-victim,
 * as the heap can by chance, and does nothing in the others; it says so on
 * stderr if it cannot. usdspawn.c is the parent.
 *
 * Build: gcc -shared -fPIC -O2 -o usdtaken.so usdtaken.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

__attribute__((constructor)) static void take_shared_user_data(void)
{
	char buf[8192];
	int fd = open("/proc/self/cmdline", O_RDONLY);
	if (fd < 0)
		return;
	ssize_t n = read(fd, buf, sizeof buf - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (char *p = buf; p < buf + n; p += strlen(p) + 1) {
		if (strcmp(p, "usd-victim") == 0) {
			void *got = mmap((void *)0x7ffe0000, 0x1000, PROT_READ,
				       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
			if (got != (void *)0x7ffe0000)
				perror("usdtaken: could not map 0x7ffe0000");
			return;
		}
	}
}
