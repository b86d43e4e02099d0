package namedpipe

import (
	"errors"
	"fmt"
	"net"
	"syscall"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// NewConn makes a Conn of an existing, connected pipe handle, either end: one
// a parent process let its child inherit, one another process duplicated
// into this one, or one a service kept across a restart (as net.FileConn
// does for sockets). The handle must have been opened for overlapped I/O
// (FILE_FLAG_OVERLAPPED, or NtCreateNamedPipeFile/NtOpenFile without
// FILE_SYNCHRONOUS_IO_*) and not yet be associated with a completion port,
// such as Go's runtime poller's (os.NewFile associates overlapped handles).
// The Conn reads messages if the handle's read mode is message
// (FILE_PIPE_MESSAGE_MODE). A server end adopted this way belongs to no
// Listener: Close closes it, and Disconnect disconnects and closes it.
//
// On success the Conn owns h; on failure h is left to the caller. Errors are
// *net.OpError.
func NewConn(h windows.Handle) (*Conn, error) {
	fail := func(err error) (*Conn, error) {
		return nil, &net.OpError{Op: "file", Net: "pipe", Err: err}
	}
	local, err := nt.QueryInformationFile[nt.FILE_PIPE_LOCAL_INFORMATION](h, nt.FilePipeLocalInformation)
	if err != nil {
		return fail(fmt.Errorf("not a pipe handle: %w", err))
	}
	if sync, err := nt.Synchronous(h); err != nil || sync {
		return fail(fmt.Errorf("handle opened for synchronous I/O, not overlapped: %w", errors.ErrUnsupported))
	}
	pi, err := nt.QueryInformationFile[nt.FILE_PIPE_INFORMATION](h, nt.FilePipeInformation)
	if err != nil {
		return fail(err)
	}
	addr := Addr(`\\.\pipe\` + pipeName(h))
	f, err := iocp.NewFile(h, fileOptions(h))
	if err != nil {
		return fail(fmt.Errorf("%w (is the handle already on a completion port?)", err))
	}
	return newConn(f, addr, local.NamedPipeEnd == windows.FILE_PIPE_SERVER_END, pi.ReadMode == windows.FILE_PIPE_MESSAGE_MODE), nil
}

// pipeName returns the pipe's name relative to \Device\NamedPipe\
// (FileNameInfo gives it with a leading backslash), or "" if the file
// system does not say (an unnamed pipe has none).
func pipeName(h windows.Handle) string {
	var buf struct {
		n    uint32
		name [MaxNameLength + 1]uint16
	}
	if windows.GetFileInformationByHandleEx(h, windows.FileNameInfo, (*byte)(unsafe.Pointer(&buf)), uint32(unsafe.Sizeof(buf))) != nil {
		return ""
	}
	name := buf.name[:min(int(buf.n/2), len(buf.name))]
	if len(name) > 0 && name[0] == '\\' {
		name = name[1:]
	}
	return windows.UTF16ToString(name)
}

// SyscallConn returns a raw connection to the pipe's handle
// (syscall.Conn). Its Control runs a function with the handle, kept open
// meanwhile and still on conduit's completion port: do not close it, and
// issue no overlapped I/O on it. Read and Write are not supported: a pipe has
// no readiness to wait for.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return connRawConn{c}, nil }

type connRawConn struct{ c *Conn }

func (rc connRawConn) Control(fn func(fd uintptr)) error {
	return rc.c.withHandle("raw-control", func(h windows.Handle) error {
		fn(uintptr(h))
		return nil
	})
}

func (rc connRawConn) Read(func(fd uintptr) bool) error {
	return rc.c.opError("raw-read", errors.ErrUnsupported)
}

func (rc connRawConn) Write(func(fd uintptr) bool) error {
	return rc.c.opError("raw-write", errors.ErrUnsupported)
}

var _ syscall.Conn = (*Conn)(nil)
