package winio

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"os"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/ipcname"
	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

// PipeConn is a pipe connection: a net.Conn with Disconnect and Flush, as
// go-winio's. Every net.Conn that ListenPipe's Accept and the Dial functions
// return is a PipeConn.
type PipeConn interface {
	net.Conn
	// Disconnect ends a server connection at once, dropping what the client
	// has not read (DisconnectNamedPipe). Flush first to keep it.
	Disconnect() error
	// Flush waits until the peer has read everything written so far
	// (FlushFileBuffers). It holds its OS thread while it waits; Close
	// interrupts it.
	Flush() error
}

// ErrPipeListenerClosed is what Accept returns after Close: net.ErrClosed
// itself, as in go-winio.
//
// Deprecated: use [net.ErrClosed] instead.
var ErrPipeListenerClosed = net.ErrClosed

// ErrFileClosed is what a connection's operations return once it is
// closed: os.ErrClosed itself, as in go-winio.
//
// Deprecated: use [os.ErrClosed] instead.
var ErrFileClosed = os.ErrClosed

// ErrTimeout is what a read or write past its deadline returns, and what
// DialPipe returns when its time runs out. It is a net.Error whose Timeout
// is true, and errors.Is matches it with both os.ErrDeadlineExceeded and
// context.DeadlineExceeded, as go-winio's does.
var ErrTimeout error = &timeoutError{}

type timeoutError struct{}

func (*timeoutError) Error() string   { return "i/o timeout" }
func (*timeoutError) Timeout() bool   { return true }
func (*timeoutError) Temporary() bool { return true }
func (*timeoutError) Unwrap() error   { return os.ErrDeadlineExceeded }

func (*timeoutError) Is(err error) bool { return err == context.DeadlineExceeded }

// defaultDialTimeout is how long DialPipe waits for a busy pipe when its
// timeout is nil: go-winio's DialPipe's 2 seconds.
const defaultDialTimeout = 2 * time.Second

// DialPipe connects to the named pipe path (\\.\pipe\name), waiting for a
// busy pipe until timeout has passed, or 2 seconds when timeout is nil; then
// it returns ErrTimeout. A missing pipe fails at once with an *os.PathError
// wrapping windows.ERROR_FILE_NOT_FOUND (os.IsNotExist holds). The client
// opens the pipe for reading and writing with SECURITY_ANONYMOUS: the server
// can neither identify nor impersonate it (DialPipeAccessImpLevel chooses).
// The wait holds no OS thread.
func DialPipe(path string, timeout *time.Duration) (net.Conn, error) {
	d := defaultDialTimeout
	if timeout != nil {
		d = *timeout
	}
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := DialPipeContext(ctx, path)
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, ErrTimeout
	}
	return c, err
}

// DialPipeContext connects to the named pipe path, waiting for a busy pipe
// until ctx ends; then it returns ctx.Err() itself. Otherwise as DialPipe.
func DialPipeContext(ctx context.Context, path string) (net.Conn, error) {
	return DialPipeAccess(ctx, path, windows.GENERIC_READ|windows.GENERIC_WRITE)
}

// PipeImpLevel is the impersonation level a client grants the server
// (CreateFile's SECURITY_SQOS_PRESENT flags), as go-winio's.
type PipeImpLevel uint32

// The impersonation levels, CreateFile's SECURITY_* flags.
const (
	// PipeImpLevelAnonymous hides the client from the server
	// (SECURITY_ANONYMOUS): the default of DialPipe, DialPipeContext and
	// DialPipeAccess, as in go-winio.
	PipeImpLevelAnonymous = PipeImpLevel(windows.SECURITY_ANONYMOUS)
	// PipeImpLevelIdentification lets the server learn who the client is,
	// not act as it (SECURITY_IDENTIFICATION).
	PipeImpLevelIdentification = PipeImpLevel(windows.SECURITY_IDENTIFICATION)
	// PipeImpLevelImpersonation lets the server act as the client on this
	// machine (SECURITY_IMPERSONATION).
	PipeImpLevelImpersonation = PipeImpLevel(windows.SECURITY_IMPERSONATION)
	// PipeImpLevelDelegation lets the server act as the client on other
	// machines too (SECURITY_DELEGATION).
	PipeImpLevelDelegation = PipeImpLevel(windows.SECURITY_DELEGATION)
)

