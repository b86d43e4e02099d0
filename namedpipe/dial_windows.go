package namedpipe

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"time"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/winsec"
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

	// ImpersonationLevel is what the server may do as this client
	// (CreateFile's SECURITY_SQOS_PRESENT flags). The default,
	// Identification, lets it learn who the client is but not act as it.
	ImpersonationLevel ImpersonationLevel

	// DynamicTracking makes the server see changes to the client's
	// security context after the connection is made
	// (SECURITY_CONTEXT_TRACKING); by default it sees the context as it was
	// when Dial opened the pipe.
	DynamicTracking bool

	// EffectiveOnly hides the privileges and groups disabled in the
	// client's token from a server that impersonates it
	// (SECURITY_EFFECTIVE_ONLY).
	EffectiveOnly bool

	// ExpectedOwner, when set, is the SID that must own the pipe: after
	// opening it, Dial reads the owner from the pipe's security descriptor
	// and, if it differs, closes the pipe and fails with an error that
	// matches fs.ErrPermission. It defends a client against a squatter who
	// created the name before the real server.
	ExpectedOwner *windows.SID

	// CurrentUserOnly expects the pipe to be owned by the user this
	// process runs as: ExpectedOwner set to that user (as .NET's
	// PipeOptions.CurrentUserOnly). It cannot be combined with
	// ExpectedOwner.
	CurrentUserOnly bool
}

// ImpersonationLevel is the SECURITY_IMPERSONATION_LEVEL a client grants the
// server.
type ImpersonationLevel int

const (
	// Identification lets the server query the client's identity and
	// privileges, not act as it (SECURITY_IDENTIFICATION). The default.
	Identification ImpersonationLevel = iota
	// Anonymous hides the client's identity from the server
	// (SECURITY_ANONYMOUS).
	Anonymous
	// Impersonation lets the server act as the client on this machine
	// (SECURITY_IMPERSONATION).
	Impersonation
	// Delegation lets the server act as the client on other machines too
	// (SECURITY_DELEGATION).
	Delegation
)

func (l ImpersonationLevel) String() string {
	switch l {
	case Identification:
		return "Identification"
	case Anonymous:
		return "Anonymous"
	case Impersonation:
		return "Impersonation"
	case Delegation:
		return "Delegation"
	}
	return fmt.Sprintf("ImpersonationLevel(%d)", int(l))
}

// sqos returns CreateFile's security quality-of-service flags for d.
func (d *DialConfig) sqos() (uint32, error) {
	flags := uint32(windows.SECURITY_SQOS_PRESENT)
	switch d.ImpersonationLevel {
	case Identification:
		flags |= windows.SECURITY_IDENTIFICATION
	case Anonymous:
		flags |= windows.SECURITY_ANONYMOUS
	case Impersonation:
		flags |= windows.SECURITY_IMPERSONATION
	case Delegation:
		flags |= windows.SECURITY_DELEGATION
	default:
		return 0, fmt.Errorf("%w: %v", ErrInvalidConfig, d.ImpersonationLevel)
	}
	if d.DynamicTracking {
		flags |= windows.SECURITY_CONTEXT_TRACKING
	}
	if d.EffectiveOnly {
		flags |= windows.SECURITY_EFFECTIVE_ONLY
	}
	return flags, nil
}

// expectedOwner returns the SID the pipe must be owned by, or nil.
func (d *DialConfig) expectedOwner() (*windows.SID, error) {
	switch {
	case d.CurrentUserOnly && d.ExpectedOwner != nil:
		return nil, fmt.Errorf("%w: CurrentUserOnly and ExpectedOwner together", ErrInvalidConfig)
	case d.CurrentUserOnly:
		return winsec.CurrentUserSID()
	}
	return d.ExpectedOwner, nil
}

// checkOwner fails with an error matching fs.ErrPermission unless want owns
// the pipe h.
func checkOwner(h windows.Handle, want *windows.SID) error {
	sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the pipe's owner: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("reading the pipe's owner: %w", err)
	}
	if owner == nil || !owner.Equals(want) {
		return fmt.Errorf("pipe owned by %v, want %v: %w", owner, want, fs.ErrPermission)
	}
	return nil
}

// Dial connects to the named pipe with the zero DialConfig.
func Dial(ctx context.Context, name string) (*Conn, error) {
	var d DialConfig
	return d.Dial(ctx, name)
}

// Dial connects to the named pipe: a short name ("myapp" means
// \\.\pipe\myapp) or a \\host\pipe\name path.
//
// The client end is opened overlapped, with SECURITY_SQOS_PRESENT and, by
// default, SECURITY_IDENTIFICATION: the server may learn who the client is
// but cannot impersonate it to act with its rights. When every instance is busy, Dial
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
	sqos, err := d.sqos()
	if err != nil {
		return fail(err)
	}
	owner, err := d.expectedOwner()
	if err != nil {
		return fail(err)
	}
	backoff := 5 * time.Millisecond
	for {
		if err := ctx.Err(); err != nil {
			return fail(err)
		}
		h, err := open(path16, sqos)
		if err == nil {
			if owner != nil {
				if err := checkOwner(h, owner); err != nil {
					windows.CloseHandle(h)
					return fail(err)
				}
			}
			return newClient(h, addr, !pn.Local())
		}
		switch {
		case err == windows.ERROR_PIPE_BUSY && pn.Local():
			// Wait until an instance listens, then race other clients for
			// it: whoever loses waits again.
			err = waitPipe(ctx, pn.Name, waitSlice(ctx))
			switch {
			case err == nil || err == windows.ERROR_SEM_TIMEOUT:
				continue
			case err == windows.ERROR_HANDLES_CLOSED:
				// The wait ended because the pipe's last instance closed:
				// Wine's server ends its waiters so (STATUS_HANDLES_CLOSED).
				// Windows, as ReactOS's NPFS models it (NpDeleteFcb),
				// ends them with STATUS_OBJECT_NAME_NOT_FOUND, the case
				// below. Either way, opening again tells whether the name
				// is gone (ERROR_FILE_NOT_FOUND) or listened on anew,
				// after the backoff below.
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
func open(path *uint16, sqos uint32) (windows.Handle, error) {
	flags := windows.FILE_FLAG_OVERLAPPED | sqos
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
// when the pipe is a message pipe. remote says the name is another
// machine's.
func newClient(h windows.Handle, addr Addr, remote bool) (*Conn, error) {
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
	// The name says where the pipe is: a \\.\ name is this machine's,
	// and asking the handle's device as well would cost every Dial a
	// system call.
	f, err := iocp.NewFile(h, iocp.Options{NoFastPath: remote})
	if err != nil {
		windows.CloseHandle(h)
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: addr, Err: err}
	}
	return newConn(f, addr, false, message), nil
}

// fileOptions returns the engine's options for the pipe handle h, whose
// name is not known: no fast path for a pipe on another machine
// (iocp.Options.NoFastPath says why), which the handle's device says
// (FILE_REMOTE_DEVICE). Dial knows from the name instead: one other than
// \\.\ is remote (\\localhost\ and the machine's own name too go through
// the SMB redirector).
func fileOptions(h windows.Handle) iocp.Options {
	remote, _ := nt.Remote(h)
	return iocp.Options{NoFastPath: remote}
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
