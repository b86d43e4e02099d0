package namedpipe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"slices"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/ipcname"
	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/quirks"
	"github.com/conduit-ipc/conduit/internal/winsec"
	"golang.org/x/sys/windows"
)

// Listener accepts connections on a named pipe. Like a socket's backlog, it
// lets Backlog clients connect before Accept takes them: it keeps that many
// instances listening, less the connections waiting for Accept, and
// replaces each instance as soon as a client connects while the queue has
// room. Beyond that, new clients find the pipe busy and wait (Dial waits for
// a busy pipe) until Accept makes room. With ListenConfig.ListenOnAccept it
// keeps instead one instance listening for each Accept that waits, and a
// placeholder that holds the name and takes no client.
//
// Every instance is created, queued, recycled and closed by the methods of
// one state machine under the Listener's lock (fill, listened, closeConn,
// relisten, closeInstance, Close): that is the only place instances change
// hands.
type Listener struct {
	name   ipcname.Name
	key    string // the name in the registry of closed listeners (nameKey)
	cfg    validated
	sddl   string // the descriptor asked for, "" for the default: compared on joins
	sd     *windows.SECURITY_DESCRIPTOR
	ntPath *windows.NTUnicodeString
	owner  *windows.SID // the pipe's owner, read back from its first instance

	// With ListenOnAccept: the instance that holds the name while no
	// Accept waits (counted in live), and, where quirks asks for it, the
	// client end that this process connected to it.
	placeholder, placeholderClient windows.Handle

	mu        sync.Mutex
	accept    sync.Cond // signalled when queue, err or closed change
	closed    bool
	orphaned  bool                    // closed, and in the registry of closed listeners (rejoin_windows.go)
	listening map[*iocp.File]struct{} // instances waiting for a client
	queue     []*Conn                 // connected instances not yet accepted
	waiting   int                     // Accepts waiting for a connection
	live      int                     // instance handles held: listening, queued, and accepted and open, and the placeholder
	err       error                   // why the last instance could not be made, for Accept
	retry     *time.Timer             // a creation to try again, while instances we no longer hold still count
	backoff   time.Duration           // the retry's delay
	wg        sync.WaitGroup          // the listen goroutines
}

// Retrying instance creation: Windows keeps an instance whose server end
// was closed in the pipe's instance count (FILE_PIPE_CLOSING_STATE) until
// its client closes too, so a listener below MaxInstances by its own count
// may be refused (STATUS_INSTANCE_NOT_AVAILABLE, ERROR_PIPE_BUSY) for a
// while. Nothing tells it when the client leaves, so it tries again, from
// minRetry doubling up to maxRetry.
const (
	minRetry = time.Millisecond
	maxRetry = 100 * time.Millisecond
)

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
// After that, whoever the security descriptor grants FILE_CREATE_PIPE_INSTANCE
// may add instances of their own (see ListenConfig.SecurityDescriptor).
//
// One case is joined instead: a name kept alive only by this process's
// connections. A pipe's name lives as long as any of its instances does, so
// after a Listener is closed the connections it accepted keep its name; as
// on Unix, where the socket's name goes with its listener, Listen of that
// name then succeeds, and the new Listener adds instances to that pipe
// (FILE_OPEN), provided that
//   - the ListenConfig asks for what the pipe has: the same MessageMode,
//     Direction, MaxInstances, AllowRemoteClients and security descriptor
//     (SecurityDescriptor, or CurrentUserOnly, or neither), since the pipe
//     keeps those of its first instance; and
//   - every instance of the pipe is one of those connections (the pipe's
//     instance count, asked once the new instance exists, equals this
//     process's count): an open Listener of this process, or an instance
//     that another process added, means the name is someone else's to serve.
//
// Otherwise Listen refuses the name as above, until the last of those
// connections closes and the name is free again. Windows counts an
// instance whose server end was closed until its client closes too, so a
// connection closed by the server whose client has not yet closed its end
// also makes Listen refuse, until the client does.
//
// A SecurityDescriptor that would not let this process create the pipe's
// further instances (FILE_CREATE_PIPE_INSTANCE with the instance's read and
// write access) fails Listen with ErrInvalidConfig.
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
	l := &Listener{
		name:      pn,
		key:       nameKey(pn.Name),
		cfg:       cfg,
		sddl:      sddl,
		sd:        sd,
		ntPath:    ntPath,
		listening: make(map[*iocp.File]struct{}),
	}
	l.accept.L = &l.mu
	first, err := l.first(c.SecurityDescriptor != "")
	if err != nil {
		return fail(err)
	}
	l.mu.Lock()
	l.live = 1
	if first != nil {
		l.listenOn(first)
		l.fill()
	}
	err = l.err
	l.mu.Unlock()
	if err != nil {
		l.Close()
		return nil, &os.PathError{Op: "listen", Path: pn.Path, Err: errors.Unwrap(err)}
	}
	return l, nil
}