// DialPipeAccess connects to the named pipe path with the access rights
// access (CreateFile's dwDesiredAccess, such as windows.GENERIC_WRITE for a
// client that only writes), at PipeImpLevelAnonymous, waiting for a busy
// pipe until ctx ends.
func DialPipeAccess(ctx context.Context, path string, access uint32) (net.Conn, error) {
	return DialPipeAccessImpLevel(ctx, path, access, PipeImpLevelAnonymous)
}

// DialPipeAccessImpLevel connects to the named pipe path with the access
// rights access at the impersonation level impLevel, waiting for a busy
// pipe until ctx ends; then it returns ctx.Err() itself. impLevel may carry
// SECURITY_CONTEXT_TRACKING and SECURITY_EFFECTIVE_ONLY too; other bits are
// ignored. Other failures are *os.PathError (Op "open") wrapping the
// Windows error, as go-winio's.
//
// The client end reads a message pipe in byte mode, as go-winio's does
// (messages are read as one byte stream), and has CloseWrite.
func DialPipeAccessImpLevel(ctx context.Context, path string, access uint32, impLevel PipeImpLevel) (net.Conn, error) {
	if access == windows.GENERIC_READ|windows.GENERIC_WRITE {
		return dialConduit(ctx, path, impLevel)
	}
	return dialAccess(ctx, path, access, impLevel)
}

// dialConduit is the common case, read and write access: namedpipe's Dial,
// which waits for a busy pipe with an asynchronous FSCTL_PIPE_WAIT.
func dialConduit(ctx context.Context, path string, impLevel PipeImpLevel) (net.Conn, error) {
	d := namedpipe.DialConfig{
		DynamicTracking: impLevel&windows.SECURITY_CONTEXT_TRACKING != 0,
		EffectiveOnly:   impLevel&windows.SECURITY_EFFECTIVE_ONLY != 0,
	}
	switch impLevel & windows.SECURITY_DELEGATION { // the level's two bits
	case windows.SECURITY_ANONYMOUS:
		d.ImpersonationLevel = namedpipe.Anonymous
	case windows.SECURITY_IDENTIFICATION:
		d.ImpersonationLevel = namedpipe.Identification
	case windows.SECURITY_IMPERSONATION:
		d.ImpersonationLevel = namedpipe.Impersonation
	default:
		d.ImpersonationLevel = namedpipe.Delegation
	}
	c, err := d.Dial(ctx, path)
	if err != nil {
		return nil, dialError(ctx, path, err)
	}
	// namedpipe's Dial switched a message pipe's client to message read
	// mode; ask the pipe's type as go-winio does (GetNamedPipeInfo).
	var typ uint32
	p := &pipe{c: c}
	err = p.withHandle(func(h windows.Handle) { err = windows.GetNamedPipeInfo(h, &typ, nil, nil, nil) })
	if err != nil {
		c.Close()
		return nil, &os.PathError{Op: "open", Path: path, Err: cause(err)}
	}
	message := typ&windows.PIPE_TYPE_MESSAGE != 0
	return wrapConn(c, path, message, message)
}

// dialError turns namedpipe's Dial error into go-winio's: the context's
// error itself when the context ended the wait, else an *os.PathError
// holding the Windows error, which os.IsNotExist and os.IsPermission read
// (they unwrap *os.PathError only, not *net.OpError).
func dialError(ctx context.Context, path string, err error) error {
	if cerr := ctx.Err(); cerr != nil && errors.Is(err, cerr) {
		return cerr
	}
	return &os.PathError{Op: "open", Path: path, Err: cause(err)}
}

