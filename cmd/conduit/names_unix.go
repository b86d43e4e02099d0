//go:build !windows

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/conduit-ipc/conduit/ipc"
)

// pipeTarget is a short name, or a path (anything with a slash): the
// socket ipc makes for it.
func pipeTarget(name string, fromPipeForm bool) (target, error) {
	if strings.Contains(name, "/") {
		return target{"unix", name}, nil
	}
	// ipc adds .sock: name.sock is the socket ls lists as name.
	if n := strings.TrimSuffix(name, ".sock"); n != "" && n != "." && n != ".." {
		name = n
	}
	warnXDG()
	return target{"pipe", name}, nil
}

// path is where the target's socket lives.
func (t target) path() (string, error) {
	if t.kind == "unix" {
		return t.name, nil
	}
	return ipc.Path(t.name)
}

var xdgOnce sync.Once

// warnXDG says, once, when XDG_RUNTIME_DIR is set but ipc passes it over
// for its own directory: the sockets are not where the user may look.
func warnXDG() {
	xdgOnce.Do(func() {
		d := os.Getenv("XDG_RUNTIME_DIR")
		if d == "" {
			return
		}
		why := xdgProblem(d)
		if why == "" {
			return
		}
		dir, err := ipc.RuntimeDir()
		if err != nil {
			return // the command's own error says what is wrong
		}
		fmt.Fprintf(std.err, "conduit: warning: XDG_RUNTIME_DIR=%s is passed over (%s): short names live in %s\n", d, why, dir)
	})
}

// xdgProblem says why ipc does not use d as the runtime directory, or "".
// It repeats ipc's rule (runtime_unix.go's checkPrivate).
func xdgProblem(d string) string {
	if !filepath.IsAbs(d) {
		return "not an absolute path"
	}
	fi, err := os.Lstat(d)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "it does not exist"
	case err != nil:
		return err.Error()
	case fi.Mode()&fs.ModeSymlink != 0:
		return "a symbolic link"
	case !fi.IsDir():
		return "not a directory"
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Sprintf("owned by uid %d", st.Uid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Sprintf("mode %04o: not private to this user", fi.Mode().Perm())
	}
	return ""
}
