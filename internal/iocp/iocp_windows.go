package iocp

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
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

// start creates the process's completion port, the fast path's events and
// the goroutine that drains the port.
func start() error {
	portOnce.Do(func() {
		// No concurrency limit: one thread dequeues anyway.
		port, portErr = windows.CreateIoCompletionPort(windows.InvalidHandle, 0, 0, 0xffffffff)
		if portErr != nil {
			portErr = os.NewSyscallError("CreateIoCompletionPort", portErr)
			return
		}
		initFast()
		go drain()
	})
	return portErr
}

// drain dequeues every completion packet, one per call, and hands it to its
// Op. It blocks one OS thread in GetQueuedCompletionStatus for the life of
// the process, whatever the number of handles and operations.
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
		// Every packet on this port carries the OVERLAPPED of an Op. A
		// failed operation's packet comes with err set; its status is in
		// the OVERLAPPED, where Do reads it.
		(*Op)(unsafe.Pointer(o)).dequeued()
	}
}

// The fast path. Handing a completion from the thread that dequeues it to
// the waiting goroutine's costs a wake-up of another thread, and under Wine
// every wake-up is several round trips to wineserver. So a pending read or
// write first waits on its own thread, for at most fastWait, on an event that
// its completion sets instead of queueing a packet (the event handle's low
// bit is set): one that completes within that time (a reply, a reader
// catching up) returns the way a synchronous call would, and the port's
// thread never hears of it. Only fastSlots threads wait so at any time; other
// operations go straight to the port.
//
// An operation that outlasts fastWait gives its thread back:
//   - A read is cancelled and issued again through the port. That is safe for
//     reads, which move no data until they complete, and it keeps an idle
//     connection's read off any thread.
//   - A write cannot be cancelled safely (part of its data may have gone), so
//     its event goes to a wait of the system thread pool, whose wait threads
//     each serve 63 waits; the slot gets a new event. At most maxStuck writes
//     wait there; beyond that, writes skip the fast path.
//
// So no thread is held per operation or per idle connection: fastSlots
// threads for at most fastWait each (rounded up to the system timer's
// resolution, which Windows leaves at 15.6 ms unless a process raises it),
// and a pool wait thread per 63 writes that a slow reader holds up.
const (
	fastWait  = 2 * time.Millisecond
	fastSlots = 4
	maxStuck  = 63
)

var fast struct {
	free  chan int // indices of free slots
	ev    [fastSlots]windows.Handle
	stuck atomic.Int32 // writes in thread-pool waits
}

// initFast creates the slots' auto-reset events. Without them the fast path
// is off, which costs speed only.
func initFast() {
	fast.free = make(chan int, fastSlots)
	for i := range fast.ev {
		ev, err := windows.CreateEvent(nil, 0, 0, nil)
		if err != nil {
			return
		}
		fast.ev[i] = ev
		fast.free <- i
	}
}

// takeSlot returns a free slot for an operation of mode, or -1.
func takeSlot(mode Mode) int {
	if mode == Control || mode == Write && fast.stuck.Load() >= maxStuck {
		return -1
	}
	select {
	case i := <-fast.free:
		return i
	default:
		return -1
	}
}

func putSlot(i int) { fast.free <- i }

// waitPool waits for a write that outlasted the fast path: it hands the
// slot's event to the write, gives the slot a new one, and parks the
// goroutine until a thread-pool wait on the event wakes it.
func waitPool(op *Op, slot int) {
	ev := fast.ev[slot]
	if nev, err := windows.CreateEvent(nil, 0, 0, nil); err == nil {
		fast.ev[slot] = nev
		putSlot(slot)
	} // else the fast path goes on with one slot fewer.
	defer windows.CloseHandle(ev)
	fast.stuck.Add(1)
	defer fast.stuck.Add(-1)
	// The event may carry a stale signal from an earlier user of the slot,
	// so the status decides when the write is done.
	for windows.NTStatus(atomic.LoadUintptr(&op.o.Internal)) == windows.STATUS_PENDING {
		var wait windows.Handle
		err := nt.RegisterWaitForSingleObject(&wait, ev, poolCallback, uintptr(op.id), windows.INFINITE,
			nt.WT_EXECUTEONLYONCE|nt.WT_EXECUTEINWAITTHREAD)
		if err != nil {
			// Out of resources: wait here rather than fail the write.
			windows.WaitForSingleObject(ev, windows.INFINITE)
			continue
		}
		<-op.wake
		nt.UnregisterWaitEx(wait, windows.InvalidHandle) // returns once the callback has
	}
}

