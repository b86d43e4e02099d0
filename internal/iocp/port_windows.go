package iocp

import (
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

// The process's completion port and the goroutine that drains it.

var (
	portOnce sync.Once
	port     windows.Handle
	portErr  error
)

// Completion keys. Every handle is associated with ioKey, so the packets of
// its operations carry it; markerKey is on the packets that the port
// itself is handed by marker.
const (
	ioKey     = 0
	markerKey = 1
)

// start creates the process's completion port, the fast path's slots and
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
		// the OVERLAPPED, where the Op's goroutine reads it.
		op := (*Op)(unsafe.Pointer(o))
		if key == markerKey {
			op.markerDequeued()
		} else {
			op.dequeued()
		}
	}
}

// mark queues a marker packet for op behind any packet that op's call may
// have queued, and reports whether it did.
//
// It is how an Op whose call returned a warning at once (ERROR_MORE_DATA
// from a message-mode read: STATUS_BUFFER_OVERFLOW, an NT warning, neither
// success nor error) is made safe to reuse. Windows documents that a call
// that fails at once queues no packet and that, with
// FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, one that succeeds at once queues
// none either, but not which of the two a warning counts as; Wine 8 queues
// none. Whichever it is, the facts this rests on are documented: a port's
// packets are dequeued in the order they were queued (FIFO), and the I/O
// manager completes a request that did not return STATUS_PENDING (IOSB,
// event, completion packet) before the call returns to its caller, which is
// why the caller can read the result from the OVERLAPPED. So a packet of
// op's, if there is one, is on the port before the marker, and the marker's
// arrival means none can follow: the drain frees op then.
func mark(op *Op) bool {
	return windows.PostQueuedCompletionStatus(port, 0, markerKey, &op.o) == nil
}
