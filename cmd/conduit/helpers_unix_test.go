//go:build !windows

package main

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

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
