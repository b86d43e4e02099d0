package iocp

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/windows"
)

// Op is one overlapped operation. Its OVERLAPPED comes first so that the
// completion packet's pointer is the Op's. The Internal and InternalHigh
// fields double as the IO_STATUS_BLOCK of NT calls.
//
// Everything the kernel may touch after the call that issued the operation
// has returned stays put until the operation completes: the OVERLAPPED is
// in the Op, which lives on the heap and is never freed (see ops), and the
// caller's buffers are pinned by pin until the result is in.
type Op struct {
	o     windows.Overlapped
	id    int           // index in ops.all
	wake  chan struct{} // a parked goroutine's wake-up: its packet
	state atomic.Int32
	pin   runtime.Pinner

	// packetDue: the goroutine has its result (a fast-path write that
	// completed within the wait) but the packet is still to come. Only
	// the goroutine touches it.
	packetDue bool

	// Under the File's mu.
	seq       uint64 // counts the operations that used this Op
	mode      Mode
	submitted bool  // the call has returned pending: CancelIoEx can reach it
	why       error // why it is being cancelled, if it is
}

// Op states, as the drain goroutine and the Op's own goroutine hand the
// completion packet over.
const (
	opPending  int32 = iota // the packet is due; the goroutine has not parked
	opParked                // the goroutine waits on wake for the packet
	opDequeued              // the packet came before the goroutine parked
	opMarked                // the goroutine is done; a marker (see mark) frees the Op
	opLeft                  // the goroutine is done, its packet due; the packet frees the Op
)

// Ops are never freed: a completion packet holds an Op's address where the
// garbage collector cannot see it, so every Op stays reachable from ops.all.
// Their number is the peak number of operations in flight.
var ops struct {
	mu   sync.Mutex
	all  []*Op
	free []*Op

	// known maps each Op's OVERLAPPED to the Op, so that the drain
	// goroutine can tell a packet of ours from one that is not (an
	// overlapped call that someone else issued on a handle associated
	// with the port) and never writes into memory that is not an Op.
	known sync.Map
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
	ops.known.Store(&op.o, op)
	return op
}

func putOp(op *Op) {
	ops.mu.Lock()
	ops.free = append(ops.free, op)
	ops.mu.Unlock()
}

// opOf returns the Op whose OVERLAPPED o is, or nil if o is not an Op's.
func opOf(o *windows.Overlapped) *Op {
	op, ok := ops.known.Load(o)
	if !ok {
		return nil
	}
	return op.(*Op)
}

// pinBuffers pins the buffers the call will hand the kernel. Pinning makes
// them escape to the heap too, so a caller's stack buffer is never what the
// kernel writes into: a goroutine's stack moves when the collector shrinks
// it or when it grows, while the operation may still be running.
func (op *Op) pinBuffers(bufs ...[]byte) {
	for _, b := range bufs {
		if len(b) > 0 {
			op.pin.Pin(&b[0])
		}
	}
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
		case opParked:
			op.wake <- struct{}{}
		case opMarked:
			// The packet of a call that returned a warning at once; the
			// marker behind it frees the Op.
		case opLeft:
			// A fast-path write's: its goroutine took the result as the
			// handle was set and left the Op to its packet.
			putOp(op)
		default:
			panic("iocp: a second completion packet for one operation")
		}
		return
	}
}

// markerDequeued frees an Op that mark marked: any packet of its call has
// been dequeued before.
func (op *Op) markerDequeued() {
	if op.state.Load() != opMarked {
		panic("iocp: a marker for an operation that was not marked")
	}
	putOp(op)
}

// await waits for op's packet; the result is in the OVERLAPPED when it
// returns.
func (op *Op) await() {
	if op.state.CompareAndSwap(opPending, opParked) {
		<-op.wake
	}
}

// status is the operation's NTSTATUS, STATUS_PENDING until it completes.
// The kernel writes it before it sets the event or queues the packet.
func (op *Op) status() windows.NTStatus {
	return windows.NTStatus(atomic.LoadUintptr(&op.o.Internal))
}

// iosb returns the IO_STATUS_BLOCK to pass to an NT call, which shares the
// OVERLAPPED's memory.
func (op *Op) iosb() *windows.IO_STATUS_BLOCK {
	return (*windows.IO_STATUS_BLOCK)(unsafe.Pointer(&op.o))
}

// apcContext is the ApcContext for NT calls: it becomes the completion
// packet's OVERLAPPED pointer, which is the Op's.
func (op *Op) apcContext() uintptr { return uintptr(unsafe.Pointer(&op.o)) }
