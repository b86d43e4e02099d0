package iocp

import (
	"errors"
	"os"
	"runtime"
	"sync"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// ErrClosed is returned by operations on a File that has been closed, and by
// operations that Close interrupted.
var ErrClosed = errors.New("use of closed handle")

var (
	portOnce sync.Once
	port     windows.Handle
	portErr  error
)

// start creates the process's completion port and the goroutine that drains
// it. The goroutine blocks one OS thread in GetQueuedCompletionStatus for
// the life of the process, whatever the number of handles and operations.
func start() error {
	portOnce.Do(func() {
		// No concurrency limit: one thread dequeues anyway, and a limit of 1
		// measured no better.
		port, portErr = windows.CreateIoCompletionPort(windows.InvalidHandle, 0, 0, 0xffffffff)
		if portErr != nil {
			portErr = os.NewSyscallError("CreateIoCompletionPort", portErr)
			return
		}
		go drain()
	})
	return portErr
}

// drain wakes the waiter of each completion packet. It takes one packet per
// call: against GetQueuedCompletionStatusEx with 64 entries it measured the
// same throughput and about 20% less ping-pong latency under Wine (where
// every call is a round trip to wineserver).
func drain() {
	for {
		var n uint32
		var key uintptr
		var o *windows.Overlapped
		err := windows.GetQueuedCompletionStatus(port, &n, &key, &o, windows.INFINITE)
		if o == nil {
			// Only an invalid port fails an infinite wait without a
			// packet; that cannot happen while the process runs.
			panic("iocp: GetQueuedCompletionStatus: " + err.Error())
		}
		// Every packet on this port carries the OVERLAPPED of an Op, whose
		// goroutine keeps it alive until it has received this wake-up. A
		// failed operation's packet comes with err set; its status is in
		// the OVERLAPPED, where Do reads it.
		(*Op)(unsafe.Pointer(o)).done <- struct{}{}
	}
}

// Op is one overlapped operation. Its OVERLAPPED comes first so that the
// completion packet's pointer is the Op's. The Internal and InternalHigh
// fields double as the IO_STATUS_BLOCK of NT calls.
type Op struct {
	o    windows.Overlapped
	done chan struct{}
}

var opPool = sync.Pool{New: func() any { return &Op{done: make(chan struct{}, 1)} }}

// Overlapped returns the OVERLAPPED to pass to ReadFile, WriteFile or
// DeviceIoControl.
func (op *Op) Overlapped() *windows.Overlapped { return &op.o }

// IOSB returns the IO_STATUS_BLOCK to pass to an NT call, which shares the
// OVERLAPPED's memory; pass Context as the call's ApcContext so that the
// completion packet carries the Op.
func (op *Op) IOSB() *windows.IO_STATUS_BLOCK {
	return (*windows.IO_STATUS_BLOCK)(unsafe.Pointer(&op.o))
}

// Context is the ApcContext for NT calls: the completion packet's pointer.
func (op *Op) Context() uintptr { return uintptr(unsafe.Pointer(&op.o)) }

// File is an overlapped handle associated with the process's completion
// port.
type File struct {
	h windows.Handle

	mu      sync.Mutex
	closing bool
	closed  chan struct{} // closed by Close
	ops     sync.WaitGroup

	rd, wd deadline

	blockers map[windows.Handle]struct{} // threads inside Blocking, under mu
}

// NewFile associates h, which must have been opened for overlapped I/O, with
// the completion port. File takes ownership of h: Close closes it, also when
// NewFile fails.
func NewFile(h windows.Handle) (*File, error) {
	if err := start(); err != nil {
		windows.CloseHandle(h)
		return nil, err
	}
	if _, err := windows.CreateIoCompletionPort(h, port, 0, 0); err != nil {
		windows.CloseHandle(h)
		return nil, os.NewSyscallError("CreateIoCompletionPort", err)
	}
	// Operations that complete at once are handled by their caller; no
	// packet, no event.
	if err := windows.SetFileCompletionNotificationModes(h, windows.FILE_SKIP_COMPLETION_PORT_ON_SUCCESS|windows.FILE_SKIP_SET_EVENT_ON_HANDLE); err != nil {
		windows.CloseHandle(h)
		return nil, os.NewSyscallError("SetFileCompletionNotificationModes", err)
	}
	return Adopt(h), nil
}

// Handle returns the handle for calls that do not go through Do. It stays
// valid until Close returns; callers that may race with Close use Acquire.
func (f *File) Handle() windows.Handle { return f.h }

// Acquire keeps the handle open until the matching Release. It fails with
// ErrClosed once Close has begun.
func (f *File) Acquire() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return ErrClosed
	}
	f.ops.Add(1)
	return nil
}

