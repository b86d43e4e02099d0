package anonpipe

import (
	"os"

	"golang.org/x/sys/unix"
)

// newPair creates the fds with close-on-exec set atomically.
func newPair(duplex bool) ([2]int, error) {
	var fds [2]int
	if duplex {
		p, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return fds, os.NewSyscallError("socketpair", err)
		}
		return p, nil
	}
	if err := unix.Pipe2(fds[:], unix.O_CLOEXEC); err != nil {
		return fds, os.NewSyscallError("pipe2", err)
	}
	return fds, nil
}

// setBufferSize sets a pipe's capacity (F_SETPIPE_SZ) or a socket pair's
// send and receive buffers.
func setBufferSize(fds [2]int, duplex bool, size int) error {
	if !duplex {
		if _, err := unix.FcntlInt(uintptr(fds[1]), unix.F_SETPIPE_SZ, size); err != nil {
			return os.NewSyscallError("fcntl F_SETPIPE_SZ", err)
		}
		return nil
	}
	for _, fd := range fds {
		for _, opt := range []int{unix.SO_SNDBUF, unix.SO_RCVBUF} {
			if err := unix.SetsockoptInt(fd, unix.SOL_SOCKET, opt, size); err != nil {
				return os.NewSyscallError("setsockopt", err)
			}
		}
	}
	return nil
}
