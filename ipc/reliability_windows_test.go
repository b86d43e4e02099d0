package ipc

import (
	"errors"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// On Windows the suite counts the process's handles (GetProcessHandleCount)
// and threads (a Toolhelp snapshot).
func init() {
	countOS = windowsCounts
	underWine = nt.Wine
	wineGone = func(err error) bool {
		// Wine gap: a Dial waiting (FSCTL_PIPE_WAIT) for a busy pipe whose
		// last instance then closes ends with STATUS_HANDLES_CLOSED (676:
		// Wine's server frees the pipe's queue of waiters that way), and
		// namedpipe.Dial returns it as it is. Windows completes the wait
		// with STATUS_OBJECT_NAME_NOT_FOUND (NpDeleteFcb cancels the
		// waiters so, as ReactOS's NPFS models it), which Dial reports as
		// fs.ErrNotExist: that is what the tests assert, on Windows.
		return nt.Wine() && errors.Is(err, windows.ERROR_HANDLES_CLOSED)
	}
}

// threadSlack is how many threads a test may leave beyond its baseline: Go
// keeps the threads it started for blocking calls idle rather than ending
// them, so the count is bounded, not restored; a thread held per
// connection or per pending operation would be hundreds.
const threadSlack = 8

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
		{name: "handles", n: handles},
		{name: "threads", n: threads, slack: threadSlack},
	}, nil
}
