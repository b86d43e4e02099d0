package handles

import (
	"testing"

	"golang.org/x/sys/windows"
)

// TestListSeesHandlesComeAndGo opens ten mutexes and closes them: List
// names each, by value and type, and forgets each once closed. Mutexes,
// not events: Go's runtime makes events on its threads at any time, and one
// may take a closed event's value (seen in a stress run).
func TestListSeesHandlesComeAndGo(t *testing.T) {
	before, err := List()
	if err != nil {
		t.Fatal(err)
	}
	var evs []windows.Handle
	for range 10 {
		ev, err := windows.CreateMutex(nil, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	during, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if h, ok := during[ev]; !ok || h.Type != "Mutant" {
			t.Errorf("mutex %#x: listed as %+v (present: %v), want a Mutant", uintptr(ev), h, ok)
		}
	}
	if n := len(New(before, during)); n < len(evs) {
		t.Errorf("New found %d new handles, want at least the %d mutexes", n, len(evs))
	}
	for _, ev := range evs {
		windows.CloseHandle(ev)
	}
	after, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if h, ok := after[ev]; ok && h.Type == "Mutant" {
			t.Errorf("mutex %#x: still listed after CloseHandle", uintptr(ev))
		}
	}
}

// TestListFindsEveryHandle compares List with GetProcessHandleCount where
// the system answers it (Windows; Wine 8 answers 0).
func TestListFindsEveryHandle(t *testing.T) {
	var n uint32
	if err := getProcessHandleCount(windows.CurrentProcess(), &n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Skip("wine: GetProcessHandleCount answers 0")
	}
	// Handles come and go on the runtime's threads meanwhile: compare
	// within a few.
	s, err := List()
	if err != nil {
		t.Fatal(err)
	}
	if d := len(s) - int(n); d < -4 || d > 4 {
		t.Errorf("List found %d handles, GetProcessHandleCount says %d", len(s), n)
	}
}

// TestCountThreadBeingStarted counts a set of two of Go's threads with
// their handles, a handle of the program's and an event: Other is 1. Then
// with a third thread whose handle is there but not yet its timers (how
// List can see one being started: the creator's CreateThread handle, then
// minit's duplicate, then the timers): Other is still 1, not one short,
// and the count is not Settled. Then with its timers and one more than the
// threads have (an ending thread's, whose handle the runtime closes first):
// Other is 2, and Settled.
func TestCountThreadBeingStarted(t *testing.T) {
	if perThread.timers == 0 {
		t.Skip("no per-thread timers here")
	}
	s := Set{}
	v := windows.Handle(4)
	add := func(typ string, access, thread uint32) {
		s[v] = Handle{Value: v, Type: typ, Access: access, Thread: thread}
		v += 4
	}
	own := func(n int) { // a thread's timers and packet, or n timers
		for range n {
			add("Timer", goTimerAccess, 0)
		}
		if n == perThread.timers && perThread.packets > 0 {
			add(perThread.packetType, perThread.packetAccess, 0)
		}
	}
	for id := range uint32(2) {
		add("Thread", goThreadAccess, 100+id)
		own(perThread.timers)
	}
	add("Key", 0xf003f, 0)
	add("Timer", 0x1f0003, 0) // not the runtime's: another access
	add("Event", 0x1f0003, 0)
	check := func(what string, other, threads int, settled bool) {
		t.Helper()
		if c := s.Count(); c.Other != other || c.GoThreads != threads || c.Events != 1 || c.Settled != settled {
			t.Errorf("%s: %+v, want Other %d, %d Go threads, 1 event, Settled %v", what, c, other, threads, settled)
		}
	}
	check("two threads", 2, 2, true)
	add("Thread", goThreadAccess, 102)
	check("a third being started", 2, 3, false)
	// Its duplicate for a moment (preemptM): still one thread.
	add("Thread", goThreadAccess, 102)
	check("with a duplicate of its handle", 2, 3, false)
	own(perThread.timers)
	check("the third started", 2, 3, true)
	own(1)
	check("a timer more than three threads have", 3, 3, true)
}

// TestWithinLateThreadEvents compares a baseline taken before some of Go's
// threads had made their two events with a count after they have: Within
// holds, up to every thread of base making its two, and not one event
// more. Then it leaks events, real ones, past what base's threads could
// make: Measure counts them beyond base's, and Within no longer holds.
func TestWithinLateThreadEvents(t *testing.T) {
	// Seven threads, one event not a thread's, one thread without its
	// events yet, as in mailslot's failing -race run.
	base := Usage{Handles: 14, OtherEvents: 13, EventThreads: 7, Threads: 7}
	at := func(events int) Usage {
		return Usage{Handles: 14, OtherEvents: events, EventThreads: 7, StrayEvents: max(events-14, 0), Threads: 7}
	}
	for _, c := range []struct {
		events int
		within bool
	}{
		{15, true},  // the thread made its two: one beyond 14, as at base
		{27, true},  // the most base's 13 could have been short by
		{28, false}, // one more than any count of threads could make
	} {
		if got := at(c.events).Within(base, Usage{}); got != c.within {
			t.Errorf("%d events after, %v before: Within = %v, want %v", c.events, base, got, c.within)
		}
	}

	real, err := Measure()
	if err != nil {
		t.Fatal(err)
	}
	var evs []windows.Handle
	defer func() {
		for _, ev := range evs {
			windows.CloseHandle(ev)
		}
	}()
	// More than base's threads could make, with room for ten new threads.
	for range real.OtherEvents + 2*real.EventThreads + 2*10 + 1 {
		ev, err := windows.CreateEvent(nil, 0, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	now, err := Measure()
	if err != nil {
		t.Fatal(err)
	}
	if now.EventThreads-real.EventThreads > 10 {
		t.Fatalf("the runtime started %d threads meanwhile", now.EventThreads-real.EventThreads)
	}
	if now.StrayEvents <= real.OtherEvents {
		t.Errorf("%d events leaked: %d beyond two per thread, not more than the %d there were", len(evs), now.StrayEvents, real.OtherEvents)
	}
	now.Handles, now.Goroutines, now.Threads = real.Handles, real.Goroutines, real.Threads
	if now.Within(real, Usage{}) {
		t.Errorf("%d events leaked: %v counted within %v", len(evs), now, real)
	}
}