// first makes the pipe's first instance: a new pipe (FILE_CREATE), or an
// instance of the pipe that only this process's closed listeners'
// connections keep (see Listen). With ListenOnAccept it is the placeholder,
// which it leaves in l.placeholder, and it returns nil.
func (l *Listener) first(custom bool) (*iocp.File, error) {
	orphans.mu.Lock()
	defer orphans.mu.Unlock()
	registered := orphans.m[l.key]
	disposition := uint32(windows.FILE_CREATE)
	if len(registered) > 0 {
		// The registered listeners hold instances, and cannot close them
		// while orphans.mu is held: the pipe exists, and is the one they
		// created. (Had their last instance closed before Listen took
		// the lock, they would not be registered, and the name, free
		// again, would be created anew below.)
		if err := l.joinable(registered[0]); err != nil {
			return nil, err
		}
		disposition = windows.FILE_OPEN
	} else {
		// FILE_CREATE below refuses an existing name on Windows. Wine does
		// not enforce it, so ask the file system first whether the name
		// exists: a zero-time FSCTL_PIPE_WAIT says "not found" only for a
		// free name. The check costs one call per Listen and runs
		// everywhere, so that the guard is exercised under Wine too.
		switch err := waitPipe(context.Background(), l.name.Name, 0); err {
		case windows.ERROR_FILE_NOT_FOUND:
		case nil, windows.ERROR_SEM_TIMEOUT:
			return nil, fmt.Errorf("pipe name in use: %w", windows.ERROR_ALREADY_EXISTS)
		default:
			return nil, err
		}
	}
	if l.cfg.ListenOnAccept {
		return nil, l.firstPlaceholder(disposition, registered, custom)
	}
	f, err := l.create(disposition)
	if err != nil {
		return nil, err
	}
	if disposition == windows.FILE_OPEN {
		err = checkInstances(f.Handle(), registered, 1)
	}
	if err == nil {
		err = l.checkSecurity(f.Handle(), custom)
	}
	if err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// firstPlaceholder makes ListenOnAccept's placeholder as the pipe's first
// instance, and checks the pipe through a probe: one more instance, made
// without read or write access as the placeholder is, and closed at once.
// (The placeholder has no access to ask with.) Called with orphans.mu held.
func (l *Listener) firstPlaceholder(disposition uint32, registered []*Listener, custom bool) error {
	if err := l.makePlaceholder(disposition); err != nil {
		return err
	}
	probe, err := l.createHandle(windows.FILE_OPEN, windows.READ_CONTROL|windows.FILE_READ_ATTRIBUTES|windows.SYNCHRONIZE)
	if err == nil {
		if disposition == windows.FILE_OPEN {
			err = checkInstances(probe, registered, 2)
		}
		if err == nil {
			err = l.checkSecurity(probe, custom)
		}
		windows.CloseHandle(probe)
	}
	if err != nil {
		l.closePlaceholder()
	}
	return err
}

// makePlaceholder creates ListenOnAccept's placeholder: an instance made
// without read or write access (SYNCHRONIZE only), which Windows leaves
// disconnected, so that no client connects to it (there is no listen
// request on it), as go-winio and WireGuard make their first instance for
// the same purpose. It holds the pipe's name and descriptor while no Accept
// waits. Where Wine hands clients to such an instance
// (quirks.ConnectPlaceholder), it is made with read and write access
// instead, and a client end of this process's own is connected to it at
// once, which leaves other clients as Windows' disconnected state does:
// finding the pipe busy.
func (l *Listener) makePlaceholder(disposition uint32) error {
	if !quirks.ConnectPlaceholder() {
		h, err := l.createHandle(disposition, windows.SYNCHRONIZE)
		l.placeholder = h
		return err
	}
	access, _ := l.access()
	p, err := windows.UTF16PtrFromString(l.name.Path)
	if err != nil {
		return err
	}
	// A client that dials as the placeholder is made may take it before
	// the listener's own client end does (there, it is connected to an
	// instance no one serves: it reads io.EOF once the placeholder is
	// closed). Then the placeholder is made again.
	for range maxPlaceholderTries {
		h, err := l.createHandle(disposition, access)
		if err != nil {
			return err
		}
		l.placeholder = h
		// No read or write access: the client end only holds the instance.
		l.placeholderClient, err = windows.CreateFile(p, windows.SYNCHRONIZE|windows.FILE_READ_ATTRIBUTES, 0, nil,
			windows.OPEN_EXISTING, windows.SECURITY_SQOS_PRESENT|windows.SECURITY_ANONYMOUS, 0)
		if err == nil {
			return nil
		}
		l.closePlaceholder()
		if err != windows.ERROR_PIPE_BUSY {
			return fmt.Errorf("connecting the placeholder instance: %w", err)
		}
	}
	return fmt.Errorf("connecting the placeholder instance: clients took it %d times in a row: %w", maxPlaceholderTries, windows.ERROR_PIPE_BUSY)
}

// maxPlaceholderTries bounds how many times Listen makes the placeholder
// again when clients take it first (quirks.ConnectPlaceholder).
const maxPlaceholderTries = 100

// closePlaceholder closes the placeholder and its client end, if any.
func (l *Listener) closePlaceholder() {
	if l.placeholderClient != 0 {
		windows.CloseHandle(l.placeholderClient)
		l.placeholderClient = 0
	}
	if l.placeholder != 0 {
		windows.CloseHandle(l.placeholder)
		l.placeholder = 0
	}
}

// checkSecurity reads back the security of the pipe, through h, one of its
// instances with READ_CONTROL access: its owner, which later instances are
// checked against, and, for a configured descriptor, whether it lets this
// process create the instances it will need. Windows checks
// FILE_CREATE_PIPE_INSTANCE, with the access the instance asks for, on
// every instance but the first; Wine checks neither, so the check is made
// here, with AccessCheck, where both agree.
func (l *Listener) checkSecurity(h windows.Handle, custom bool) error {
	sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.GROUP_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the pipe's security: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil {
		return fmt.Errorf("reading the pipe's owner: %w", err)
	}
	if l.owner, err = owner.Copy(); err != nil {
		return err
	}
	if !custom {
		return nil // the default grants this process's user everything
	}
	access, _ := l.access()
	ok, err := winsec.Grants(sd, access|nt.FILE_CREATE_PIPE_INSTANCE)
	if err == nil && !ok {
		return configError(fmt.Errorf("SecurityDescriptor %q does not grant this process FILE_CREATE_PIPE_INSTANCE and read/write access, which it needs to create the pipe's further instances", l.cfg.SecurityDescriptor))
	}
	// An AccessCheck that cannot be made leaves the verdict to Windows'
	// own check when the next instance is created.
	return nil
}

