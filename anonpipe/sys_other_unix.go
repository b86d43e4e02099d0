//go:build unix && !linux

package anonpipe

import (
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

// newPair creates the fds and sets close-on-exec under syscall.ForkLock, so
// that no fork by this program's os/exec sees them in between: not every
// Unix has pipe2 and SOCK_CLOEXEC.
func newPair(duplex bool) ([2]int, error) {
	var fds [2]int
	var err error
	syscall.ForkLock.RLock()
	defer syscall.ForkLock.RUnlock()
	if duplex {
		fds, err = unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
		err = os.NewSyscallError("socketpair", err)
	} else {
		err = os.NewSyscallError("pipe", unix.Pipe(fds[:]))
	}
	if err != nil {
		return fds, err
	}
	unix.CloseOnExec(fds[0])
	unix.CloseOnExec(fds[1])
	return fds, nil
}

// setBufferSize keeps the system's default elsewhere than on Linux.
func setBufferSize([2]int, bool, int) error { return nil }
