package ipc

import (
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// tmpSocketPath is the path to bind the socket at in the temporary
// directory d: through /proc/self/fd, which names the directory d holds
// whatever becomes of its path, if /proc is there.
func tmpSocketPath(d *dirFD) string {
	if p := "/proc/self/fd/" + strconv.Itoa(d.fd); procWorks(p) {
		return p + "/s"
	}
	return filepath.Join(d.path, "s")
}

// dirPath is a path that reaches name in d: through d's descriptor if /proc
// is there.
func dirPath(d *dirFD, name string) string {
	if p := "/proc/self/fd/" + strconv.Itoa(d.fd); procWorks(p) {
		return p + "/" + name
	}
	return filepath.Join(d.path, name)
}

// dirOpenFlags opens a directory for a walk (walkPlace): O_PATH, which
// needs no read or search permission on the directory itself and does
// nothing but name it.
const dirOpenFlags = unix.O_PATH

// connectPath is a path that reaches name in the directory dirfd, through
// /proc/self/fd, so that a connect lands in that directory whatever
// becomes of its path; "" without /proc.
func connectPath(dirfd int, name string) string {
	if p := "/proc/self/fd/" + strconv.Itoa(dirfd); procWorks(p) {
		return p + "/" + name
	}
	return ""
}

// testNoProc makes procWorks say no, so that tests cover the way without
// /proc.
var testNoProc = false

// procWorks reports whether p, a /proc/self/fd path of a directory, leads
// to it.
func procWorks(p string) bool {
	if testNoProc {
		return false
	}
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// preBind sets the mode of a socket that bind(2) will give its file: Linux
// makes the file with the socket's inode mode less the umask (unix_bind).
// 0600 is the least that ipc ever gives; Listen widens it, by descriptor,
// once the socket is made.
func preBind(fd int) error { return unix.Fchmod(fd, 0o600) }

// renameNoReplace renames old in olddir to new in newdir, failing with
// EEXIST where new exists (renameat2 with RENAME_NOREPLACE, Linux 3.15),
// or, on a file system without it, links and unlinks, which fails alike.
func renameNoReplace(olddir int, old string, newdir int, new string) error {
	err := unix.Renameat2(olddir, old, newdir, new, unix.RENAME_NOREPLACE)
	if err != unix.EINVAL && err != unix.ENOSYS {
		return err
	}
	return linkUnlink(olddir, old, newdir, new)
}