// target is how many instances the listener keeps listening or queued:
// the backlog, or, with ListenOnAccept, one for each Accept that waits.
func (l *Listener) target() int {
	if l.cfg.ListenOnAccept {
		return l.waiting
	}
	return l.cfg.backlog
}

// fill tops the instances listening and the connections waiting for Accept
// up to the target (the backlog, or the Accepts waiting), within
// MaxInstances. Called with l.mu held; every change to the instances ends
// with it.
func (l *Listener) fill() {
	for !l.closed && l.retry == nil && len(l.listening)+len(l.queue) < l.target() &&
		(l.cfg.MaxInstances == 0 || l.live < l.cfg.MaxInstances) {
		f, err := l.newInstance()
		if err != nil {
			if err == windows.ERROR_PIPE_BUSY {
				// Instances we no longer hold still count: try again.
				l.backoff = min(max(2*l.backoff, minRetry), maxRetry)
				l.retry = time.AfterFunc(l.backoff, l.retryFill)
				return
			}
			l.fail(err)
			return
		}
		l.backoff = 0
		l.live++
		l.listenOn(f)
	}
}

func (l *Listener) retryFill() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.retry = nil
	l.fill()
}

// fail records err for the next Accept. Called with l.mu held.
func (l *Listener) fail(err error) {
	l.err = &net.OpError{Op: "accept", Net: "pipe", Addr: l.Addr(), Err: err}
	l.accept.Signal()
}

