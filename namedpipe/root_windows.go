package namedpipe

import (
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

var (
	rootOnce sync.Once
	root     *iocp.File
	rootErr  error
)

// pipeRoot returns the process's handle to \Device\NamedPipe\, the
// named-pipe file system's root, opened for overlapped I/O on the completion
// port. FSCTL_PIPE_WAIT is issued on it, so that a wait is asynchronous and
// cancellable, unlike WaitNamedPipe.
func pipeRoot() (*iocp.File, error) {
	rootOnce.Do(func() {
		name, err := windows.NewNTUnicodeString(`\Device\NamedPipe\`)
		if err != nil {
			rootErr = err
			return
		}
		oa := windows.OBJECT_ATTRIBUTES{ObjectName: name, Attributes: windows.OBJ_CASE_INSENSITIVE}
		oa.Length = uint32(unsafe.Sizeof(oa))
		var h windows.Handle
		var iosb windows.IO_STATUS_BLOCK
		// No FILE_SYNCHRONOUS_IO_* option: the handle is overlapped.
		err = nt.NtOpenFile(&h, windows.SYNCHRONIZE|windows.FILE_READ_ATTRIBUTES, &oa, &iosb,
			windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, 0)
		if err != nil {
			rootErr = os.NewSyscallError("NtOpenFile", err.(windows.NTStatus).Errno())
			return
		}
		root, rootErr = iocp.NewFile(h)
	})
	return root, rootErr
}

// waitPipe issues FSCTL_PIPE_WAIT for the local pipe name: it returns nil
// once an instance is listening, windows.ERROR_SEM_TIMEOUT (from
// STATUS_IO_TIMEOUT) when timeout passes first, windows.ERROR_FILE_NOT_FOUND
// when no pipe has that name, or an iocp cancel error when cancel fires.
// A zero timeout only asks whether an instance is listening now.
func waitPipe(name string, timeout time.Duration, cancel <-chan struct{}) error {
	r, err := pipeRoot()
	if err != nil {
		return err
	}
	u := windows.StringToUTF16(name)
	u = u[:len(u)-1]
	// The structure's Name field starts at byte 14 and runs on past it.
	const nameOffset = unsafe.Offsetof(nt.FILE_PIPE_WAIT_FOR_BUFFER{}.Name)
	buf := make([]byte, int(nameOffset)+2*len(u)+8)
	w := (*nt.FILE_PIPE_WAIT_FOR_BUFFER)(unsafe.Pointer(&buf[0]))
	w.TimeoutSpecified = 1
	w.Timeout = -int64(timeout / 100) // relative, in 100 ns units
	w.NameLength = uint32(2 * len(u))
	copy(unsafe.Slice((*uint16)(unsafe.Pointer(&buf[nameOffset])), len(u)), u)
	_, err = r.Do(iocp.Control, cancel, func(op *iocp.Op) error {
		return nt.NtFsControlFile(r.Handle(), 0, 0, op.Context(), op.IOSB(), windows.FSCTL_PIPE_WAIT,
			&buf[0], uint32(int(nameOffset)+2*len(u)), nil, 0)
	})
	return err
}