// cause returns the error inside namedpipe's *net.OpError or *os.PathError:
// the Windows error, where there is one.
func cause(err error) error {
	var errno windows.Errno
	if errors.As(err, &errno) {
		return errno
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return oe.Err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// busyRetry is how often dialAccess tries a busy pipe again: go-winio's
// tryDialPipe's 10 ms, on a timer (no thread waits).
const busyRetry = 10 * time.Millisecond

// dialAccess opens the client end with exactly the access the caller asked
// for, which namedpipe's Dial does not offer, and makes a namedpipe.Conn of
// it. A busy pipe is tried again every busyRetry until ctx ends.
func dialAccess(ctx context.Context, path string, access uint32, impLevel PipeImpLevel) (net.Conn, error) {
	pn, err := ipcname.Parse(path, "pipe", namedpipe.MaxNameLength)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	path16, err := windows.UTF16PtrFromString(pn.Path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	flags := uint32(windows.FILE_FLAG_OVERLAPPED | windows.SECURITY_SQOS_PRESENT)
	flags |= uint32(impLevel) & (windows.SECURITY_VALID_SQOS_FLAGS &^ windows.SECURITY_SQOS_PRESENT)
	var h windows.Handle
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		h, err = windows.CreateFile(path16, access, 0, nil, windows.OPEN_EXISTING, flags, 0)
		if err == nil {
			break
		}
		if err != windows.ERROR_PIPE_BUSY {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		t := time.NewTimer(busyRetry)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		}
	}
	c, message, messageRead, err := adoptClient(h)
	if err != nil {
		windows.CloseHandle(h)
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return wrapConn(c, path, message, messageRead)
}

// adoptClient makes a namedpipe.Conn of a client handle opened with any
// access. namedpipe.Conn gives CloseWrite only to a handle it finds in
// message read mode, so a message pipe's handle is switched to message mode
// first, when its access allows (FILE_WRITE_ATTRIBUTES): wrapConn switches
// it back to byte mode. It reports whether the pipe is a message pipe and
// whether the handle was switched. On failure h is still the caller's.
func adoptClient(h windows.Handle) (c *namedpipe.Conn, message, messageRead bool, err error) {
	var typ uint32
	if err := windows.GetNamedPipeInfo(h, &typ, nil, nil, nil); err != nil {
		return nil, false, false, err
	}
	message = typ&windows.PIPE_TYPE_MESSAGE != 0
	if message {
		mode := uint32(windows.PIPE_READMODE_MESSAGE)
		// A handle without FILE_WRITE_ATTRIBUTES stays in byte mode: it
		// may not write, so it has no use for CloseWrite.
		messageRead = windows.SetNamedPipeHandleState(h, &mode, nil, nil) == nil
	}
	c, err = namedpipe.NewConn(h)
	if err != nil {
		return nil, false, false, cause(err)
	}
	return c, message, messageRead, nil
}

// PipeConfig configures ListenPipe, as go-winio's. The zero value (or a nil
// *PipeConfig) is a byte pipe without buffering that LocalSystem,
// Administrators and this process's owner may open (see SecurityDescriptor).
type PipeConfig struct {
	// SecurityDescriptor is the pipe's security descriptor in SDDL. Empty
	// means go-winio's default without its read access for Everyone and
	// Anonymous Logon: full access for LocalSystem, the Administrators
	// group and the process token's default owner (the user, or the
	// Administrators group in an elevated process), and none for anyone
	// else. go-winio's default (RtlDefaultNpAcl) also lets every user of
	// the machine, and anonymous sessions, open the pipe for reading and
	// so take an instance and read what the server writes to it; say
	// "(A;;GR;;;WD)" in SDDL to keep that.
	//
	// The descriptor must let this process create the pipe's instances
	// (FILE_CREATE_PIPE_INSTANCE with read and write access), as Windows
	// checks for every instance after the first; otherwise ListenPipe
	// fails. (go-winio's ListenPipe succeeds and its first Accept fails.)
	SecurityDescriptor string

	// MessageMode makes the pipe a message pipe: each Write is one message,
	// and connections have CloseWrite, which sends the zero-length message
	// that the peer's Read returns as io.EOF. Reads still read a byte
	// stream: a Read takes as many queued messages as fit.
	MessageMode bool

	// InputBufferSize and OutputBufferSize are each instance's inbound and
	// outbound quotas in bytes: how much a writer may have written that
	// the reader has not read before its Write waits for the reader. Zero,
	// go-winio's default, means (almost) nothing: a Write waits until the
	// peer has read all but one byte of it, as go-winio's waits until the
	// peer has read all of it (quota 0). Set 65536 or so for throughput,
	// as Docker does. A negative size fails ListenPipe.
	InputBufferSize  int32
	OutputBufferSize int32
}

// quota returns the quota for a PipeConfig buffer size: namedpipe reads 0
// as its 64 KiB default, so go-winio's 0 becomes the least quota it takes.
func quota(size int32) int {
	if size == 0 {
		return 1
	}
	return int(size)
}

// ListenPipe creates the named pipe path (\\.\pipe\name) and listens on it.
// The pipe must not exist yet: if it does, ListenPipe fails with an
// *os.PathError wrapping windows.ERROR_ACCESS_DENIED, as go-winio does on
// Windows, instead of joining a pipe someone else created. One exception:
// a name that only connections accepted by this process's closed listeners
// keep is joined, when the PipeConfig asks for the same pipe (see
// namedpipe's ListenConfig.Listen); go-winio refuses it.
//
// As go-winio's, the listener takes clients only while an Accept waits
// (namedpipe's ListenConfig.ListenOnAccept): its first instance is a
// placeholder without read or write access, which Windows leaves
// disconnected, and each waiting Accept listens on an instance of its own.
// Meanwhile clients find the pipe busy, and DialPipe waits, then returns
// ErrTimeout. Its Close returns promptly whatever clients are doing. Remote
// clients are refused, as in go-winio.
func ListenPipe(path string, c *PipeConfig) (net.Listener, error) {
	if c == nil {
		c = &PipeConfig{}
	}
	sddl := c.SecurityDescriptor
	if sddl == "" {
		var err error
		if sddl, err = defaultSDDL(); err != nil {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
	}
	cfg := namedpipe.ListenConfig{
		MessageMode:        c.MessageMode,
		InputBufferSize:    quota(c.InputBufferSize),
		OutputBufferSize:   quota(c.OutputBufferSize),
		SecurityDescriptor: sddl,
		ListenOnAccept:     true,
	}
	l, err := cfg.Listen(path)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			// go-winio's FILE_CREATE on an existing name fails with
			// STATUS_ACCESS_DENIED on Windows; os.IsPermission holds.
			err = windows.ERROR_ACCESS_DENIED
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: cause(err)}
	}
	return &listener{l: l, path: path, message: c.MessageMode}, nil
}

// listener is ListenPipe's net.Listener: a namedpipe.Listener whose
// connections are wrapped to behave as go-winio's.
type listener struct {
	l       *namedpipe.Listener
	path    string
	message bool
}

// Accept waits for the next client. After Close it returns net.ErrClosed
// itself (ErrPipeListenerClosed).
func (l *listener) Accept() (net.Conn, error) {
	c, err := l.l.AcceptPipe()
	if err != nil {
		if errors.Is(err, net.ErrClosed) {
			return nil, net.ErrClosed
		}
		return nil, cause(err)
	}
	return wrapConn(c, l.path, l.message, l.message)
}

// Close stops listening; pending and later Accepts return net.ErrClosed.
// Clients connected but not yet accepted are disconnected; accepted
// connections stay open. It returns promptly, and always nil, as go-winio's.
func (l *listener) Close() error {
	l.l.Close()
	return nil
}

// Addr returns the pipe's path as given to ListenPipe; its Network is
// "pipe".
func (l *listener) Addr() net.Addr { return pipeAddress(l.path) }

// pipeAddress is a pipe's address: the path as the caller gave it.
type pipeAddress string

// Network returns "pipe".
func (pipeAddress) Network() string { return "pipe" }

func (a pipeAddress) String() string { return string(a) }

// defaultSDDL is ListenPipe's default descriptor: RtlDefaultNpAcl's DACL,
// which go-winio uses (full access, GENERIC_ALL, for LocalSystem, the
// Administrators group and the token's default owner; GENERIC_READ for
// Everyone and Anonymous Logon, as ntdll builds it), less the two read
// entries. No owner is named, so the pipe's owner is the token's default
// owner, as go-winio's is.
func defaultSDDL() (string, error) {
	owner, err := tokenOwner()
	if err != nil {
		return "", err
	}
	return "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;" + owner + ")", nil
}

// tokenOwner returns the SID that objects this process creates are owned
// by by default (TokenOwner): the user, or the Administrators group in an
// elevated process.
func tokenOwner() (string, error) {
	t := windows.GetCurrentProcessToken()
	// A []uint64 gives TOKEN_OWNER's pointer its alignment.
	buf := make([]uint64, 16)
	for {
		var n uint32
		size := uint32(8 * len(buf))
		err := windows.GetTokenInformation(t, windows.TokenOwner, (*byte)(unsafe.Pointer(&buf[0])), size, &n)
		if err == nil {
			break
		}
		if err != windows.ERROR_INSUFFICIENT_BUFFER || n <= size {
			return "", os.NewSyscallError("GetTokenInformation", err)
		}
		buf = make([]uint64, (n+7)/8)
	}
	owner := (*tokenOwnerInfo)(unsafe.Pointer(&buf[0]))
	return owner.Owner.String(), nil
}

// tokenOwnerInfo is TOKEN_OWNER (winnt.h), which x/sys does not declare.
type tokenOwnerInfo struct {
	Owner *windows.SID
}
