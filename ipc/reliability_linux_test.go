package ipc

import (
	"bytes"
	"os"
	"strconv"
)

// On Linux the suite counts open descriptors (/proc/self/fd) and threads
// (the Threads: line of /proc/self/status).
func init() { countOS = linuxCounts }

// threadSlack is how many threads a test may leave beyond its baseline: Go
// keeps the threads it started for blocking system calls (the runtime
// directory's checks, the socket file's rename) idle rather than ending
// them, so the count is bounded, not restored; a thread held per
// connection would be thousands.
const threadSlack = 8

func linuxCounts() ([]osCount, error) {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil, err
	}
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return nil, err
	}
	threads := -1
	for line := range bytes.Lines(status) {
		if v, ok := bytes.CutPrefix(line, []byte("Threads:")); ok {
			threads, err = strconv.Atoi(string(bytes.TrimSpace(v)))
			if err != nil {
				return nil, err
			}
		}
	}
	if threads < 0 {
		return nil, os.ErrNotExist
	}
	return []osCount{
		{name: "fds", n: len(fds)},
		{name: "threads", n: threads, slack: threadSlack},
	}, nil
}
