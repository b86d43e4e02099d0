package iocp

import (
	"sync/atomic"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/quirks"
	"golang.org/x/sys/windows"
)

// The fast path. Handing a completion from the thread that dequeues it to
// the waiting goroutine's costs a wake-up of another thread, and under Wine
// every wake-up is several round trips to wineserver. So a pending read or
// write first waits on its own thread, for at most fastWait: one that
// completes within that time (a reply, a reader catching up) returns the
// way a synchronous call would. Only fastSlots threads wait so at any time;
// other operations go straight to the port.
//
// A read waits on an event that its completion sets instead of queueing a
// packet (the event handle's low bit is set, which the completion-port
// documentation defines as "do not queue a packet"), so the port's thread
// never hears of it.
//
// A read that outlasts fastWait is cancelled and issued again through the
// port. That is safe for reads, which move no data until they complete: a
// read that completes while being cancelled keeps its bytes and its result,
// and only one that ends STATUS_CANCELLED is issued again. A request with
// no packet due stays tied to the thread that issued it, and the end of
// that thread cancels it (Go ends a thread when a goroutine returns while
// locked to it, and the read's goroutine may have moved to another thread
// between the call and the wait): that too is STATUS_CANCELLED with nothing
// read, issued again the same way.
//
// A write cannot be cancelled without losing what part of its data has
// gone, so it must complete where it was issued, and a request with an
// event, low bit or not, is tied to the issuing thread, whose end would
// cancel the write part-way (measured under Wine, whose
// cancel_terminating_thread_asyncs spares only requests with a port, an
// APC context and no event). So a write is issued as every port operation
// is, with no event, and its packet is always queued; on the fast path its
// goroutine waits, within the same bounds, on the file's own handle, which
// the I/O manager sets on every completion of a request on it (iocp does
// not set FILE_SKIP_SET_EVENT_ON_HANDLE). A write that completes meanwhile
// returns at once and leaves its Op to the drain, which frees it when the
// packet comes (opLeft); one that outlasts the wait parks on the packet.
// The handle is a notification event that any request's completion sets
// and any request's issue resets, so the wait is only a hint: a wake with
// the write still pending ends it (parking the write), and a missed wake
// ends it at the timer; the status decides. The cost over the old
// low-bit event is one packet per pending write that the drain dequeues,
// on a thread the write does not wait for.
//
// That wait gains only where the status of a request bound for the port
// is written when the request completes: under Wine, whose server
// completes it. On Windows (Vista and later) the I/O manager leaves a
// thread-agnostic request's last stage of completion, which writes the
// status block and sets the file's event, to the thread that dequeues its
// packet (Doron Holan, "New for Windows Vista: thread agnostic I/O"), here
// the drain: a writer waiting on the handle would wake only after the
// drain, having spent a timer arming, a wait and a slot for nothing. So
// writes take the fast path only where quirks.StatusBeforeDequeue says
// so; elsewhere they park on their packet at once.
//
// The wait ends at the slot's waitable timer, created high-resolution
// (CREATE_WAITABLE_TIMER_HIGH_RESOLUTION, Windows 10 1803 and later), so on
// Windows it lasts fastWait and not the 15.6 ms clock tick that a
// millisecond time-out rounds up to; where Windows lacks high-resolution
// timers the slot falls back to a plain one, and the wait lasts up to one
// tick. Under Wine, whose time-outs end on time and whose timers are dear,
// a plain time-out ends it (quirks.PreciseTimeouts).
//
// So no thread is held per operation or per idle connection: at most
// fastSlots threads for at most fastWait each.
const (
	fastWait  = 2 * time.Millisecond
	fastSlots = 4
)

// A slot is what one thread waiting on the fast path uses.
type slot struct {
	// waits holds the auto-reset event that the operation's completion
	// sets, then the waitable timer that ends the wait. The timer is
	// manual-reset because arming such a timer resets it to not signalled
	// on Windows (KeSetTimerEx) and Wine alike, whereas Wine leaves an
	// auto-reset timer that fired after an early wake signalled when it is
	// armed again (server/timer.c, set_timer), which would end the next
	// wait at once.
	waits [2]windows.Handle
}

var fast struct {
	free     chan *slot
	disabled atomic.Bool // for tests: no operation takes a slot

	// plainTimeout: time-outs end on time here, so waits need no timer
	// (quirks.PreciseTimeouts: Wine). Tests clear it to run the timer's
	// path.
	plainTimeout atomic.Bool
}

