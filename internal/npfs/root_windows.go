// Package npfs holds what conduit's packages share about the named-pipe file
// system (NPFS): the process's handle to its root, \Device\NamedPipe\.
package npfs

import (
	"os"
	"sync"
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

// Root returns the process's handle to \Device\NamedPipe\, opened once for
// overlapped I/O on the completion port. FSCTL_PIPE_WAIT is issued on it, so
// that a wait is asynchronous and cancellable, unlike WaitNamedPipe; and
// unnamed pipe instances are created relative to it. It stays open for the
// life of the process.
func Root() (*iocp.File, error) {
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
		// GENERIC_READ is what CreatePipe asks for to create instances
		// relative to the root.
		err = nt.NtOpenFile(&h, windows.GENERIC_READ|windows.SYNCHRONIZE, &oa, &iosb,
			windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, 0)
		if err != nil {
			rootErr = os.NewSyscallError("NtOpenFile", err.(windows.NTStatus).Errno())
			return
		}
		if root, rootErr = iocp.NewFile(h, iocp.Options{}); rootErr != nil {
			windows.CloseHandle(h)
		}
	})
	return root, rootErr
}
