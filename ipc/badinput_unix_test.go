//go:build linux || darwin || freebsd

package ipc

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// openHandles counts this process's open file descriptors.
func openHandles(t testing.TB) int {
	fds, err := os.ReadDir("/dev/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds) - 1 // less the one reading the directory
}

// Review 16's F7: a path that ends in /, . or .. is refused with
// fs.ErrInvalid by Listen and Dial alike. Before the fix Listen("dir/x/")
// made dir/x/x (and its lock) while Addr said dir/x/.
func TestListenTrailingSlash(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"x/", "x/.", "x/..", "x//"} {
		path := filepath.Join(dir, "x") + p[1:]
		l, err := Listen(path)
		if l != nil {
			t.Errorf("Listen(%q) listens at %s", path, l.Addr())
			l.Close()
		}
		wantOpError(t, "Listen of "+path, err, fs.ErrInvalid)
		if _, err := Dial(t.Context(), path); !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Dial(%q) = %v, want fs.ErrInvalid", path, err)
		}
		if names, _ := os.ReadDir(filepath.Join(dir, "x")); len(names) != 0 {
			t.Errorf("Listen(%q) left %v in x", path, names)
		}
	}
}