// poolCallback runs on a thread-pool wait thread when a stuck write's event
// is set; its context is the Op's index in ops.all.
var poolCallback = syscall.NewCallback(func(id, timedOut uintptr) uintptr {
	ops.mu.Lock()
	op := ops.all[id]
	ops.mu.Unlock()
	op.wake <- struct{}{}
	return 0
})

// waitSlot waits on op's own thread for op to complete, for at most d
// (forever if d is 0), and reports whether it did. The slot's event may also
// have been set by the late completion of an operation that used the slot
// before, so only the OVERLAPPED's status, written before the event is set,
// says whether op is done.
func waitSlot(op *Op, slot int, d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		ms := uint32(windows.INFINITE)
		if d > 0 {
			left := (time.Until(end) + time.Millisecond - 1) / time.Millisecond
			if left <= 0 {
				return false
			}
			ms = uint32(left)
		}
		ev, _ := windows.WaitForSingleObject(fast.ev[slot], ms)
		if windows.NTStatus(atomic.LoadUintptr(&op.o.Internal)) != windows.STATUS_PENDING {
			return true
		}
		if ev != windows.WAIT_OBJECT_0 {
			return false
		}
	}
}

// Op states, once its call has returned pending.
const (
	opPending  int32 = iota // nobody is done with it
	opReturned              // Do returned its result; the packet is still due
	opDequeued              // the drain goroutine has its packet; Do has not returned
	opParked                // Do waits on wake for the packet
)

// Op is one overlapped operation. Its OVERLAPPED comes first so that the
// completion packet's pointer is the Op's. The Internal and InternalHigh
// fields double as the IO_STATUS_BLOCK of NT calls.
type Op struct {
	o     windows.Overlapped
	id    int           // index in ops.all
	wake  chan struct{} // a parked Do's wake-up: its packet, or its pool wait
	state atomic.Int32

	// Under the File's mu.
	seq       uint64 // counts the Do calls that used this Op
	mode      Mode
	submitted bool  // the call has returned pending: CancelIoEx can reach it
	why       error // why it is being cancelled, if it is
}

// Ops are never freed: a completion packet holds an Op's address where the
// garbage collector cannot see it, so every Op stays reachable from ops.all.
// Their number is the peak number of operations in flight.
var ops struct {
	mu   sync.Mutex
	all  []*Op
	free []*Op
}

func getOp() *Op {
	ops.mu.Lock()
	defer ops.mu.Unlock()
	if n := len(ops.free); n > 0 {
		op := ops.free[n-1]
		ops.free = ops.free[:n-1]
		return op
	}
	op := &Op{id: len(ops.all), wake: make(chan struct{}, 1)}
	ops.all = append(ops.all, op)
	return op
}

func putOp(op *Op) {
	ops.mu.Lock()
	ops.free = append(ops.free, op)
	ops.mu.Unlock()
}

// dequeued is the drain goroutine's part: the packet is here, and with it
// the result.
func (op *Op) dequeued() {
	for {
		switch op.state.Load() {
		case opPending:
			if !op.state.CompareAndSwap(opPending, opDequeued) {
				continue
			}
		case opReturned:
			putOp(op)
		case opParked:
			op.wake <- struct{}{}
		}
		return
	}
}

// await is Do's part once the call has returned pending and its packet is
// due: it returns when the result is in the OVERLAPPED.
func (op *Op) await() {
	if op.state.CompareAndSwap(opPending, opParked) {
		<-op.wake
	}
}

// release ends Do's use of op.
func (op *Op) release(packet bool) {
	if packet && op.state.CompareAndSwap(opPending, opReturned) {
		return // the drain goroutine frees it
	}
	putOp(op)
}

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
	closing bool // Close has begun
	ops     sync.WaitGroup

	rd, wd deadline

	// Under mu.
	pending  map[*Op]struct{}            // operations between submit and their result
	blockers map[windows.Handle]struct{} // threads inside Blocking
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

// Adopt makes a File of a handle that Detach returned. A handle can be
// associated with one completion port only once, so NewFile cannot take it.
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

// Do issues one overlapped operation through submit and waits for it. It
// returns the byte count and the operation's final error: nil, a
// windows.Errno (ERROR_MORE_DATA and ERROR_BROKEN_PIPE among them), ErrClosed
// if Close interrupted it, os.ErrDeadlineExceeded if its deadline did, or
// an error that IsContextCancel recognises if ctx ended first.
//
// submit must issue the call on f's handle with op's OVERLAPPED (or IOSB and
// Context for NT calls) and return the call's error as it is: nil,
// windows.ERROR_IO_PENDING, a windows.NTStatus, or any other error. Read and
// Write operations must pass the OVERLAPPED itself (ReadFile, WriteFile,
// DeviceIoControl), whose event Do may set; Control operations may use
// either form.
func (f *File) Do(ctx context.Context, mode Mode, submit func(op *Op) error) (int, error) {
	op := getOp()
	op.state.Store(opPending)

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
	n, packet, err := f.do(ctx, op, mode, submit)
	// Out of pending before anyone may reuse op.
	f.mu.Lock()
	delete(f.pending, op)
	f.mu.Unlock()
	op.release(packet)
	return n, err
}

