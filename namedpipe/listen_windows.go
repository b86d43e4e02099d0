package namedpipe

import (
	"context"
	"fmt"
	"net"
	"os"
	"sync"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/ipcname"
	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/winsec"
	"golang.org/x/sys/windows"
)

// Listener accepts connections on a named pipe. It keeps Backlog instances
// listening at once and replaces each one as soon as a client connects, so
// the pipe's name exists from Listen to Close.
type Listener struct {
	name   ipcname.Name
	cfg    validated
	sd     *windows.SECURITY_DESCRIPTOR
	ntPath *windows.NTUnicodeString

	mu      sync.Mutex
	closed  bool
	pending map[*iocp.File]bool // instances waiting for a client
	live    int                 // instances that exist: pending, queued or accepted and open
	err     error               // why the last instance could not be made, for Accept

	ready  chan *Conn    // connected instances not yet accepted
	failed chan struct{} // signalled when err is set
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup
}

// Listen listens on the named pipe with the zero ListenConfig: a local-only,
// byte-mode, duplex pipe that only the current user and LocalSystem may open.
func Listen(name string) (*Listener, error) {
	var c ListenConfig
	return c.Listen(name)
}

// Listen creates the pipe and starts listening. The name is a short name
// ("myapp" means \\.\pipe\myapp) or a full \\.\pipe\ path; a server cannot
// create a pipe on another machine.
//
// The first instance is created with the FILE_CREATE disposition, so if the
// name is already in use, by this process or any other, Listen fails with an
// error for which errors.Is(err, fs.ErrExist) holds instead of joining that
// pipe: a squatter who created the name first cannot receive our clients.
//
// Errors are *os.PathError.
func (c *ListenConfig) Listen(name string) (*Listener, error) {
	pn, err := ipcname.ParseLocal(name, "pipe", MaxNameLength)
	if err != nil {
		return nil, &os.PathError{Op: "listen", Path: name, Err: err}
	}
	fail := func(err error) (*Listener, error) {
		return nil, &os.PathError{Op: "listen", Path: pn.Path, Err: err}
	}
	cfg, err := c.validate()
	if err != nil {
		return fail(configError(err))
	}
	sddl := c.SecurityDescriptor
	if c.CurrentUserOnly {
		if sddl, err = winsec.CurrentUserOnlySDDL(); err != nil {
			return fail(err)
		}
	}
	sd, err := securityDescriptor(sddl)
	if err != nil {
		return fail(err)
	}
	ntPath, err := windows.NewNTUnicodeString(`\??\pipe\` + pn.Name)
	if err != nil {
		return fail(err)
	}
	// FILE_CREATE below refuses an existing name on Windows. Wine does not
	// enforce it, so ask the file system first whether the name exists: a
	// zero-time FSCTL_PIPE_WAIT says "not found" only for a free name. The
	// check costs one call per Listen and runs everywhere, so that the guard
	// is exercised under Wine too.
	switch err := waitPipe(context.Background(), pn.Name, 0); err {
	case windows.ERROR_FILE_NOT_FOUND:
	case nil, windows.ERROR_SEM_TIMEOUT:
		return fail(fmt.Errorf("pipe name in use: %w", windows.ERROR_ALREADY_EXISTS))
	default:
		return fail(err)
	}
	l := &Listener{
		name:    pn,
		cfg:     cfg,
		sd:      sd,
		ntPath:  ntPath,
		pending: make(map[*iocp.File]bool),
		ready:   make(chan *Conn, cfg.backlog),
		failed:  make(chan struct{}, 1),
		done:    make(chan struct{}),
	}
	l.mu.Lock()
	l.replenish()
	err = l.err
	l.mu.Unlock()
	if err != nil {
		l.Close()
		return nil, err
	}
	return l, nil
}

// replenish tops the pending instances up to the backlog, within
// MaxInstances. Called with l.mu held.
func (l *Listener) replenish() {
	for !l.closed && len(l.pending) < l.cfg.backlog && (l.cfg.MaxInstances == 0 || l.live < l.cfg.MaxInstances) {
		f, err := l.newInstance(l.live == 0)
		if err != nil {
			if err == windows.ERROR_PIPE_BUSY {
				// MaxInstances reached by instances we do not count (a
				// MaxInstances of 1 between a close and its accounting):
				// a closing conn calls replenish again.
				return
			}
			l.err = &os.PathError{Op: "listen", Path: l.name.Path, Err: err}
			select {
			case l.failed <- struct{}{}:
			default:
			}
			return
		}
		l.err = nil
		l.live++
		l.pending[f] = true
		l.wg.Add(1)
		go l.serve(f)
	}
}

// newInstance creates one server instance. The first one, made while no
// other instance of ours exists, is created with FILE_CREATE and carries the
// security descriptor; the others join it with FILE_OPEN.
func (l *Listener) newInstance(first bool) (*iocp.File, error) {
	oa := windows.OBJECT_ATTRIBUTES{ObjectName: l.ntPath, Attributes: windows.OBJ_CASE_INSENSITIVE}
	oa.Length = uint32(unsafe.Sizeof(oa))
	disposition := uint32(windows.FILE_OPEN)
	if first {
		disposition = windows.FILE_CREATE
		oa.SecurityDescriptor = l.sd
	}
	// The server end gets the access its direction needs; the share access
	// is what lets clients read (FILE_SHARE_READ) or write (FILE_SHARE_WRITE).
	var access, share uint32
	switch l.cfg.Direction {
	case Duplex:
		access = windows.GENERIC_READ | windows.GENERIC_WRITE
		share = windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE
	case Inbound:
		access = windows.GENERIC_READ | windows.FILE_WRITE_ATTRIBUTES
		share = windows.FILE_SHARE_WRITE
	case Outbound:
		access = windows.GENERIC_WRITE | windows.FILE_READ_ATTRIBUTES
		share = windows.FILE_SHARE_READ
	}
	access |= windows.SYNCHRONIZE
	typ, mode := uint32(windows.FILE_PIPE_BYTE_STREAM_TYPE), uint32(windows.FILE_PIPE_BYTE_STREAM_MODE)
	if l.cfg.MessageMode {
		typ, mode = windows.FILE_PIPE_MESSAGE_TYPE, windows.FILE_PIPE_MESSAGE_MODE
	}
	if !l.cfg.AllowRemoteClients {
		typ |= rejectRemoteClients()
	}
	maxInstances := uint32(0xFFFFFFFF) // unlimited
	if l.cfg.MaxInstances > 0 {
		maxInstances = uint32(l.cfg.MaxInstances)
	}
	// Wine fails a NULL default time-out; Windows' default is 50 ms.
	timeout := -int64(defaultTimeout / 100)
	var h windows.Handle
	var iosb windows.IO_STATUS_BLOCK
	// CreateOptions 0: no FILE_SYNCHRONOUS_IO_*, so the handle is overlapped.
	// Completion mode FILE_PIPE_QUEUE_OPERATION: operations wait for data
	// rather than fail at once (PIPE_WAIT); overlapped callers never block.
	err := windows.NtCreateNamedPipeFile(&h, access, &oa, &iosb, share, disposition, 0,
		typ, mode, windows.FILE_PIPE_QUEUE_OPERATION, maxInstances,
		uint32(l.cfg.InputBufferSize), uint32(l.cfg.OutputBufferSize), &timeout)
	if err != nil {
		st := err.(windows.NTStatus)
		if first && (st == windows.STATUS_ACCESS_DENIED || st == windows.STATUS_OBJECT_NAME_COLLISION) {
			// Windows answers FILE_CREATE on an existing pipe name with
			// STATUS_ACCESS_DENIED.
			return nil, fmt.Errorf("pipe name in use: %w (%w)", windows.ERROR_ALREADY_EXISTS, st.Errno())
		}
		return nil, st.Errno()
	}
	return iocp.NewFile(h)
}

// rejectRemoteClients returns FILE_PIPE_REJECT_REMOTE_CLIENTS, the
// NamedPipeType bit that refuses clients from other machines. Wine 8 reads
// any nonzero NamedPipeType as FILE_PIPE_MESSAGE_TYPE (measured: a byte pipe
// created with the bit reports itself a message pipe, and its clients'
// reads merge nothing but are switched to message mode), and has no way for
// remote clients to reach a pipe in the first place, so there the bit is
// left out. This is the one place that difference is handled.
func rejectRemoteClients() uint32 {
	if nt.Wine() {
		return 0
	}
	return windows.FILE_PIPE_REJECT_REMOTE_CLIENTS
}

// serve waits for a client on one instance and queues the connection.
func (l *Listener) serve(f *iocp.File) {
	defer l.wg.Done()
	_, err := f.Do(context.Background(), iocp.Control, func(op *iocp.Op) error {
		return nt.NtFsControlFile(f.Handle(), 0, 0, op.Context(), op.IOSB(), nt.FSCTL_PIPE_LISTEN, nil, 0, nil, 0)
	})
	if err == windows.ERROR_PIPE_CONNECTED {
		// A client connected between the instance's creation and the
		// listen request.
		err = nil
	}
	l.mu.Lock()
	if l.closed {
		// Close owns the pending instances and closes this one.
		l.mu.Unlock()
		return
	}
	delete(l.pending, f)
	if err != nil {
		l.live--
		if err != windows.ERROR_NO_DATA {
			// ERROR_NO_DATA: a client came and went before the listen
			// request; anything else is worth telling Accept.
			l.err = &net.OpError{Op: "accept", Net: "pipe", Addr: l.Addr(), Err: err}
			select {
			case l.failed <- struct{}{}:
			default:
			}
		}
	}
	l.replenish()
	l.mu.Unlock()
	if err != nil {
		f.Close()
		return
	}
	c := newConn(f, Addr(l.name.Path), true, l.cfg.MessageMode)
	c.listener = l
	select {
	case l.ready <- c:
	case <-l.done:
		c.Close()
	}
}

// recycle keeps the name alive when a listener at MaxInstances loses a
// connection whose client has already gone: rather than close the instance
// (with MaxInstances 1, the pipe's only one, so that its name would vanish
// until a new instance is made, and a waiting client would fail with "not
// found"), it disconnects it and listens on it again. Disconnecting drops
// unread data, so an instance whose client may still read is closed instead,
// and the client reads what was written, then io.EOF. It reports whether it
// took c's instance.
func (l *Listener) recycle(c *Conn) bool {
	l.mu.Lock()
	atLimit := !l.closed && l.cfg.MaxInstances > 0 && l.live >= l.cfg.MaxInstances && len(l.pending) == 0
	l.mu.Unlock()
	if !atLimit {
		return false
	}
	if info, err := c.localInfo(); err != nil || info.NamedPipeState != windows.FILE_PIPE_CLOSING_STATE {
		return false
	}
	c.reuse()
	return true
}

// relisten puts a disconnected instance back to wait for a client, or
// closes it if the listener is closed.
func (l *Listener) relisten(f *iocp.File) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		f.Close()
		l.live--
		return
	}
	l.pending[f] = true
	l.wg.Add(1)
	go l.serve(f)
}

// release accounts for a closed server connection and lets a listener at
// MaxInstances make a new instance.
func (l *Listener) release() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.live--
	l.replenish()
}

// Accept waits for the next client and returns its connection as a net.Conn.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptPipe()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptPipe waits for the next client and returns its connection. A client
// that connected and left without writing anything is not returned. After
// Close, it returns an error wrapping net.ErrClosed.
func (l *Listener) AcceptPipe() (*Conn, error) {
	for {
		l.mu.Lock()
		err := l.err
		l.err = nil
		if err != nil {
			// Try again on the next call.
			l.replenish()
		}
		l.mu.Unlock()
		if err != nil {
			return nil, err
		}
		select {
		case c := <-l.ready:
			if c.peerGone() {
				c.Close()
				continue
			}
			return c, nil
		case <-l.failed:
		case <-l.done:
			return nil, &net.OpError{Op: "accept", Net: "pipe", Addr: l.Addr(), Err: net.ErrClosed}
		}
	}
}

// Close stops listening: it closes the waiting instances and the connections
// not yet accepted, and every Accept, pending or later, returns an error
// wrapping net.ErrClosed. Connections already accepted stay open. Close
// returns promptly whatever clients are doing.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return &net.OpError{Op: "close", Net: "pipe", Addr: l.Addr(), Err: net.ErrClosed}
	}
	l.closed = true
	close(l.done)
	pending := l.pending
	l.pending = nil
	l.mu.Unlock()
	for f := range pending {
		f.Close()
	}
	l.wg.Wait()
	for {
		select {
		case c := <-l.ready:
			c.Close()
			continue
		default:
		}
		break
	}
	return nil
}

// Addr returns the pipe's address.
func (l *Listener) Addr() net.Addr { return Addr(l.name.Path) }

var _ net.Listener = (*Listener)(nil)
