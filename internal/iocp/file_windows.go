package iocp

import (
	"context"
	"errors"
	"math"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/quirks"
	"golang.org/x/sys/windows"
)

// ErrClosed is returned by operations on a File that has been closed, and by
// operations that Close interrupted.
var ErrClosed = errors.New("use of closed handle")

// File is an overlapped handle associated with the process's completion
// port.
type File struct {
	h        windows.Handle
	slowRead bool // reads take no fast-path slot (Options.NoFastRead)
	noFast   bool // no operation takes a fast-path slot (Options.NoFastPath)

	mu      sync.Mutex
	closing bool // Close has begun
	ops     sync.WaitGroup

	rd, wd deadline

	// Under mu.
	pending  map[*Op]struct{}            // operations between submit and their result
	blockers map[windows.Handle]struct{} // threads inside Blocking
}

// Options are a File's settings.
type Options struct {
	// NoFastRead keeps reads off the fast path: they wait on the port from
	// the start. For handles whose reads carry a time-out of their own (a
	// mailslot's), which issuing the read again would restart.
	NoFastRead bool

	// NoFastPath keeps reads and writes off the fast path. For handles to
	// another machine's pipes (\\host\pipe\name, through the SMB
	// redirector): a remote read that outlasts the fast path would be
	// cancelled, and its thread would wait for the server's answer to the
	// cancel (an SMB2 CANCEL round trip, which MS-SMB2 3.3.5.16 leaves to
	// the server's discretion) before the read could be issued again; and
	// few remote operations complete within the fast path's 2 ms anyway.
	NoFastPath bool
}

// NewFile associates h, which must have been opened for overlapped I/O, with
// the completion port. On success File owns h and Close closes it; on
// failure h is left to the caller, possibly still associated with the port
// (an association cannot be undone on every Windows version): the drain
// goroutine ignores packets that are not its own.
func NewFile(h windows.Handle, o Options) (*File, error) {
	if err := start(); err != nil {
		return nil, err
	}
	if _, err := windows.CreateIoCompletionPort(h, port, ioKey, 0); err != nil {
		return nil, os.NewSyscallError("CreateIoCompletionPort", err)
	}
	// Operations that complete at once are handled by their caller: no
	// packet. The handle's own event is still set on each completion
	// (no FILE_SKIP_SET_EVENT_ON_HANDLE): a write on the fast path waits
	// on it (see the fast path).
	if err := windows.SetFileCompletionNotificationModes(h, windows.FILE_SKIP_COMPLETION_PORT_ON_SUCCESS); err != nil {
		return nil, os.NewSyscallError("SetFileCompletionNotificationModes", err)
	}
	f := Adopt(h)
	f.slowRead = o.NoFastRead
	f.noFast = o.NoFastPath
	return f, nil
}

// FastPath reports whether f's reads and writes may take the fast path
// (Options.NoFastPath and NoFastRead leave it off; writes take it only
// where quirks.StatusBeforeDequeue says a wait for their status can gain).
func (f *File) FastPath() (reads, writes bool) {
	return !f.noFast && !f.slowRead, !f.noFast && quirks.StatusBeforeDequeue()
}

// Handle returns the handle for calls that do not go through File's
// methods. It stays valid until Close returns; callers that may race with
// Close use Acquire.
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
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closing
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

