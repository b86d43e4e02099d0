package handles

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

//sys	createWaitableTimerEx(attrs *windows.SecurityAttributes, name *uint16, flags uint32, access uint32) (h windows.Handle, err error) [failretval==0] = kernel32.CreateWaitableTimerExW
//sys	getProcessHandleCount(process windows.Handle, count *uint32) (err error) = kernel32.GetProcessHandleCount
//sys	getThreadId(thread windows.Handle) (id uint32, err error) [failretval==0] = kernel32.GetThreadId
//sys	ntQueryObject(h windows.Handle, class uint32, info unsafe.Pointer, size uint32, ret *uint32) (ntstatus error) = ntdll.NtQueryObject
//sys	ntCreateWaitCompletionPacket(h *windows.Handle, access uint32, attrs *windows.OBJECT_ATTRIBUTES) (ntstatus error) = ntdll.NtCreateWaitCompletionPacket

// objectTypeInformation is OBJECT_INFORMATION_CLASS's ObjectTypeInformation
// (winternl.h, ntifs.h): NtQueryObject then writes a
// PUBLIC_OBJECT_TYPE_INFORMATION, whose first member is the type's name as
// a UNICODE_STRING pointing into the same buffer.
const objectTypeInformation = 2

// Handle is one of the process's handles.
type Handle struct {
	Value  windows.Handle
	Type   string // the object type's name ("Event", "File", "Thread", ...), or "?" if it could not be read
	Access uint32 // the access granted to the handle
	Thread uint32 // for a handle to a thread, the thread's ID (0 if it could not be read)
}

func (h Handle) String() string {
	return fmt.Sprintf("%#x %s (access %#x)", uintptr(h.Value), h.Type, h.Access)
}

// Set is the process's handles at one moment, by value.
type Set map[windows.Handle]Handle

// List returns the current process's handles. It asks the object
// manager about each handle value in turn (NtQueryObject, which fails with
// STATUS_INVALID_HANDLE for a value that is not a handle), from 4 up,
// until it has found as many as GetProcessHandleCount says there are, or,
// where that answers 0 (Wine 8's always does), until gapValues values in a
// row are not handles: both Windows and Wine give out the lowest free
// entry of a process's table first, so a gap that long is past its end.
//
// It does not read the system's handle table
// (NtQuerySystemInformation(SystemExtendedHandleInformation)), which this
// package did: under Wine 8 that request crashes the Wine server whenever
// some process of the prefix has an empty handle table, as a program just
// started from Unix has (server/handle.c, enum_handles: an unsigned index
// compared with last == -1; testbed/winebugs reproduces it). go test runs
// test binaries side by side, so one binary's leak checks killed the
// server as the next binary started.
func List() (Set, error) {
	var total uint32
	if err := getProcessHandleCount(windows.CurrentProcess(), &total); err != nil {
		return nil, os.NewSyscallError("GetProcessHandleCount", err)
	}
	s := make(Set)
	for v, gap := uintptr(4), 0; gap < gapValues; v += 4 {
		if total > 0 && len(s) >= int(total) {
			break
		}
		h := windows.Handle(v)
		var info objectBasicInformation
		if ntQueryObject(h, objectBasicInformationClass, unsafe.Pointer(&info), uint32(unsafe.Sizeof(info)), nil) != nil {
			gap++
			continue
		}
		gap = 0
		x := Handle{Value: h, Type: typeName(h), Access: info.GrantedAccess}
		if x.Type == "Thread" {
			x.Thread, _ = getThreadId(h)
		}
		s[h] = x
	}
	return s, nil
}

// gapValues is how many handle values in a row List tries past the last
// handle it found before it decides there are no more.
const gapValues = 1024

// objectBasicInformationClass is OBJECT_INFORMATION_CLASS's
// ObjectBasicInformation (winternl.h), whose answer is a
// PUBLIC_OBJECT_BASIC_INFORMATION.
const objectBasicInformationClass = 0

// objectBasicInformation is PUBLIC_OBJECT_BASIC_INFORMATION (winternl.h).
type objectBasicInformation struct {
	Attributes    uint32
	GrantedAccess uint32
	HandleCount   uint32
	PointerCount  uint32
	Reserved      [10]uint32
}

// typeName asks the object manager for the type of h's object. Asking for
// the type never waits (unlike asking for a file's name, which can block on
// a synchronous pipe handle with a read pending).
func typeName(h windows.Handle) string {
	var buf [512]uint64 // aligned for the UNICODE_STRING at its start
	var n uint32
	if ntQueryObject(h, objectTypeInformation, unsafe.Pointer(&buf[0]), uint32(unsafe.Sizeof(buf)), &n) != nil {
		return "?"
	}
	name := (*windows.NTUnicodeString)(unsafe.Pointer(&buf[0]))
	return name.String()
}

// goThreadAccess is the access of the handle Go's runtime keeps to each of
// its threads (m.thread): a DuplicateHandle of GetCurrentThread() with
// DUPLICATE_SAME_ACCESS, which is THREAD_ALL_ACCESS (runtime/os_windows.go,
// minit). Nothing in conduit opens a thread with that access, so such a
// handle stands for one of the runtime's threads.
const goThreadAccess = 0x1fffff

