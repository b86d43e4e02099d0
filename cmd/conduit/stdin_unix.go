//go:build !windows

package main

import (
	"os"

	"golang.org/x/sys/unix"
)

// newProbe returns a function that reports whether a read of f would
// return without waiting: data or the end is there (poll's POLLIN or
// POLLHUP), or f is a file whose reads never wait (poll reports a regular
// file or /dev/null always readable). A poll beside a read of f in flight
// is safe: it takes no lock of f's.
func newProbe(f *os.File) func() bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return func() bool { return false }
	}
	return func() bool {
		ready := false
		rc.Control(func(fd uintptr) {
			p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				n, err := unix.Poll(p, 0)
				if err == unix.EINTR {
					continue
				}
				ready = err == nil && n > 0
				return
			}
		})
		return ready
	}
}