// events counts the event handles the engine holds: see Events.
var events atomic.Int32

// Events returns the number of event handles the engine holds (the fast
// path's, made at start). Go's runtime makes events of its own for each
// thread when the thread first waits (runtime.semacreate), so a leak check
// that cannot tell the two apart by their handles asks this.
func Events() int { return int(events.Load()) }

// initFast creates the slots. Without them the fast path is off, which costs
// speed only.
func initFast() {
	fast.free = make(chan *slot, fastSlots)
	fast.plainTimeout.Store(quirks.PreciseTimeouts())
	for range fastSlots {
		ev, err := windows.CreateEvent(nil, 0, 0, nil)
		if err != nil {
			return
		}
		events.Add(1)
		const manual = nt.CREATE_WAITABLE_TIMER_MANUAL_RESET
		timer, err := nt.CreateWaitableTimerEx(nil, nil, manual|nt.CREATE_WAITABLE_TIMER_HIGH_RESOLUTION, nt.TIMER_ALL_ACCESS)
		if err != nil {
			// Windows before 10 1803 refuses the flag: a plain timer
			// ends the wait on the clock tick after fastWait.
			timer, err = nt.CreateWaitableTimerEx(nil, nil, manual, nt.TIMER_ALL_ACCESS)
		}
		if err != nil {
			windows.CloseHandle(ev)
			events.Add(-1)
			return
		}
		fast.free <- &slot{waits: [2]windows.Handle{ev, timer}}
	}
}

// takeSlot returns a free slot for a read, or nil.
func takeSlot() *slot {
	if fast.disabled.Load() {
		return nil
	}
	select {
	case s := <-fast.free:
		return s
	default:
		return nil
	}
}

func (s *slot) put() { fast.free <- s }

// event is the slot's event as an OVERLAPPED's hEvent: low bit set, so that
// the completion sets it and queues no packet.
func (s *slot) event() windows.Handle { return s.waits[0] | 1 }

// wait waits on op's own thread for op to complete, for at most fastWait if
// timed, else until it does, and reports whether it did. The event may also
// have been set by the late completion of an operation that used the slot
// before, and the timer by a wait that ended early, so only the OVERLAPPED's
// status, written before the event is set, says whether op is done.
func (s *slot) wait(op *Op, timed bool) bool {
	return s.waitOn(s.waits[0], op, timed)
}

// waitOn is wait on ev instead of the slot's event: a write's on the file's
// handle, which every completion of a request on it sets (a notification
// event: it stays set until the next request on the handle resets it). So
// the handle may be set by another request's completion while the write is
// pending, and a wait on it would not block: such a wake ends the wait, and
// the write parks on its packet instead. A completion can also be missed
// (another request reset the handle first): then the wait ends at the
// timer. The status decides either way.
func (s *slot) waitOn(ev windows.Handle, op *Op, timed bool) bool {
	// A request that completed before the wait began may have had its
	// wake reset by another request issued on the handle meanwhile (each
	// issue resets the file's event): look first, rather than sleep to
	// the timer.
	if op.status() != windows.STATUS_PENDING {
		return true
	}
	waits := [2]windows.Handle{ev, s.waits[1]}
	n, ms := 1, uint32(windows.INFINITE)
	switch {
	case timed && fast.plainTimeout.Load():
		ms = uint32(fastWait / time.Millisecond)
	case timed:
		if s.arm(fastWait) != nil {
			return op.status() != windows.STATUS_PENDING
		}
		n = 2
	}
	for {
		r, err := windows.WaitForMultipleObjects(waits[:n], false, ms)
		if op.status() != windows.STATUS_PENDING {
			return true
		}
		if err != nil || r != windows.WAIT_OBJECT_0 || ev != s.waits[0] {
			return false // the timer, a wait that failed, or a handle set for another request
		}
	}
}

// arm sets the slot's timer to expire after d. Setting a timer also resets
// it to not signalled (KeSetTimerEx; so does Wine, for a manual-reset
// timer), so an earlier arming that expired after its wait had ended cannot
// end the next wait at once.
func (s *slot) arm(d time.Duration) error {
	due := -int64(d / 100) // relative, in 100 ns units
	return nt.SetWaitableTimer(s.waits[1], &due, 0, 0, 0, false)
}