// listenOn starts waiting for a client on f. Called with l.mu held.
func (l *Listener) listenOn(f *iocp.File) {
	l.listening[f] = struct{}{}
	l.wg.Add(1)
	go l.listen(f)
}

// testHookBeforeListen, when set, runs before an instance's listen request.
var testHookBeforeListen func()

// listen waits for a client on one instance and queues the connection.
func (l *Listener) listen(f *iocp.File) {
	defer l.wg.Done()
	if testHookBeforeListen != nil {
		testHookBeforeListen()
	}
	_, err := f.FsControl(context.Background(), nt.FSCTL_PIPE_LISTEN, nil, nil)
	// The client has connected by now (Conn.Connected): the request
	// completes when one does, or answers at once that one already has.
	connected := time.Now()
	switch err {
	case windows.ERROR_PIPE_CONNECTED:
		// A client connected between the instance's creation and the
		// listen request (a new instance takes clients at once).
		err = nil
	case windows.ERROR_NO_DATA:
		// A client connected, and closed its end, before the listen
		// request (STATUS_PIPE_CLOSING). What it wrote is still in the
		// instance: NPFS reads a closing pipe's queued data before it
		// reports the pipe broken (ReactOS npfs read.c). So the
		// connection is Accept's, as a TCP connection that has already
		// been shut down is: it reads the client's data, then io.EOF.
		// Dropping the instance lost the data.
		err = nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return // Close owns the listening instances and closes this one.
	}
	delete(l.listening, f)
	if err != nil {
		// A failure is worth telling Accept, which makes the
		// instance again: a failure that persists must not become a loop
		// of creating, listening and closing instances. Told once the
		// instance no longer counts, so that the Accept after this one
		// can make it.
		l.mu.Unlock()
		l.closeInstance(f, false)
		l.mu.Lock()
		l.fail(err)
		return
	}
	c := newConn(f, Addr(l.name.Path), true, l.cfg.MessageMode)
	c.listener, c.connected = l, connected
	l.queue = append(l.queue, c)
	l.accept.Signal()
	l.fill()
}

// closeConn closes an accepted (or queued) connection's instance and makes
// room for a new one. A listener at MaxInstances whose client has already
// gone keeps the instance instead: rather than close it (with MaxInstances
// 1, the pipe's only one, so that its name would vanish until a new
// instance is made, and a waiting client would fail with "not found"), it
// disconnects it and listens on it again. Disconnecting drops unread data,
// so an instance whose client may still read is closed, and the client reads
// what was written, then io.EOF.
func (l *Listener) closeConn(c *Conn) error {
	l.mu.Lock()
	atLimit := !l.closed && l.cfg.MaxInstances > 0 && l.live >= l.cfg.MaxInstances && len(l.listening) == 0
	l.mu.Unlock()
	if atLimit {
		if info, err := c.localInfo(); err == nil && info.NamedPipeState == windows.FILE_PIPE_CLOSING_STATE {
			return c.reuse()
		}
	}
	return l.closeInstance(c.f, true)
}

// relisten puts a disconnected instance back to wait for a client, or
// closes it if the listener is closed or its backlog is full.
func (l *Listener) relisten(f *iocp.File) {
	l.mu.Lock()
	if l.closed || len(l.listening)+len(l.queue) >= l.target() {
		l.mu.Unlock()
		// fill, which runs while the instance closes, may have found no
		// room for f's sake: closeInstance looks again after.
		l.closeInstance(f, true)
		return
	}
	l.listenOn(f)
	l.mu.Unlock()
}

// access returns the server instance's desired and share access for the
// pipe's direction: the share access is what lets clients read
// (FILE_SHARE_READ) or write (FILE_SHARE_WRITE).
func (l *Listener) access() (access, share uint32) {
	switch l.cfg.Direction {
	case Inbound:
		access = windows.GENERIC_READ | windows.FILE_WRITE_ATTRIBUTES
		share = windows.FILE_SHARE_WRITE
	case Outbound:
		access = windows.GENERIC_WRITE | windows.FILE_READ_ATTRIBUTES
		share = windows.FILE_SHARE_READ
	default:
		access = windows.GENERIC_READ | windows.GENERIC_WRITE
		share = windows.FILE_SHARE_READ | windows.FILE_SHARE_WRITE
	}
	return access | windows.SYNCHRONIZE, share
}

