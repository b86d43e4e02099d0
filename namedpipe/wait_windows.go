package namedpipe

import (
	"context"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/npfs"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// pipeWait is FSCTL_PIPE_WAIT's input with room for the longest name: the
// structure's Name field runs on into rest. Allocated as itself, so it has
// the structure's alignment.
type pipeWait struct {
	nt.FILE_PIPE_WAIT_FOR_BUFFER
	rest [MaxNameLength]uint16
}

// waitPipe issues FSCTL_PIPE_WAIT for the local pipe name: it returns nil
// once an instance is listening, windows.ERROR_SEM_TIMEOUT (from
// STATUS_IO_TIMEOUT) when timeout passes first, windows.ERROR_FILE_NOT_FOUND
// when no pipe has that name, or an iocp cancel error when ctx ends.
// A zero timeout only asks whether an instance is listening now.
func waitPipe(ctx context.Context, name string, timeout time.Duration) error {
	r, err := npfs.Root()
	if err != nil {
		return err
	}
	u := windows.StringToUTF16(name)
	u = u[:len(u)-1]
	w := new(pipeWait)
	const nameOffset = unsafe.Offsetof(w.Name)
	if len(u) > len(w.rest) {
		return windows.ERROR_INVALID_NAME // parsing allows no such name
	}
	w.TimeoutSpecified = 1
	w.Timeout = -int64(timeout / 100) // relative, in 100 ns units
	w.NameLength = uint32(2 * len(u))
	copy(unsafe.Slice(&w.Name[0], len(u)), u)
	in := unsafe.Slice((*byte)(unsafe.Pointer(w)), int(nameOffset)+2*len(u))
	_, err = r.FsControl(ctx, windows.FSCTL_PIPE_WAIT, in, nil)
	return err
}