// Adopt makes a File of a handle that Detach returned, or that NewFile
// associated before. A handle can be associated with one completion port
// only once, so NewFile cannot take it again.
func Adopt(h windows.Handle) *File {
	f := &File{h: h, pending: make(map[*Op]struct{})}
	f.rd.init(f, Read)
	f.wd.init(f, Write)
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
	for op := range f.pending {
		f.cancel(op, ErrClosed)
	}
	f.mu.Unlock()
	// Wait for the operations' goroutines, so that no OVERLAPPED is still in
	// the kernel's hands when the handle goes.
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

// Read reads into b with ReadFile, at most 4 GiB - 1 at a time. It returns
// the byte count and the operation's error: nil, a windows.Errno
// (ERROR_MORE_DATA, with the count, when a message is longer than b;
// ERROR_BROKEN_PIPE), ErrClosed if Close interrupted it,
// os.ErrDeadlineExceeded if the read deadline did, or an error that
// IsContextCancel recognises if ctx ended first. b is pinned until the read
// completes.
func (f *File) Read(ctx context.Context, b []byte) (int, error) {
	b = clip(b)
	return f.do(ctx, Read, b, nil, func(op *Op) error {
		// ReadFile writes done before it returns, never later, so it may
		// be on the stack; x/sys reads it when built with -race, so it may
		// not be nil. The count that counts is the OVERLAPPED's.
		var done uint32
		return windows.ReadFile(f.h, b, &done, &op.o)
	})
}

// Write writes b, at most 4 GiB - 1 bytes, with WriteFile; errors are as
// Read's, with the write deadline. It returns the count the call reports,
// which may be short only if the operation failed.
func (f *File) Write(ctx context.Context, b []byte) (int, error) {
	b = clip(b)
	return f.do(ctx, Write, b, nil, func(op *Op) error {
		var done uint32 // as in Read
		return windows.WriteFile(f.h, b, &done, &op.o)
	})
}

// FsControl issues the file-system control code with NtFsControlFile, in
// from in and out into out, and returns the byte count written to out. It
// obeys no deadline, only Close and ctx. in and out are pinned until it
// completes.
func (f *File) FsControl(ctx context.Context, code uint32, in, out []byte) (int, error) {
	in, out = clip(in), clip(out)
	return f.do(ctx, Control, in, out, func(op *Op) error {
		return nt.NtFsControlFile(f.h, 0, 0, op.apcContext(), op.iosb(), code,
			first(in), uint32(len(in)), first(out), uint32(len(out)))
	})
}

// clip shortens b to what one call can take: a DWORD's worth.
func clip(b []byte) []byte {
	if max := uint64(math.MaxUint32 - 1); uint64(len(b)) > max {
		return b[:max]
	}
	return b
}

func first(b []byte) *byte {
	if len(b) == 0 {
		return nil
	}
	return &b[0]
}

// do issues one overlapped operation through submit and waits for it to
// complete: every path from a call to its result goes through here.
//
// submit issues the call on f's handle with op's OVERLAPPED (ReadFile,
// WriteFile), whose event may be set, or with op's IO_STATUS_BLOCK and APC
// context (NT calls, Control operations only), and returns the call's error
// as it is: nil, windows.ERROR_IO_PENDING, a windows.NTStatus or any other
// error. buf1 and buf2 are the memory the call hands the kernel; they are
// pinned until the operation completes.
//
// No operation depends on the thread that issued it staying alive. Go ends
// a thread when a goroutine returns while locked to it, and the requests
// still tied to a thread are cancelled when it ends. A request is not tied
// to its thread when it will complete to the port: issued with an APC
// context (the packet's OVERLAPPED) and no event (thread-agnostic I/O,
// Windows Vista and later; Doron Holan, "New for Windows Vista: thread
// agnostic I/O"; Wine cancels a dying thread's requests unless they have
// a completion port, an APC context and no event: server/async.c,
// cancel_terminating_thread_asyncs). Every operation here has that shape
// but a fast-path read, whose event (low bit set: no packet) ties it to its
// thread. A read moves no data unless it completes, and one that its
// thread's end cancels ends STATUS_CANCELLED with nothing read, which run
// issues again through the port like a read that outlasted the fast path
// (op.why is nil: nobody of ours cancelled it). Writes, which cannot be
// cancelled without losing what part of their data has gone, are issued
// with no event even on the fast path, which waits on the file's handle
// for them instead (see the fast path).
func (f *File) do(ctx context.Context, mode Mode, buf1, buf2 []byte, submit func(op *Op) error) (int, error) {
	op := getOp()
	op.state.Store(opPending)
	op.packetDue = false

	// Acquire the handle and register op at once: whatever cancels the
	// operation from now on (Close, the deadline, ctx) finds it in pending.
	f.mu.Lock()
	if f.closing {
		f.mu.Unlock()
		putOp(op)
		return 0, ErrClosed
	}
	f.ops.Add(1)
	defer f.Release()
	op.seq++
	op.mode, op.submitted, op.why = mode, false, nil
	f.pending[op] = struct{}{}
	f.mu.Unlock()

	op.pinBuffers(buf1, buf2)
	n, err := f.run(ctx, op, submit)
	op.pin.Unpin() // the operation is over: the kernel is done with them

	// Out of pending before anyone may reuse op.
	f.mu.Lock()
	delete(f.pending, op)
	f.mu.Unlock()
	switch {
	case op.state.Load() == opMarked:
		mark(op) // the marker frees op, after any packet of its call
	case op.packetDue:
		// A fast-path write that completed within the wait: its packet
		// is still due, and whichever of this goroutine and the drain
		// comes second frees op. The drain came first if the state is
		// opDequeued.
		if !op.state.CompareAndSwap(opPending, opLeft) {
			putOp(op)
		}
	default:
		putOp(op)
	}
	return n, err
}

// run is do between registering op and releasing it. When it returns, the
// operation is complete and the kernel holds nothing of op's but the
// OVERLAPPED of a packet still due: its packet, if one was due, has been
// dequeued, unless op is opMarked or op.packetDue is set.
func (f *File) run(ctx context.Context, op *Op, submit func(op *Op) error) (int, error) {
	if dl := f.deadline(op.mode); dl != nil && dl.passed() {
		return 0, os.ErrDeadlineExceeded
	}
	if ctx.Done() != nil {
		if ctx.Err() != nil {
			return 0, errContext
		}
		seq := op.seq
		stop := context.AfterFunc(ctx, func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			if _, ok := f.pending[op]; ok && op.seq == seq {
				f.cancel(op, errContext)
			}
		})
		defer stop()
	}
	var s *slot
	if op.mode != Control && !f.noFast && !(op.mode == Read && f.slowRead) &&
		!(op.mode == Write && !quirks.StatusBeforeDequeue()) {
		s = takeSlot()
	}
	for {
		op.o = windows.Overlapped{}
		// The status reads pending until the I/O manager writes the
		// result; one that still does after an immediate return says
		// that the request never completed through it (packetMayFollow).
		op.o.Internal = uintptr(windows.STATUS_PENDING)
		if s != nil && op.mode == Read {
			// The low bit: the completion sets the event and queues no
			// packet (see the fast path). The read is tied to this
			// thread, which do's comment shows is safe for a read.
			op.o.HEvent = s.event()
		}
		err := normalize(submit(op))
		if testHookSubmitted != nil {
			testHookSubmitted(op, err)
		}
		if err != windows.ERROR_IO_PENDING {
			if s != nil {
				s.put()
			}
			if op.o.HEvent == 0 && packetMayFollow(op.status(), err) {
				// Whether a packet follows is not documented: see mark.
				op.state.Store(opMarked)
			}
			// On immediate completion the byte count is in the
			// OVERLAPPED, also for ERROR_MORE_DATA, where Wine leaves
			// ReadFile's own count at zero.
			return int(op.o.InternalHigh), err
		}
		// A canceller that came before this point could not reach the
		// call; cancel it now on its behalf.
		f.mu.Lock()
		op.submitted = true
		if op.why != nil {
			windows.CancelIoEx(f.h, &op.o)
		}
		f.mu.Unlock()
		switch {
		case s == nil:
			op.await()
		case op.mode == Write:
			// No event: the write is the port's. Its goroutine waits on
			// the handle, which each completion on it sets, for the
			// status to change; if it does, the packet is left to the
			// drain.
			done := s.waitOn(f.h, op, true)
			s.put()
			if done {
				op.packetDue = true
			} else {
				op.await()
			}
		default:
			if !s.wait(op, true) {
				if testHookBeforeReissue != nil {
					testHookBeforeReissue(op)
				}
				// Cancelling completes the read at once, unless it has
				// completed already: then it keeps its data.
				windows.CancelIoEx(f.h, &op.o)
				// Until the kernel has written the result, op and the
				// buffers are its own: however the wait fails, it is
				// not left before the status is final.
				for !s.wait(op, false) {
					time.Sleep(time.Millisecond)
				}
			}
			s.put()
			s = nil
			f.mu.Lock()
			again := op.status() == windows.STATUS_CANCELLED && op.why == nil
			op.submitted = false
			f.mu.Unlock()
			if again {
				// Nobody of ours cancelled it: this read outlasted the
				// fast path, or the thread that issued it ended. Issue
				// it again through the port.
				continue
			}
		}
		break
	}
	err := statusError(op.status())
	if err == windows.ERROR_OPERATION_ABORTED {
		f.mu.Lock()
		if op.why != nil {
			err = op.why
		}
		f.mu.Unlock()
	}
	return int(op.o.InternalHigh), err
}