// goTimerAccess is the access of the high-resolution timers Go's runtime
// makes for each of its threads (runtime/os_windows.go, createHighResTimer:
// SYNCHRONIZE|TIMER_QUERY_STATE|TIMER_MODIFY_STATE). conduit makes none with
// this access (the engine's timers have TIMER_ALL_ACCESS).
const goTimerAccess = 0x100003

// perThread is what Go's runtime (go1.26, runtime/os_windows.go) makes for
// each of its threads besides the duplicate of the thread's handle (minit):
// a high-resolution timer where CreateWaitableTimerExW takes
// CREATE_WAITABLE_TIMER_HIGH_RESOLUTION (Windows 10 1803 and later, Wine 8);
// and where it does and ntdll also exports NtCreateWaitCompletionPacket
// (haveHighResSleep: Windows 10 and later, not Wine 8) a second timer and a
// wait completion packet. Its two events come later (see Counts.Events).
// mdestroy closes them all when a thread exits.
var perThread = func() (p struct {
	timers, packets int
	packetType      string // the packets' object type name, as the object manager gives it
	packetAccess    uint32 // and their granted access
}) {
	t, err := createWaitableTimerEx(nil, nil, 0x2 /* CREATE_WAITABLE_TIMER_HIGH_RESOLUTION */, 0x1f0003 /* TIMER_ALL_ACCESS */)
	if err != nil {
		return p
	}
	windows.CloseHandle(t)
	p.timers = 1
	if procNtCreateWaitCompletionPacket.Find() != nil {
		return p
	}
	// Make one as the runtime does, and ask what it is (type and access),
	// rather than assume ("WaitCompletionPacket" by Windows' list of object
	// types).
	var h windows.Handle
	if ntCreateWaitCompletionPacket(&h, 0x10000000 /* GENERIC_ALL, as the runtime asks */, nil) != nil {
		return p
	}
	defer windows.CloseHandle(h)
	var info objectBasicInformation
	if ntQueryObject(h, objectBasicInformationClass, unsafe.Pointer(&info), uint32(unsafe.Sizeof(info)), nil) != nil {
		return p
	}
	if name := typeName(h); name != "?" {
		p.timers, p.packets = 2, 1
		p.packetType, p.packetAccess = name, info.GrantedAccess
	}
	return p
}()

// Owned returns the number of handles the process holds beyond Go's
// runtime's own for its threads, counted as Measure counts them: the
// handles that are not events, the engine's events and the events beyond
// two per Go thread. It is what a per-call leak check compares, for Go's
// runtime starts threads (with their handles) and gives them their events
// when it likes, between any two calls.
func Owned() (int, error) {
	u, err := Measure()
	return u.Handles + u.EngineEvents + u.StrayEvents, err
}

// Counts are a Set's handles, sorted by who holds them.
type Counts struct {
	// Other counts every handle that is neither an event nor one that
	// Go's runtime keeps for a thread of its own.
	Other int
	// Events counts the event handles: those of the program, and the two
	// that Go's runtime makes for each of its threads when the thread
	// first waits (runtime.semacreate: an idle thread's first park, or
	// one back from a long system call that finds no free P, which is why
	// a loaded machine makes them late). The handles do not say which
	// are whose.
	Events int
	// GoThreads counts the runtime's threads.
	GoThreads int
	// Settled is false where some of the runtime's threads lack their
	// timers or packet: a thread being started (its handle is made before
	// them). Other is right even then, but a thread's events are allowed
	// for in Measure by its handle: Measure takes another count.
	Settled bool
}

// Count sorts s's handles. A count taken before a test and one after
// differ in Other only by what the test left open: the handles Go's
// runtime keeps for its threads, which come and go as it starts threads
// and as goroutines that exit locked to theirs end them, are not in it.
//
// The runtime's threads are the distinct threads that handles with Go's
// access (goThreadAccess) refer to. Every handle with that access is left
// out, not one per thread: the runtime also duplicates a thread's handle
// for a moment, with the same access, to preempt it or sample it for the
// profiler (preemptM, profileLoop), and a count that caught one must not be
// off. The threads' timers and wait completion packets are left out each
// as itself, by type and access, up to perThread's for each thread; any
// beyond count in Other. Not by subtracting a thread's count of them for each
// thread: a thread's handle exists before its timers do (the creator's
// CreateThread handle, then minit's duplicate, then the timers), and List,
// which reads one handle at a time, can see a thread being started without
// them; counted that way a baseline taken then was one handle short, and
// the test failed on the thread's timer once it was made (mailslot's
// TestSlotCloseDuringRead under -race, 1 of 10 loaded runs: "13 handles
// ... 6 OS threads" at the start, 14 and 7 after, every run's usual state).
func (s Set) Count() Counts {
	var c Counts
	threads := make(map[uint32]bool)
	timers, packets := 0, 0
	for _, h := range s {
		switch {
		case h.Type == "Thread" && h.Access == goThreadAccess:
			threads[h.Thread] = true
		case h.Type == "Event":
			c.Events++
		case perThread.timers > 0 && h.Type == "Timer" && h.Access == goTimerAccess:
			timers++
		case perThread.packets > 0 && h.Type == perThread.packetType && h.Access == perThread.packetAccess:
			packets++
		default:
			c.Other++
		}
	}
	c.GoThreads = len(threads)
	wantTimers, wantPackets := perThread.timers*c.GoThreads, perThread.packets*c.GoThreads
	c.Other += max(timers-wantTimers, 0) + max(packets-wantPackets, 0)
	c.Settled = timers >= wantTimers && packets >= wantPackets
	return c
}

