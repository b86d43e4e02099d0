package iocp

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/quirks"
	"golang.org/x/sys/windows"
)

// The fast path. Handing a completion from the thread that dequeues it to
// the waiting goroutine's costs a wake-up of another thread, and under Wine
// every wake-up is several round trips to wineserver. So a pending read or
// write first waits on its own thread, for at most fastWait, on an event that
// its completion sets instead of queueing a packet (the event handle's low
// bit is set, which the completion-port documentation defines as "do not
// queue a packet"): one that completes within that time (a reply, a reader
// catching up) returns the way a synchronous call would, and the port's
// thread never hears of it. Only fastSlots threads wait so at any time; other
// operations go straight to the port.
//
// The wait ends at the slot's waitable timer, created high-resolution
// (CREATE_WAITABLE_TIMER_HIGH_RESOLUTION, Windows 10 1803 and later), so on
// Windows it lasts fastWait and not the 15.6 ms clock tick that a
// millisecond time-out rounds up to; where Windows lacks high-resolution
// timers the slot falls back to a plain one, and the wait lasts up to one
// tick. Under Wine, whose time-outs end on time and whose timers are dear,
// a plain time-out ends it (quirks.PreciseTimeouts).
//
// An operation that outlasts fastWait gives its thread back:
//   - A read is cancelled and issued again through the port. That is safe for
//     reads, which move no data until they complete: a read that completes
//     while being cancelled keeps its bytes and its result, and only one that
//     ends STATUS_CANCELLED is issued again.
//   - A write cannot be cancelled safely (part of its data may have gone), so
//     its event goes to the stuck-write waiter, one thread that waits on up
//     to 63 such events at once (see stuck); the slot gets a new event. At
//     most maxStuck writes wait there; beyond that, writes skip the fast
//     path.
//
// So no thread is held per operation or per idle connection: at most
// fastSlots threads for at most fastWait each, and one thread while any
// write is held up by a slow reader.
const (
	fastWait  = 2 * time.Millisecond
	fastSlots = 4
	maxStuck  = 63
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
	stuck    atomic.Int32 // writes held up past the fast path (see waitPool)
	disabled atomic.Bool  // for tests: no operation takes a slot

	// plainTimeout: time-outs end on time here, so waits need no timer
	// (quirks.PreciseTimeouts: Wine). Tests clear it to run the timer's
	// path.
	plainTimeout atomic.Bool
}

// initFast creates the slots. Without them the fast path is off, which costs
// speed only.
func initFast() {
	fast.free = make(chan *slot, fastSlots)
	fast.plainTimeout.Store(quirks.PreciseTimeouts())
	// The stuck-write waiter's control event, made here with the slots
	// rather than when the first write outlasts the fast path, so that
	// everything the engine keeps for good exists once it has started:
	// a leak check's baseline then counts it (made late, it was the one
	// handle that ipc's killed-peer test found over its baseline under
	// load, where writes outlast the fast path).
	ctl, err := newEvent()
	if err != nil {
		return
	}
	stuck.ctl = ctl
	for range fastSlots {
		ev, err := newEvent()
		if err != nil {
			return
		}
		const manual = nt.CREATE_WAITABLE_TIMER_MANUAL_RESET
		timer, err := nt.CreateWaitableTimerEx(nil, nil, manual|nt.CREATE_WAITABLE_TIMER_HIGH_RESOLUTION, nt.TIMER_ALL_ACCESS)
		if err != nil {
			// Windows before 10 1803 refuses the flag: a plain timer
			// ends the wait on the clock tick after fastWait.
			timer, err = nt.CreateWaitableTimerEx(nil, nil, manual, nt.TIMER_ALL_ACCESS)
		}
		if err != nil {
			closeEvent(ev)
			return
		}
		fast.free <- &slot{waits: [2]windows.Handle{ev, timer}}
	}
}

// events counts the event handles the engine holds: see Events.
var events atomic.Int32

// Events returns the number of event handles the engine holds. They are
// its only events, and Go's runtime makes events of its own for each
// thread, when the thread first waits (runtime.semacreate), so a leak
// check that cannot tell the two apart by their handles asks this.
func Events() int { return int(events.Load()) }

func newEvent() (windows.Handle, error) {
	ev, err := windows.CreateEvent(nil, 0, 0, nil)
	if err == nil {
		events.Add(1)
	}
	return ev, err
}