// do is Do between registering op and releasing it; packet says whether a
// completion packet is due for op.
func (f *File) do(ctx context.Context, op *Op, mode Mode, submit func(op *Op) error) (n int, packet bool, err error) {
	if dl := f.deadline(mode); dl != nil && dl.passed() {
		return 0, false, os.ErrDeadlineExceeded
	}
	if ctx.Done() != nil {
		if ctx.Err() != nil {
			return 0, false, errContext
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
	slot := takeSlot(mode)
	for {
		op.o = windows.Overlapped{}
		if slot >= 0 {
			// The status says pending until the completion writes it.
			op.o.HEvent = fast.ev[slot] | 1 // the event only, no packet
			op.o.Internal = uintptr(windows.STATUS_PENDING)
		}
		err = normalize(submit(op))
		// A warning's packet is no more pending than a success's when the
		// event stands in for the packet.
		pending := err == windows.ERROR_IO_PENDING || (slot < 0 && err != nil && isWarning(err) && warningQueuesPacket())
		if !pending {
			if slot >= 0 {
				putSlot(slot)
			}
			// On immediate completion the byte count is in the
			// OVERLAPPED, also for ERROR_MORE_DATA, where Wine leaves
			// ReadFile's own count at zero.
			return int(op.o.InternalHigh), false, err
		}
		// A canceller that came before this point could not reach the
		// call; cancel it now on its behalf.
		f.mu.Lock()
		op.submitted = true
		if op.why != nil {
			windows.CancelIoEx(f.h, &op.o)
		}
		f.mu.Unlock()
		packet = slot < 0
		switch {
		case slot < 0:
			op.await()
		case mode == Write:
			if waitSlot(op, slot, fastWait) {
				putSlot(slot)
			} else {
				waitPool(op, slot)
			}
		default:
			if !waitSlot(op, slot, fastWait) {
				// Cancellation completes the read at once.
				windows.CancelIoEx(f.h, &op.o)
				waitSlot(op, slot, 0)
			}
			putSlot(slot)
			slot = -1
			f.mu.Lock()
			again := windows.NTStatus(op.o.Internal) == windows.STATUS_CANCELLED && op.why == nil
			op.submitted = false
			f.mu.Unlock()
			if again {
				// Nobody else cancelled it: this read only outlasted the
				// fast path. Issue it again through the port.
				continue
			}
		}
		break
	}
	err = statusError(windows.NTStatus(op.o.Internal))
	if err == windows.ERROR_OPERATION_ABORTED {
		f.mu.Lock()
		if op.why != nil {
			err = op.why
		}
		f.mu.Unlock()
	}
	return int(op.o.InternalHigh), packet, err
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

// expire cancels the operations in flight that obey mode's deadline.
func (f *File) expire(mode Mode) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for op := range f.pending {
		if op.mode == mode {
			f.cancel(op, os.ErrDeadlineExceeded)
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

// deadline is one direction's deadline. When it passes, the operations in
// flight in that direction are cancelled, and later ones fail at once until
// it is moved.
type deadline struct {
	f    *File
	mode Mode

	mu      sync.Mutex
	gen     uint64 // counts set calls; a timer fires only for its own
	expired bool
	timer   *time.Timer
}

func (d *deadline) init(f *File, mode Mode) { d.f, d.mode = f, mode }

// passed reports whether the deadline has passed.
func (d *deadline) passed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.expired
}

func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
	d.gen++
	d.expired = false
	if t.IsZero() {
		d.mu.Unlock()
		return
	}
	dur := time.Until(t)
	if dur > 0 {
		gen := d.gen
		d.timer = time.AfterFunc(dur, func() { d.fire(gen) })
		d.mu.Unlock()
		return
	}
	d.expired = true
	d.mu.Unlock()
	d.f.expire(d.mode)
}

// fire is the timer of the set call numbered gen.
func (d *deadline) fire(gen uint64) {
	d.mu.Lock()
	if d.gen != gen {
		d.mu.Unlock()
		return
	}
	d.expired = true
	d.timer = nil
	d.mu.Unlock()
	d.f.expire(d.mode)
}

func (d *deadline) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
		d.timer = nil
	}
}
