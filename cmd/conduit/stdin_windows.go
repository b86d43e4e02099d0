package main

import (
	"os"

	"golang.org/x/sys/windows"

	"github.com/conduit-ipc/conduit/internal/nt"
)

// readNow reports whether a read of f would return without waiting: a pipe
// with data, or whose writers have all closed (PeekNamedPipe: bytes
// available, or ERROR_BROKEN_PIPE); a disk file; the NUL device. A console,
// another character device, a pipe open with nothing in it, or a handle of
// another kind: no.
//
// On a handle opened for synchronous I/O (stdin usually is) Windows
// serialises requests on the file object, so these queries can wait behind
// a read of ours in flight until it completes; the caller bounds the wait
// (stdinEnded). Whichever way that falls, a query that returns says what
// the handle holds.
func readNow(f *os.File) bool {
	rc, err := f.SyscallConn()
	if err != nil {
		return false
	}
	ready := false
	rc.Control(func(fd uintptr) {
		h := windows.Handle(fd)
		switch t, _ := windows.GetFileType(h); t {
		case windows.FILE_TYPE_DISK:
			ready = true
		case windows.FILE_TYPE_CHAR:
			dev, err := nt.Device(h)
			ready = err == nil && dev.DeviceType == nt.FILE_DEVICE_NULL
		case windows.FILE_TYPE_PIPE:
			var avail uint32
			err := nt.PeekNamedPipe(h, nil, 0, nil, &avail, nil)
			ready = err == windows.ERROR_BROKEN_PIPE || (err == nil && avail > 0)
		}
	})
	return ready
}