// Release ends what Acquire began.
func (f *File) Release() { f.ops.Done() }

// Closed reports whether Close has begun.
func (f *File) Closed() bool {
	select {
	case <-f.closed:
		return true
	default:
		return false
	}
}

// Close cancels every operation in flight, waits for them to finish and
// closes the handle. Later calls return ErrClosed.
func (f *File) Close() error {
	if err := f.shutdown(); err != nil {
		return err
	}
	return windows.CloseHandle(f.h)
}

// Detach is Close without closing the handle: it cancels and waits for every
// operation, marks f closed and hands the handle, still associated with the
// completion port, to the caller, who gives it to Adopt or closes it.
func (f *File) Detach() (windows.Handle, error) {
	if err := f.shutdown(); err != nil {
		return 0, err
	}
	return f.h, nil
}

// Adopt makes a File of a handle that Detach returned. A handle can be
// associated with one completion port only once, so NewFile cannot take it.
func Adopt(h windows.Handle) *File {
	f := &File{h: h, closed: make(chan struct{})}
	f.rd.init()
	f.wd.init()
	return f
}

// Synchronous makes a File of a handle opened for synchronous I/O, which is
// not associated with the port. Only Blocking, Acquire and Close are of use
// on it: Close waits for Acquire's holders and interrupts calls in Blocking.
func Synchronous(h windows.Handle) *File { return Adopt(h) }

func (f *File) shutdown() error {
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		return ErrClosed
	}
	f.closing = true
	close(f.closed)
	f.mu.Unlock()
	// Waiters see f.closed and cancel their own operation; wait for them so
	// that no OVERLAPPED is still in the kernel's hands when the handle goes.
	// No thread can enter Blocking now (it must Acquire first), but one
	// already in it may not have entered its call when it is cancelled, so
	// cancel again until it has left.
	if !f.hasBlockers() {
		f.ops.Wait()
	} else {
		done := make(chan struct{})
		go func() { f.ops.Wait(); close(done) }()
		for f.cancelBlockers(); ; f.cancelBlockers() {
			select {
			case <-done:
			case <-time.After(10 * time.Millisecond):
				continue
			}
			break
		}
	}
	f.rd.stop()
	f.wd.stop()
	return nil
}

// Blocking runs fn, a synchronous call on the handle such as
// FlushFileBuffers, on a locked OS thread that Close interrupts with
// CancelSynchronousIo. It blocks that thread while fn runs: use it only where
// Windows offers no overlapped form.
func (f *File) Blocking(fn func(h windows.Handle) error) error {
	if err := f.Acquire(); err != nil {
		return err
	}
	defer f.Release()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	th, err := windows.OpenThread(windows.THREAD_TERMINATE, false, windows.GetCurrentThreadId())
	if err != nil {
		return os.NewSyscallError("OpenThread", err)
	}
	defer windows.CloseHandle(th)
	f.mu.Lock()
	if f.closing {
		// Close began after Acquire and may have looked for blockers
		// before this one registered: it would not cancel it.
		f.mu.Unlock()
		return ErrClosed
	}
	if f.blockers == nil {
		f.blockers = make(map[windows.Handle]struct{})
	}
	f.blockers[th] = struct{}{}
	f.mu.Unlock()
	err = fn(f.h)
	f.mu.Lock()
	delete(f.blockers, th)
	f.mu.Unlock()
	if err == windows.ERROR_OPERATION_ABORTED && f.Closed() {
		err = ErrClosed
	}
	return err
}

func (f *File) hasBlockers() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.blockers) > 0
}

func (f *File) cancelBlockers() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for th := range f.blockers {
		nt.CancelSynchronousIo(th)
	}
}

// Mode says which deadline an operation obeys.
type Mode int

const (
	Read    Mode = iota // obeys the read deadline
	Write               // obeys the write deadline
	Control             // obeys no deadline, only Close and its context
)