// cancel asks for op to end early with why. The caller holds f.mu. The
// first reason given wins; an operation that completes anyway keeps its
// result.
func (f *File) cancel(op *Op, why error) {
	if op.why == nil {
		op.why = why
	}
	if op.submitted {
		// op stays in pending, so its OVERLAPPED is not reused, until its
		// goroutine has its result: this cannot cancel another operation.
		windows.CancelIoEx(f.h, &op.o)
	}
}

// cancelMode cancels the operations in flight of mode with why.
func (f *File) cancelMode(mode Mode, why error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for op := range f.pending {
		if op.mode == mode {
			f.cancel(op, why)
		}
	}
}

func (f *File) deadline(mode Mode) *deadline {
	switch mode {
	case Read:
		return &f.rd
	case Write:
		return &f.wd
	}
	return nil
}

// errContext stands for "the operation's context ended"; callers map it to
// their context's error.
var errContext = errors.New("iocp: operation cancelled by its context")

// IsContextCancel reports whether err is an operation's answer to its
// context ending.
func IsContextCancel(err error) bool { return err == errContext }

// normalize turns NT call results into the Win32 shapes run compares with.
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

// packetMayFollow reports whether a completion packet may follow a call
// that did not return pending, given the status in its IO_STATUS_BLOCK
// (preset to STATUS_PENDING) and the call's error. It errs towards yes: a
// marker costs one packet, an Op reused while a packet of its own is due
// costs memory.
//
//   - A status still STATUS_PENDING: the I/O manager wrote no result, so the
//     request did not complete through it, and nothing was queued (it writes
//     the IO_STATUS_BLOCK before it sets the event or queues the packet, in
//     one step: IopCompleteRequest). That is how a request fails at once on
//     an overlapped handle: an error returned without pending writes neither.
//   - STATUS_SUCCESS, returned as success: no packet, as
//     FILE_SKIP_COMPLETION_PORT_ON_SUCCESS documents.
//   - Anything else written there: a warning (STATUS_BUFFER_OVERFLOW, a
//     message longer than the buffer), an informational status, or an error
//     the I/O manager wrote after all. The documentation does not say that
//     no packet follows those: mark says why the marker makes it moot.
func packetMayFollow(status windows.NTStatus, err error) bool {
	switch {
	case status == windows.STATUS_PENDING:
		return false
	case status == windows.STATUS_SUCCESS && err == nil:
		return false
	}
	return true
}

// Test hooks: testHookSubmitted runs after each call with its result, and
// testHookBeforeReissue before a read that outlasted the fast path is
// cancelled to be issued again.
var (
	testHookSubmitted     func(op *Op, err error)
	testHookBeforeReissue func(op *Op)
)
