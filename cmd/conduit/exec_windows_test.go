package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// A server killed while a connection's --exec child runs takes the child
// with it (job_windows.go). The child here reads nothing, so nothing else
// would end it; the same job ends a child whose creation the kill cut short
// and left suspended for ever (a cmd.exe left running after cmd/conduit's
// tests under load: testbed's LEFT RUNNING named it).
func TestExecChildEndsWithKilledServer(t *testing.T) {
	t.Parallel() // its names are its own
	n := name()
	srv := start(t, conduit("listen", n, "--exec", selfCommand("__pidsleep")))
	waitFor(t, func() bool { return serverUp(t, n) })
	cli := start(t, conduit("dial", n))
	var line string
	var err error
	read := make(chan struct{})
	go func() { line, err = cli.stdout.ReadString('\n'); close(read) }()
	select {
	case <-read:
	case <-time.After(limit):
		t.Fatalf("no process ID from the child in %v (server: %q)", limit, srv.stderr())
	}
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		t.Fatalf("the child's process ID: %q, %v (server: %q)", line, err, srv.stderr())
	}
	child, err := windows.OpenProcess(windows.SYNCHRONIZE|windows.PROCESS_TERMINATE, false, uint32(pid))
	if err != nil {
		t.Fatalf("OpenProcess(%d): %v", pid, err)
	}
	defer windows.CloseHandle(child)
	srv.cmd.Process.Kill()
	// Before the server's end is waited for: a child left running holds
	// the server's stderr, and with it the end of the wait.
	ev, err := windows.WaitForSingleObject(child, uint32(limit.Milliseconds()))
	if ev != windows.WAIT_OBJECT_0 {
		windows.TerminateProcess(child, 1)
		t.Errorf("the --exec child (pid %d) of a killed server still ran %v later (%#x, %v)", pid, limit, ev, err)
	}
	srv.wait(limit)
}
