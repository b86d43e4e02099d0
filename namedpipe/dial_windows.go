package namedpipe

import (
	"context"
	"net"
	"os"
	"time"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"golang.org/x/sys/windows"
)

// DialConfig configures Dial. Its zero value fails at once on a missing pipe,
// waits for a busy one until the context ends, and lets the server identify
// the client but not act as it.
type DialConfig struct {
	// WaitForServer makes Dial keep trying, until its context ends, when
	// no pipe has the name yet (a server still starting), instead of failing
	// at once with an error that matches fs.ErrNotExist. It retries with a
	// back-off from 5 ms to 100 ms, on a timer: no thread is blocked.
	WaitForServer bool
}

// Dial connects to the named pipe with the zero DialConfig.
func Dial(ctx context.Context, name string) (*Conn, error) {
	var d DialConfig
	return d.Dial(ctx, name)
}

// Dial connects to the named pipe: a short name ("myapp" means
// \\.\pipe\myapp) or a \\host\pipe\name path.
//
// The client end is opened overlapped, with SECURITY_SQOS_PRESENT and
// SECURITY_IDENTIFICATION: the server may learn who the client is but cannot
// impersonate it to act with its rights. When every instance is busy, Dial
// waits for one with an asynchronous FSCTL_PIPE_WAIT that ctx cancels (no
// sleeping, no blocked thread); a remote busy pipe is retried on a timer. A
// missing pipe fails at once with an error that matches fs.ErrNotExist,
// unless WaitForServer is set. On a message pipe the client's read mode is
// set to message, so the client end behaves as the server's does.
//
// A bad name is an *os.PathError; every other error is a *net.OpError, and
// one caused by ctx matches ctx.Err() with errors.Is.
func (d *DialConfig) Dial(ctx context.Context, name string) (*Conn, error) {
	pn, err := parseName(name)
	if err != nil {
		return nil, &os.PathError{Op: "dial", Path: name, Err: err}
	}
	addr := Addr(pn.Path)
	fail := func(err error) (*Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: addr, Err: err}
	}
	path16, err := windows.UTF16PtrFromString(pn.Path)
	if err != nil {
		return fail(err)
	}
	backoff := 5 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		h, err := open(path16)
		if err == nil {
			return newClient(h, addr)
		}
		switch {
		case err == windows.ERROR_PIPE_BUSY && pn.Local():
			// Wait until an instance listens, then race other clients for
			// it: whoever loses waits again.
			err = waitPipe(pn.Name, waitSlice(ctx), ctx.Done())
			switch {
			case err == nil || err == windows.ERROR_SEM_TIMEOUT:
				continue
			case err == windows.ERROR_FILE_NOT_FOUND && d.WaitForServer:
				// The server went away meanwhile: wait for it to come back.
			case iocp.IsContextCancel(err):
				return fail(ctx.Err())
			default:
				return fail(err)
			}
		case err == windows.ERROR_PIPE_BUSY,
			err == windows.ERROR_FILE_NOT_FOUND && d.WaitForServer:
		default:
			return fail(err)
		}
		if err := sleep(ctx, backoff); err != nil {
			return fail(err)
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// open opens the client end. Duplex access comes first; a pipe whose
// direction refuses it (the server shares only read or only write access)
// answers ERROR_ACCESS_DENIED, and the one-way opens follow.
func open(path *uint16) (windows.Handle, error) {
	const flags = windows.FILE_FLAG_OVERLAPPED | windows.SECURITY_SQOS_PRESENT | windows.SECURITY_IDENTIFICATION
	var err error
	for _, access := range [...]uint32{
		windows.GENERIC_READ | windows.GENERIC_WRITE,
		windows.GENERIC_WRITE | windows.FILE_READ_ATTRIBUTES,
		windows.GENERIC_READ | windows.FILE_WRITE_ATTRIBUTES,
	} {
		var h windows.Handle
		h, err = windows.CreateFile(path, access, 0, nil, windows.OPEN_EXISTING, flags, 0)
		if err == nil {
			return h, nil
		}
		if err != windows.ERROR_ACCESS_DENIED {
			break
		}
	}
	return 0, err
}

// newClient wraps an opened client end, switching it to message read mode
// when the pipe is a message pipe.
func newClient(h windows.Handle, addr Addr) (*Conn, error) {
	var flags uint32
	if err := windows.GetNamedPipeInfo(h, &flags, nil, nil, nil); err != nil {
		windows.CloseHandle(h)
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: addr, Err: os.NewSyscallError("GetNamedPipeInfo", err)}
	}
	message := flags&windows.PIPE_TYPE_MESSAGE != 0
	if message {
		mode := uint32(windows.PIPE_READMODE_MESSAGE)
		if err := windows.SetNamedPipeHandleState(h, &mode, nil, nil); err != nil {
			windows.CloseHandle(h)
			return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: addr, Err: os.NewSyscallError("SetNamedPipeHandleState", err)}
		}
	}
	f, err := iocp.NewFile(h)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: addr, Err: err}
	}
	return newConn(f, addr, false, message), nil
}

// maxWaitSlice bounds each FSCTL_PIPE_WAIT. Windows cancels a pending wait
// when ctx ends; Wine 8 cannot cancel it at all (CancelIoEx answers
// ERROR_NOT_FOUND), so there a wait ends by its own time-out, and a context
// cancelled without a deadline is noticed up to this much late.
const maxWaitSlice = 250 * time.Millisecond

// waitSlice is how long the next FSCTL_PIPE_WAIT may last: until ctx's
// deadline, at most maxWaitSlice.
func waitSlice(ctx context.Context) time.Duration {
	d := maxWaitSlice
	if dl, ok := ctx.Deadline(); ok {
		d = min(d, max(time.Until(dl), 0))
	}
	return d
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