// New returns the handles of after that before does not have (by value and
// type: a value reused for another type counts as new), in value order.
func New(before, after Set) []Handle {
	var out []Handle
	for v, h := range after {
		if b, ok := before[v]; !ok || b.Type != h.Type {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b Handle) int { return int(int64(a.Value) - int64(b.Value)) })
	return out
}

// Describe lists hs in one line: "0x1a4 Event (access 0x1f0003), ...".
func Describe(hs []Handle) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, h.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}

// Usage is what a leak check compares before and after a test: see
// Measure.
type Usage struct {
	Handles      int // handles that are neither events nor Go's runtime's per-thread ones (Counts.Other)
	EngineEvents int // the events conduit's engine holds (iocp.Events)
	OtherEvents  int // every other event, Go's runtime's two per thread among them
	EventThreads int // the threads allowed Go's two events each
	StrayEvents  int // OtherEvents beyond two per EventThreads
	Threads      int // the process's OS threads
	Goroutines   int
}

func (u Usage) String() string {
	return fmt.Sprintf("%d handles (events and Go's per-thread ones aside), %d engine events, %d other events (%d beyond two for each of %d threads), %d OS threads, %d goroutines",
		u.Handles, u.EngineEvents, u.OtherEvents, u.StrayEvents, u.EventThreads, u.Threads, u.Goroutines)
}

// Measure takes the process's usage. Handles are counted exactly, less
// those Go's runtime keeps for its threads (Set.Count), which come and go
// with no leak. Events are counted apart: the engine's exactly, by the
// engine; Go's runtime makes two for each of its threads when the thread
// first waits, which on a loaded machine can be long after a test's
// baseline, so the rest are only bounded (see Within). conduit makes no
// events outside the engine.
func Measure() (Usage, error) {
	var c Counts
	var threads int
	// A count that caught a thread being started, again (it takes a few
	// system calls of that thread), but not for ever.
	for range 10 {
		hs, err := List()
		if err != nil {
			return Usage{}, err
		}
		if threads, err = nt.ThreadCount(); err != nil {
			return Usage{}, err
		}
		if c = hs.Count(); c.Settled {
			break
		}
	}
	engine := iocp.Events()
	// Two events for each of Go's threads; with the race detector, for
	// each thread of the process: its runtime (ThreadSanitizer's) starts
	// threads that are not Go's and makes events for them (seen once in
	// five loaded -race runs of mailslot's suite: one event more, with two
	// more threads, and never in a plain run).
	evThreads := c.GoThreads
	if raceEnabled {
		evThreads = max(evThreads, threads)
	}
	return Usage{
		Handles:      c.Other,
		EngineEvents: engine,
		OtherEvents:  c.Events - engine,
		EventThreads: evThreads,
		StrayEvents:  max(c.Events-engine-2*evThreads, 0),
		Threads:      threads,
		Goroutines:   runtime.NumGoroutine(),
	}, nil
}

// Within reports whether u is back to base, give or take slack: each
// count at most base's plus slack's, but for the events outside the
// engine. Of those, u's beyond Go's two per thread (StrayEvents) may be at
// most all of base's (OtherEvents), plus slack's StrayEvents: the
// tightest bound that holds whenever nothing leaked, for base cannot say
// how many of its threads had made their two yet. A thread makes them when
// it first waits, so one that had not at base makes them later with no
// leak; compared with base's StrayEvents, a baseline taken then was short
// by two for each such thread (or by a thread being started, whose handle
// List saw before the thread ran), and under -race, where the process has
// an event beyond its threads' two from the start, the test failed on them
// (mailslot's TestSlotCloseDuringRead, 1 of 10 loaded runs: "0 stray
// events" at the start, 1 after). It holds whenever nothing leaked and the
// events that are not a thread's (none of conduit's: it makes events in the
// engine only, counted exactly) did not grow. The price: an event leaked
// outside the engine is caught only once there are more than base's
// threads' two each (a dozen, more under -race); a leak in each round of a
// test of many rounds is caught, a single one is not.
func (u Usage) Within(base, slack Usage) bool {
	return u.Handles <= base.Handles+slack.Handles &&
		u.EngineEvents <= base.EngineEvents+slack.EngineEvents &&
		u.StrayEvents <= base.OtherEvents+slack.StrayEvents &&
		u.Threads <= base.Threads+slack.Threads &&
		u.Goroutines <= base.Goroutines+slack.Goroutines
}