// Do issues one overlapped operation through submit and waits for it. It
// returns the byte count and the operation's final error: nil, a
// windows.Errno (ERROR_MORE_DATA and ERROR_BROKEN_PIPE among them), ErrClosed
// if Close interrupted it, os.ErrDeadlineExceeded if its deadline did, or the
// context's error if cancel (which may be nil) fired first.
//
// submit must issue the call on f's handle with op's OVERLAPPED (or IOSB and
// Context for NT calls) and return the call's error as it is: nil,
// windows.ERROR_IO_PENDING, a windows.NTStatus, or any other error.
func (f *File) Do(mode Mode, cancel <-chan struct{}, submit func(op *Op) error) (int, error) {
	if err := f.Acquire(); err != nil {
		return 0, err
	}
	defer f.Release()
	var dl *deadline
	switch mode {
	case Read:
		dl = &f.rd
	case Write:
		dl = &f.wd
	}
	var expired <-chan struct{}
	if dl != nil {
		expired = dl.wait()
		select {
		case <-expired:
			return 0, os.ErrDeadlineExceeded
		default:
		}
	}

	op := opPool.Get().(*Op)
	op.o = windows.Overlapped{}
	err := normalize(submit(op))
	if err == windows.ERROR_IO_PENDING || (err != nil && isWarning(err) && warningQueuesPacket()) {
		var why error
		select {
		case <-op.done:
		case <-f.closed:
			why = ErrClosed
		case <-expired:
			why = os.ErrDeadlineExceeded
		case <-cancel:
			why = errContext
		}
		if why != nil {
			// The operation may complete before the cancel lands; then its
			// result stands.
			windows.CancelIoEx(f.h, &op.o)
			<-op.done
		}
		err = statusError(windows.NTStatus(op.o.Internal))
		if err == windows.ERROR_OPERATION_ABORTED && why != nil {
			err = why
		}
	}
	// On immediate completion the byte count is in the OVERLAPPED, also for
	// ERROR_MORE_DATA, where Wine leaves ReadFile's own count at zero.
	n := int(op.o.InternalHigh)
	opPool.Put(op)
	return n, err
}

// errContext stands for "the cancel channel fired"; callers map it to their
// context's error.
var errContext = errors.New("iocp: operation cancelled by its context")

// IsContextCancel reports whether err is Do's answer to its cancel channel.
func IsContextCancel(err error) bool { return err == errContext }

// normalize turns NT call results into the Win32 shapes Do compares with.
func normalize(err error) error {
	if err == nil {
		return nil
	}
	if s, ok := err.(windows.NTStatus); ok {
		if s == windows.STATUS_PENDING {
			return windows.ERROR_IO_PENDING
		}
		return s.Errno()
	}
	return err
}

func statusError(s windows.NTStatus) error {
	if s == windows.STATUS_SUCCESS {
		return nil
	}
	return s.Errno()
}

// isWarning reports whether an immediate result is a warning status (the
// operation ran and a completion packet may follow) rather than an error.
// ERROR_MORE_DATA is STATUS_BUFFER_OVERFLOW, a warning.
func isWarning(err error) bool { return err == windows.ERROR_MORE_DATA }

// warningQueuesPacket reports whether an operation that returned a warning at
// once (ERROR_MORE_DATA from a message-mode read) still posts a completion
// packet despite FILE_SKIP_COMPLETION_PORT_ON_SUCCESS. Windows skips the
// packet only for success; Wine 8 (measured) skips it for warnings too. This
// is the one place that difference is handled.
func warningQueuesPacket() bool {
	return !nt.Wine()
}

// SetReadDeadline sets the deadline of pending and future Read operations.
func (f *File) SetReadDeadline(t time.Time) { f.rd.set(t) }

// SetWriteDeadline sets the deadline of pending and future Write operations.
func (f *File) SetWriteDeadline(t time.Time) { f.wd.set(t) }

// deadline is one direction's deadline: a channel closed when it passes.
type deadline struct {
	mu    sync.Mutex
	ch    chan struct{}
	timer *time.Timer
}

func (d *deadline) init() { d.ch = make(chan struct{}) }

// wait returns the channel that is closed when the deadline passes.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.ch
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	// A passed deadline's channel is closed; a new deadline needs a new one.
	select {
	case <-d.ch:
		d.ch = make(chan struct{})
	default:
	}
	if t.IsZero() {
		return
	}
	dur := time.Until(t)
	if dur <= 0 {
		close(d.ch)
		return
	}
	ch := d.ch
	d.timer = time.AfterFunc(dur, func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		// Only the deadline that armed this timer may fire it.
		if d.ch == ch {
			select {
			case <-ch:
			default:
				close(ch)
			}
		}
	})
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
