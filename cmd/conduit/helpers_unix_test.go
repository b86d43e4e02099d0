//go:build !windows

package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/ipc"
)

func onWine() bool { return false }

func socketPath(t *testing.T, n string) string {
	t.Helper()
	p, err := ipc.Path(n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func checkInfo(t *testing.T, info map[string]any) {
	t.Helper()
	if info["listening"] != true || info["mode"] != "0600" || info["owner"] != strconv.Itoa(os.Geteuid()) {
		t.Errorf("info %v: want a listening socket of mode 0600 owned by uid %d", info, os.Geteuid())
	}
	if pid, _ := info["server_pid"].(float64); runtime_linux() && pid <= 0 {
		t.Errorf("info %v: no server pid", info)
	}
}

func runtime_linux() bool { _, err := os.Stat("/proc/self/exe"); return err == nil }

// refusedAccess: a runtime directory open to others is refused, as one
// line and exit status 1.
func refusedAccess(t *testing.T) {
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "conduit-"+strconv.Itoa(os.Geteuid()))
	os.Mkdir(dir, 0o755)
	os.Chmod(dir, 0o755)
	cmd := conduit("dial", name())
	cmd.Env = append(cmd.Env, "TMPDIR="+tmp, "XDG_RUNTIME_DIR=")
	_, stderr, code := runResult(t, cmd, nil)
	if code != 1 || strings.Count(stderr, "\n") != 1 || !strings.Contains(stderr, "not private") {
		t.Errorf("dial with an open runtime directory: exit %d, %q; want 1 and one line", code, stderr)
	}
}

var sigterm = syscall.SIGTERM

// serverUp reports whether something listens on the NAME argument n: its
// socket is there (ipc binds and listens before it renames the socket into
// place, and a one-shot server is not disturbed by a look at a file).
func serverUp(t *testing.T, n string) bool {
	t.Helper()
	// names.go's rule, without its warnings (this process has no stderr
	// of conduit's).
	p, isPath := strings.CutPrefix(n, "unix:")
	if isPath {
		p = strings.TrimPrefix(p, "//")
	} else if short, ok, err := pipeName(n); ok && err == nil {
		p = socketPath(t, strings.TrimSuffix(short, ".sock"))
	} else if strings.Contains(n, "/") {
		p = n
	} else {
		p = socketPath(t, strings.TrimSuffix(n, ".sock"))
	}
	fi, err := os.Stat(p)
	return err == nil && fi.Mode()&os.ModeSocket != 0
}

// nameInUse reports whether a server listens on n: its socket is there and
// takes a connection (a server killed outright leaves a socket that
// refuses one, which the next listen clears).
func nameInUse(t *testing.T, n string) bool {
	if !serverUp(t, n) {
		return false
	}
	p, ok := strings.CutPrefix(n, "unix:")
	if !ok {
		if strings.Contains(n, "/") {
			p = n
		} else {
			p = socketPath(t, strings.TrimSuffix(n, ".sock"))
		}
	}
	c, err := net.Dial("unix", strings.TrimPrefix(p, "//"))
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// exampleDir is a directory for an example's files.
func exampleDir(t *testing.T) string { return t.TempDir() }

// terminate stops a server the way a user does (SIGTERM) and reports
// whether its exit status can be asserted: here it can.
func terminate(p *os.Process) bool {
	waitIdle(p.Pid)
	p.Signal(syscall.SIGTERM)
	return true
}

// waitIdle waits, for 20 s at most, until the server with process ID pid
// holds one socket, its listener: its last connection has ended. A server
// whose client has read everything and left may still be closing that
// connection (waiting for its --exec child, say); a SIGTERM then cuts a
// connection short, and exit 1 says so (seen in make test, 2 of 3 loaded
// runs of the examples test). Where /proc does not tell, it returns at once.
func waitIdle(pid int) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	for end := time.Now().Add(20 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		fds, err := os.ReadDir(dir)
		if err != nil {
			return
		}
		sockets := 0
		for _, fd := range fds {
			if l, _ := os.Readlink(filepath.Join(dir, fd.Name())); strings.HasPrefix(l, "socket:") {
				sockets++
			}
		}
		if sockets <= 1 {
			return
		}
	}
}