func closeEvent(ev windows.Handle) {
	if windows.CloseHandle(ev) == nil {
		events.Add(-1)
	}
}

// takeSlot returns a free slot for an operation of mode, or nil.
func takeSlot(mode Mode) *slot {
	if mode == Control || fast.disabled.Load() || mode == Write && fast.stuck.Load() >= maxStuck {
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
		r, err := windows.WaitForMultipleObjects(s.waits[:n], false, ms)
		if op.status() != windows.STATUS_PENDING {
			return true
		}
		if err != nil || r != windows.WAIT_OBJECT_0 {
			return false // the timer, or a wait that failed
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

// waitPool waits for a write that outlasted the fast path: it hands the
// slot's event to the write, gives the slot a new one, and parks the
// goroutine until the stuck-write waiter sees the event set and the write
// done.
func waitPool(op *Op, s *slot) {
	// Counted before the slot goes back, so that no write takes it and
	// passes takeSlot's check in between.
	fast.stuck.Add(1)
	defer fast.stuck.Add(-1)
	ev := s.waits[0]
	if nev, err := newEvent(); err == nil {
		s.waits[0] = nev
		s.put()
	} else {
		// The fast path goes on with one slot fewer.
		windows.CloseHandle(s.waits[1])
	}
	defer closeEvent(ev)
	if !stuck.add(ev, op) {
		// The waiter is full (takeSlot's check and this are not one
		// step, so a few writes may pass it at once) or cannot start:
		// wait here rather than fail the write. The event may carry a
		// stale signal from an earlier user of the slot, so the status
		// decides when the write is done.
		for op.status() == windows.STATUS_PENDING {
			windows.WaitForSingleObject(ev, windows.INFINITE)
		}
		return
	}
	<-op.wake
}

// stuck is the stuck-write waiter: one goroutine, holding one OS thread
// while it waits, that waits on the events of every write held up past the
// fast path (WaitForMultipleObjects takes 64 handles: its own control event
// and maxStuck writes' events) and wakes each write's goroutine when it is
// done. It runs while there are such writes and exits when there are none.
//
// It is a thread of Go's own, not a wait of the system thread pool with a
// callback: Go runs no callback on a thread it did not start until package
// initialisation has ended (runtime.cgocallbackg1 waits for
// main_init_done), so a write held up during an init function would wait
// for ever. Goroutines do run during initialisation.
var stuck stuckWaiter

type stuckWaiter struct {
	mu      sync.Mutex
	ctl     windows.Handle   // auto-reset: the list changed; made by initFast
	evs     []windows.Handle // the writes' events, in step with ops
	ops     []*Op
	running bool
}

// add hands ev, which op's completion sets, to the waiter, starting it if
// it is not running, and reports whether it took it: not when it is full.
func (w *stuckWaiter) add(ev windows.Handle, op *Op) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.ops) >= maxStuck || w.ctl == 0 {
		return false
	}
	w.evs = append(w.evs, ev)
	w.ops = append(w.ops, op)
	if !w.running {
		w.running = true
		go w.run()
	} else {
		windows.SetEvent(w.ctl)
	}
	return true
}

func (w *stuckWaiter) run() {
	handles := make([]windows.Handle, 0, 1+maxStuck)
	for {
		w.mu.Lock()
		if len(w.ops) == 0 {
			w.running = false
			w.mu.Unlock()
			return
		}
		handles = append(append(handles[:0], w.ctl), w.evs...)
		w.mu.Unlock()
		// Whichever handle is set, every write is looked at: a set
		// event may be a stale signal from an earlier user of the slot
		// it came from, and several writes may have completed at once.
		// The status says which are done; those are woken and dropped.
		if _, err := windows.WaitForMultipleObjects(handles, false, windows.INFINITE); err != nil {
			// Only a bad handle fails the wait, and every handle here
			// stays open until its write has been woken; should it
			// happen, look at the writes without spinning hard.
			time.Sleep(time.Millisecond)
		}
		w.mu.Lock()
		for i := 0; i < len(w.ops); {
			op := w.ops[i]
			if op.status() == windows.STATUS_PENDING {
				i++
				continue
			}
			last := len(w.ops) - 1
			w.ops[i], w.evs[i] = w.ops[last], w.evs[last]
			w.ops[last] = nil
			w.ops, w.evs = w.ops[:last], w.evs[:last]
			op.wake <- struct{}{}
		}
		w.mu.Unlock()
	}
}