// newInstance creates one more instance of the pipe. Called with l.mu held.
//
// While the listener holds an instance the pipe is certainly its own, and
// FILE_OPEN joins it. Holding none, it may not be: the pipe lives on while
// clients hold instances the listener closed, and it vanishes with the last
// of them, when anyone may create the name anew. So the listener then joins
// the pipe if it exists, and checks that the pipe has the owner it read back
// at Listen, or creates it again, with its security descriptor, if it does
// not.
func (l *Listener) newInstance() (*iocp.File, error) {
	if l.live > 0 {
		return l.create(windows.FILE_OPEN)
	}
	f, err := l.create(windows.FILE_OPEN)
	switch err {
	case nil:
	case windows.ERROR_FILE_NOT_FOUND:
		return l.create(windows.FILE_CREATE)
	case windows.ERROR_ACCESS_DENIED:
		// Our own pipe grants us FILE_CREATE_PIPE_INSTANCE (Listen checked).
		return nil, fmt.Errorf("pipe name taken over: %w (%w)", fs.ErrExist, err)
	default:
		return nil, err // ERROR_PIPE_BUSY: our server-closed instances still count
	}
	if err := checkOwner(f.Handle(), l.owner); err != nil {
		f.Close()
		return nil, fmt.Errorf("pipe name taken over: %w (%w)", fs.ErrExist, err)
	}
	return f, nil
}

// create creates an instance with disposition FILE_CREATE (a new pipe,
// carrying the security descriptor) or FILE_OPEN (another instance of the
// pipe), on the completion port.
func (l *Listener) create(disposition uint32) (*iocp.File, error) {
	access, _ := l.access()
	h, err := l.createHandle(disposition, access)
	if err != nil {
		return nil, err
	}
	f, err := iocp.NewFile(h, iocp.Options{})
	if err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	return f, nil
}

// createHandle creates an instance, as create does, with the given access.
func (l *Listener) createHandle(disposition, access uint32) (windows.Handle, error) {
	if testHookCreate != nil {
		if err := testHookCreate(disposition); err != nil {
			return 0, err
		}
	}
	// The descriptor goes with FILE_OPEN too: Windows ignores it for an
	// existing pipe, and Wine, which creates the pipe on FILE_OPEN when
	// the name is free, then gives it the right one.
	oa := windows.OBJECT_ATTRIBUTES{ObjectName: l.ntPath, Attributes: windows.OBJ_CASE_INSENSITIVE, SecurityDescriptor: l.sd}
	oa.Length = uint32(unsafe.Sizeof(oa))
	_, share := l.access()
	typ, mode := uint32(windows.FILE_PIPE_BYTE_STREAM_TYPE), uint32(windows.FILE_PIPE_BYTE_STREAM_MODE)
	if l.cfg.MessageMode {
		typ, mode = windows.FILE_PIPE_MESSAGE_TYPE, windows.FILE_PIPE_MESSAGE_MODE
	}
	if !l.cfg.AllowRemoteClients {
		typ |= quirks.RejectRemoteClients()
	}
	maxInstances := uint32(unlimitedInstances)
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
		switch {
		case disposition != windows.FILE_CREATE:
		case st == windows.STATUS_ACCESS_DENIED, st == windows.STATUS_OBJECT_NAME_COLLISION,
			st == windows.STATUS_INSTANCE_NOT_AVAILABLE:
			// Windows answers FILE_CREATE on an existing pipe name with
			// STATUS_ACCESS_DENIED, or, since NPFS checks the instance
			// count first (ReactOS, NpCreateExistingNamedPipe), with
			// STATUS_INSTANCE_NOT_AVAILABLE if that pipe is at its limit.
			return 0, fmt.Errorf("pipe name in use: %w (%w)", windows.ERROR_ALREADY_EXISTS, st.Errno())
		}
		// STATUS_INSTANCE_NOT_AVAILABLE is ERROR_PIPE_BUSY.
		return 0, st.Errno()
	}
	return h, nil
}

