package anonpipe

import (
	"os"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/npfs"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// pipeTimeout is the instance's default time-out, which only WaitNamedPipe
// reads and an unnamed pipe never needs; CreatePipe uses 120 s. Wine fails a
// NULL one.
const pipeTimeout = -120 * 10_000_000 // relative, 100 ns units

// pair creates an unnamed pipe instance: the server end s and the client end
// c, each made as its end describes. Both are byte streams.
func (cfg *Config) pair(s, c end, _ bool) (*os.File, *os.File, error) {
	size, err := cfg.bufferSize()
	if err != nil {
		return nil, nil, err
	}
	root, err := npfs.Root()
	if err != nil {
		return nil, nil, err
	}
	if err := root.Acquire(); err != nil {
		return nil, nil, err
	}
	defer root.Release()

	// The server's share access is what lets the client open it for reading
	// (FILE_SHARE_READ) or writing (FILE_SHARE_WRITE).
	var share uint32
	if c.read {
		share |= windows.FILE_SHARE_READ
	}
	if c.write {
		share |= windows.FILE_SHARE_WRITE
	}
	var empty windows.NTUnicodeString
	oa := windows.OBJECT_ATTRIBUTES{RootDirectory: root.Handle(), ObjectName: &empty, Attributes: attributes(s)}
	oa.Length = uint32(unsafe.Sizeof(oa))
	var sh windows.Handle
	var iosb windows.IO_STATUS_BLOCK
	timeout := int64(pipeTimeout)
	// One instance, byte type and read mode, operations that wait for data
	// (FILE_PIPE_QUEUE_OPERATION). The quotas are the server's inbound and
	// outbound buffers, that is both directions.
	err = windows.NtCreateNamedPipeFile(&sh, access(s), &oa, &iosb, share, windows.FILE_CREATE, options(s),
		windows.FILE_PIPE_BYTE_STREAM_TYPE, windows.FILE_PIPE_BYTE_STREAM_MODE, windows.FILE_PIPE_QUEUE_OPERATION,
		1, uint32(size), uint32(size), &timeout)
	if err != nil {
		return nil, nil, os.NewSyscallError("NtCreateNamedPipeFile", err.(windows.NTStatus).Errno())
	}
	// The client opens the instance by its handle: an empty name relative
	// to the server end. That connects it; no listen is needed.
	oa = windows.OBJECT_ATTRIBUTES{RootDirectory: sh, ObjectName: &empty, Attributes: attributes(c)}
	oa.Length = uint32(unsafe.Sizeof(oa))
	var ch windows.Handle
	err = nt.NtOpenFile(&ch, access(c), &oa, &iosb, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE,
		options(c)|windows.FILE_NON_DIRECTORY_FILE)
	if err != nil {
		windows.CloseHandle(sh)
		return nil, nil, os.NewSyscallError("NtOpenFile", err.(windows.NTStatus).Errno())
	}
	// os.NewFile puts an overlapped handle on the runtime's completion port
	// and leaves a synchronous one as it is.
	return os.NewFile(uintptr(sh), "|0"), os.NewFile(uintptr(ch), "|1"), nil
}

// access is what an end may do. An end that only reads may still set the
// pipe's state (FILE_WRITE_ATTRIBUTES, as CreatePipe's read end can), and one
// that only writes may query it (FILE_READ_ATTRIBUTES).
func access(e end) uint32 {
	a := uint32(windows.SYNCHRONIZE | windows.FILE_READ_ATTRIBUTES | windows.FILE_WRITE_ATTRIBUTES)
	if e.read {
		a |= windows.GENERIC_READ
	}
	if e.write {
		a |= windows.GENERIC_WRITE
	}
	return a
}

// options makes a synchronous end with FILE_SYNCHRONOUS_IO_NONALERT; without
// it the end is overlapped.
func options(e end) uint32 {
	if e.async {
		return 0
	}
	return windows.FILE_SYNCHRONOUS_IO_NONALERT
}

func attributes(e end) uint32 {
	if e.inherit {
		return windows.OBJ_INHERIT
	}
	return 0
}
