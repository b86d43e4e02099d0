//go:build darwin || freebsd

package ipc

import (
	"path/filepath"

	"golang.org/x/sys/unix"
)

// tmpSocketPath is the path to bind the socket at in the temporary
// directory d: its path, which no other user can change (openDir,
// makeTemp). FreeBSD's bindat(2) would do without; what follows is done
// relative to d's descriptor either way.
func tmpSocketPath(d *dirFD) string { return filepath.Join(d.path, "s") }

// dirPath is a path that reaches name in d.
func dirPath(d *dirFD, name string) string { return filepath.Join(d.path, name) }

// preBind does nothing: bind(2) here gives the file mode 0777 less the
// umask whatever the socket's mode, and Listen sets the mode by descriptor.
func preBind(int) error { return nil }

// renameNoReplace renames old in olddir to new in newdir, failing with
// EEXIST where new exists: a hard link, which never replaces, then the
// unlink of old.
func renameNoReplace(olddir int, old string, newdir int, new string) error {
	return linkUnlink(olddir, old, newdir, new)
}

// dirOpenFlags opens a directory for a walk (walkPlace). macOS has no
// O_PATH (nor x/sys a FreeBSD O_SEARCH for both): a directory on the path
// that this user may search but not read fails the walk.
const dirOpenFlags = unix.O_RDONLY

// connectPath is "": there is no /proc/self/fd to connect through (and
// x/sys has no connectat): Dial connects by the path the walk resolved and
// walks it again after (place.recheck).
func connectPath(int, string) string { return "" }
