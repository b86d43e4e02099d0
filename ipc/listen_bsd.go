//go:build darwin || freebsd

package ipc

import "path/filepath"

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
