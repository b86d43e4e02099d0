package main

import (
	"os"

	"golang.org/x/sys/windows"

	"github.com/conduit-ipc/conduit/internal/nt"
)

// newProbe returns a function that reports whether a read of f would
// return without waiting. What kind of file f is, it asks now (before any
// read of f is in flight): a disk file or the NUL device (its
// FileFsDeviceInformation) never waits; a pipe is asked each time
// (PeekNamedPipe: bytes available, or ERROR_BROKEN_PIPE once every writer
// has closed); a console, another character device or a handle of another
// kind (a socket is a "pipe" that PeekNamedPipe refuses) says no.
//
// On a handle opened for synchronous I/O (stdin usually is) Windows
// serialises requests on the file object, so PeekNamedPipe can wait behind
// a read of ours in flight until that read completes; the caller bounds
// the wait (pump.readNow). Whichever way that falls, a PeekNamedPipe that
// returns says what the pipe holds.
func newProbe(f *os.File) func() bool {
	no := func() bool { return false }
	rc, err := f.SyscallConn()
	if err != nil {
		return no
	}
	probe := no
	rc.Control(func(fd uintptr) {
		h := windows.Handle(fd)
		switch t, _ := windows.GetFileType(h); t {
		case windows.FILE_TYPE_DISK:
			probe = func() bool { return true }
		case windows.FILE_TYPE_CHAR:
			if dev, err := nt.Device(h); err == nil && dev.DeviceType == nt.FILE_DEVICE_NULL {
				probe = func() bool { return true }
			}
		case windows.FILE_TYPE_PIPE:
			probe = func() bool {
				ready := false
				rc.Control(func(fd uintptr) {
					var avail uint32
					err := nt.PeekNamedPipe(windows.Handle(fd), nil, 0, nil, &avail, nil)
					ready = err == windows.ERROR_BROKEN_PIPE || (err == nil && avail > 0)
				})
				return ready
			}
		}
	})
	return probe
}
