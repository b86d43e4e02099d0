package namedpipe

import (
	"context"
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// The pipe queries that kernel32 and advapi32 offer (PeekNamedPipe,
// GetNamedPipe{Client,Server}{ProcessId,SessionId},
// ImpersonateNamedPipeClient) are each one NtFsControlFile with no event
// and no APC context. Where that returns STATUS_PENDING they wait on the
// pipe's handle, which nothing guarantees is signalled for that request
// (iocp set FILE_SKIP_SET_EVENT_ON_HANDLE once, and a handle adopted with
// NewConn may still have it; every other request on the handle resets
// it): such a call could wait for ever. Windows
// 8 and later can answer FSCTL_PIPE_PEEK on an overlapped handle with
// STATUS_PENDING even when the result is already there (Wine's
// dlls/ntdll/tests/pipe.c accepts either from Windows). So conduit issues
// the control codes itself, through iocp.File.FsControl, which waits for a
// pending one on the completion port.

// fsControl issues code on the pipe through the engine.
func (c *Conn) fsControl(code uint32, in, out []byte) (int, error) {
	if testHookFsControl != nil {
		testHookFsControl(code)
	}
	return c.f.FsControl(context.Background(), code, in, out)
}

// testHookFsControl, when set, is told each control code a Conn issues.
var testHookFsControl func(code uint32)

// peek asks what is waiting to be read without reading it (FSCTL_PIPE_PEEK,
// what PeekNamedPipe issues), with a buffer for the header only.
func (c *Conn) peek() (nt.FILE_PIPE_PEEK_BUFFER, error) {
	pb := new(nt.FILE_PIPE_PEEK_BUFFER) // on the heap: FsControl pins it
	out := unsafe.Slice((*byte)(unsafe.Pointer(pb)), unsafe.Sizeof(*pb))
	_, err := c.fsControl(windows.FSCTL_PIPE_PEEK, nil, out)
	if err == windows.ERROR_MORE_DATA {
		// STATUS_BUFFER_OVERFLOW: data is waiting beyond the header,
		// which is filled in (ReactOS npfs, NpPeek). PeekNamedPipe
		// counts it a success too.
		err = nil
	}
	return *pb, err
}

// pipeAttribute reads a 32-bit attribute of the pipe, or of its connection,
// by name, as kernelbase's GetNamedPipe*ProcessId and *SessionId do:
// "ClientProcessId" and "ClientSessionId" with
// FSCTL_PIPE_GET_CONNECTION_ATTRIBUTE, "ServerProcessId" and
// "ServerSessionId" with FSCTL_PIPE_GET_PIPE_ATTRIBUTE (System Informer's
// phlib, PhGetNamedPipe*, mirrors kernelbase so; Wine's kernelbase asks the
// server's attributes as connection attributes, and ReactOS's kernel32 the
// client's). A file system that knows the name under the other code only
// is asked with that one; one that knows neither (Wine's has no session
// attributes) is asked through kernel32's function, fallback, which then
// issues no control code that could pend.
func (c *Conn) pipeAttribute(op, name string, fallback func(windows.Handle, *uint32) error) (uint32, error) {
	codes := [2]uint32{nt.FSCTL_PIPE_GET_PIPE_ATTRIBUTE, nt.FSCTL_PIPE_GET_CONNECTION_ATTRIBUTE}
	if name[:6] == "Client" {
		codes[0], codes[1] = codes[1], codes[0]
	}
	in := append([]byte(name), 0) // the name as a NUL-terminated ANSI string
	out := make([]byte, 4)
	var err error
	for _, code := range codes {
		var n int
		n, err = c.fsControl(code, in, out)
		if err == nil && n == len(out) {
			return binary.LittleEndian.Uint32(out), nil
		}
		if err == nil {
			// NPFS answers 4 bytes; a file system that answers fewer
			// has not said the ID, which must not read as ID 0.
			return 0, c.opError(op, fmt.Errorf("%s: %d-byte answer, want %d", name, n, len(out)))
		}
		if !unsupported(err) {
			return 0, c.opError(op, err)
		}
	}
	var id uint32
	err = c.withHandle(op, func(h windows.Handle) error { return fallback(h, &id) })
	return id, err
}

// unsupported reports whether err is a file system's answer to a control
// code or attribute name it does not know.
func unsupported(err error) bool {
	switch err {
	case windows.ERROR_INVALID_FUNCTION, // STATUS_INVALID_DEVICE_REQUEST, STATUS_ILLEGAL_FUNCTION
		windows.ERROR_NOT_SUPPORTED,     // STATUS_NOT_SUPPORTED
		windows.ERROR_INVALID_PARAMETER, // STATUS_INVALID_PARAMETER
		windows.ERROR_NOT_FOUND:         // STATUS_NOT_FOUND
		return true
	}
	return false
}

// impersonate makes the calling thread impersonate the pipe's client
// (FSCTL_PIPE_IMPERSONATE, what ImpersonateNamedPipeClient issues). The
// caller is locked to its thread. The named-pipe file system completes it
// at once, on the calling thread, which is the one it impersonates with
// (ReactOS npfs, NpImpersonate: NpImpersonateClientContext then
// SeImpersonateClientEx for the current thread; a request that pended
// would impersonate whatever thread completed it). Through the engine all
// the same, so that nothing waits on the handle should it ever pend.
func (c *Conn) impersonate() error {
	_, err := c.fsControl(nt.FSCTL_PIPE_IMPERSONATE, nil, nil)
	return err
}