// testHookCreate, when set, runs before each instance is created; an error
// it returns is creation's.
var testHookCreate func(disposition uint32) error

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
// Close, it returns an error wrapping net.ErrClosed. Errors are
// *net.OpError.
func (l *Listener) AcceptPipe() (*Conn, error) {
	for {
		l.mu.Lock()
		// Make the instances that an error left missing (the error went
		// to an earlier call), and, with ListenOnAccept, this call's.
		l.waiting++
		l.fill()
		for !l.closed && len(l.queue) == 0 && l.err == nil {
			l.accept.Wait()
		}
		l.waiting--
		if l.closed {
			l.mu.Unlock()
			return nil, &net.OpError{Op: "accept", Net: "pipe", Addr: l.Addr(), Err: net.ErrClosed}
		}
		if len(l.queue) == 0 {
			err := l.err
			l.err = nil
			l.mu.Unlock()
			return nil, err
		}
		c := l.queue[0]
		l.queue = slices.Delete(l.queue, 0, 1)
		l.fill()
		l.mu.Unlock()
		if c.peerGone() {
			c.Close()
			continue
		}
		return c, nil
	}
}

// Close stops listening: it closes the waiting instances, the connections
// not yet accepted and, with ListenOnAccept, the placeholder, and every
// Accept, pending or later, returns an error wrapping net.ErrClosed.
// Connections already accepted stay open, and keep the pipe's name in use
// until the last of them closes; Listen of that name joins their pipe
// meanwhile (see ListenConfig.Listen). Close returns promptly whatever
// clients are doing.
func (l *Listener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return &net.OpError{Op: "close", Net: "pipe", Addr: l.Addr(), Err: net.ErrClosed}
	}
	l.closed = true
	if l.retry != nil {
		l.retry.Stop()
	}
	listening, queue := l.listening, l.queue
	l.listening, l.queue = nil, nil
	l.accept.Broadcast()
	l.mu.Unlock()
	for f := range listening {
		f.Close() // cancels its listen
	}
	l.wg.Wait()
	for _, c := range queue {
		c.Close()
	}
	stopped := len(listening)
	if l.placeholder != 0 {
		// Only Listen and Close touch it, and Close once.
		l.closePlaceholder()
		stopped++
	}
	// The connections accepted keep the name: a later Listen may join it.
	l.register(stopped)
	return nil
}

// Addr returns the pipe's address.
func (l *Listener) Addr() net.Addr { return Addr(l.name.Path) }

// SyscallConn returns a raw connection to one of the pipe's listening
// instances (syscall.Conn): its Control runs a function with that
// instance's handle, which pipe-wide queries (GetNamedPipeInfo, the
// security descriptor) answer for the whole pipe. Read and Write are not
// supported. Control fails while no instance is listening: with
// ListenOnAccept, while no Accept waits.
func (l *Listener) SyscallConn() (syscall.RawConn, error) {
	return listenerRawConn{l}, nil
}

type listenerRawConn struct{ l *Listener }

func (rc listenerRawConn) Control(fn func(fd uintptr)) error {
	l := rc.l
	l.mu.Lock()
	var f *iocp.File
	for f = range l.listening {
		if f.Acquire() == nil {
			break
		}
		f = nil
	}
	closed := l.closed
	l.mu.Unlock()
	if f == nil {
		err := errors.New("no instance is listening")
		if closed {
			err = net.ErrClosed
		}
		return &net.OpError{Op: "raw-control", Net: "pipe", Addr: l.Addr(), Err: err}
	}
	defer f.Release()
	fn(uintptr(f.Handle()))
	return nil
}

func (rc listenerRawConn) Read(func(fd uintptr) bool) error {
	return &net.OpError{Op: "raw-read", Net: "pipe", Addr: rc.l.Addr(), Err: errors.ErrUnsupported}
}

func (rc listenerRawConn) Write(func(fd uintptr) bool) error {
	return &net.OpError{Op: "raw-write", Net: "pipe", Addr: rc.l.Addr(), Err: errors.ErrUnsupported}
}

var (
	_ net.Listener = (*Listener)(nil)
	_ syscall.Conn = (*Listener)(nil)
)
