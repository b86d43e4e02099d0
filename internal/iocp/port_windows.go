package iocp

import (
	"os"
	"sync"

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
			if err == nil {
				// A packet with no OVERLAPPED: someone else's (posted,
				// or a call on a handle of ours with no APC context),
				// and nothing of ours.
				continue
			}
			// Only an invalid port fails an infinite wait without a
			// packet; that cannot happen while the process runs.
			panic("iocp: GetQueuedCompletionStatus: " + err.Error())
		}
		// The packets of our operations carry an Op's OVERLAPPED. A
		// failed operation's packet comes with err set; its status is in
		// the OVERLAPPED, where the Op's goroutine reads it. Any other
		// packet is not ours to touch: an overlapped call that someone
		// issued on a handle of ours (through SyscallConn, or on a handle
		// whose NewFile failed after associating it with the port).
		op := opOf(o)
		if op == nil {
			continue
		}
		if key == markerKey {
			op.markerDequeued()
		} else {
			op.dequeued()
		}
	}
}

// mark queues a marker packet for op behind any packet that op's call may
// have queued. Should the marker not be queued (the port is out of
// resources), op is never freed, and so never reused.
//
// It is how an Op whose call returned at once with a result other than
// plain success is made safe to reuse (packetMayFollow): ERROR_MORE_DATA
// from a message-mode read, STATUS_BUFFER_OVERFLOW, an NT warning, neither
// success nor error. Win32's documentation says that
// with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS no packet follows a call that
// "returns success immediately", and that none follows a call that fails;
// it does not say which a warning is. The WDK's FILE_OBJECT page says the
// packet is skipped for a request "completed synchronously with a non-error
// status", which a warning is, and Wine 8 queues none (measured; Wine's
// own pipe tests show Windows 8 and later returning such a read pending,
// with its packet, and earlier versions queueing none). The marker makes the
// question moot. It rests on two facts: a port's packets are dequeued in the
// order they were queued, and the I/O manager finishes a request that did
// not return STATUS_PENDING (the IO_STATUS_BLOCK, the event, the packet:
// one step, IopCompleteRequest) before the call returns to its caller,
// which is why the caller can read the result from the OVERLAPPED at once.
// So a packet of op's, if there is one, is on the port before the marker,
// and the marker's arrival means none can follow: the drain frees op then,
// and ignores the packet, if it comes first.
func mark(op *Op) {
	windows.PostQueuedCompletionStatus(port, 0, markerKey, &op.o)
}
