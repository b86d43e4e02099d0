package ipc

import (
	"github.com/conduit-ipc/conduit/internal/handles"
	"github.com/conduit-ipc/conduit/internal/nt"
)

// On Windows the suite counts the process's handles (internal/handles,
// which reads the system's handle table) and threads (a Toolhelp
// snapshot).
func init() {
	countOS = windowsCounts
	underWine = nt.Wine
	listOS = func() (any, error) { return handles.List() }
	newOS = func(before, after any) string {
		return handles.Describe(handles.New(before.(handles.Set), after.(handles.Set)))
	}
}

// threadSlack is how many threads a test may leave beyond its baseline: Go
// keeps the threads it started for blocking calls idle rather than ending
// them, so the count is bounded, not restored; a thread held per
// connection or per pending operation would be hundreds.
const threadSlack = 8

// windowsCounts counts handles exactly, less those Go's runtime keeps for
// its threads (handles.Set.Count): the runtime starts threads when a test
// blocks in system calls, and a goroutine that exits locked to its thread
// ends it, so those come and go with no leak. Events are counted apart:
// conduit's engine counts its own (iocp.Events), exactly; Go's runtime
// makes two for each of its threads when the thread first waits, which on
// a loaded machine can be long after the baseline, so those are only
// bounded: after a test, the events beyond two per thread then at most all
// those at the baseline (handles.Usage.Within says why).
//
// This replaces handlesPerThread times the growth in the thread count,
// which failed under load (issue 14: one extra handle in the killed-peer
// test, then more once counted by type): a system pool thread that ended
// as a Go thread started left the thread count still while the new
// thread's handles came; a thread that parked for the first time made its
// two events late; the engine's stuck-write waiter made its control event
// on the first write that outlasted the fast path, which only a loaded
// machine has (iocp now makes it at start); and Windows 10 keeps six
// handles per thread, not Wine's four.
func windowsCounts() ([]osCount, error) {
	u, err := handles.Measure()
	if err != nil {
		return nil, err
	}
	return []osCount{
		{name: handlesName, n: u.Handles},
		{name: "conduit's events", n: u.EngineEvents},
		// now <= before + 2*threads now: StrayEvents <= before's OtherEvents.
		{name: "events besides conduit's (two per thread allowed)", n: u.OtherEvents, slack: 2 * u.EventThreads},
		{name: "threads", n: u.Threads, slack: threadSlack},
	}, nil
}
