package namedpipe

import (
	"context"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/npfs"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

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
	// The structure's Name field starts at byte 14 and runs on past it.
	const nameOffset = unsafe.Offsetof(nt.FILE_PIPE_WAIT_FOR_BUFFER{}.Name)
	buf := make([]byte, int(nameOffset)+2*len(u)+8)
	w := (*nt.FILE_PIPE_WAIT_FOR_BUFFER)(unsafe.Pointer(&buf[0]))
	w.TimeoutSpecified = 1
	w.Timeout = -int64(timeout / 100) // relative, in 100 ns units
	w.NameLength = uint32(2 * len(u))
	copy(unsafe.Slice((*uint16)(unsafe.Pointer(&buf[nameOffset])), len(u)), u)
	_, err = r.Do(ctx, iocp.Control, func(op *iocp.Op) error {
		return nt.NtFsControlFile(r.Handle(), 0, 0, op.Context(), op.IOSB(), windows.FSCTL_PIPE_WAIT,
			&buf[0], uint32(int(nameOffset)+2*len(u)), nil, 0)
	})
	return err
}
