package ipc

import (
	"github.com/conduit-ipc/conduit/internal/handles"
	"github.com/conduit-ipc/conduit/internal/nt"
)

// On Windows the suite counts the process's handles (nt.HandleCount) and
// threads (a Toolhelp snapshot).
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

// handlesPerThread is how many handles Go's runtime keeps for each OS thread
// it starts: two events, a duplicate of the thread's handle and a
// high-resolution timer (runtime/os_windows.go, mpreinit and minit).
const handlesPerThread = 4

func windowsCounts() ([]osCount, error) {
	handles, err := nt.HandleCount()
	if err != nil {
		return nil, err
	}
	threads, err := nt.ThreadCount()
	if err != nil {
		return nil, err
	}
	return []osCount{
		{name: "handles", n: handles, perThread: handlesPerThread},
		{name: "threads", n: threads, slack: threadSlack},
	}, nil
}
