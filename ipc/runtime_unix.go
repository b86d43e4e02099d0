//go:build linux || darwin || freebsd

package ipc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const windowsOS = false

// network is the Net of Unix addresses in errors.
func network() string { return "unix" }

// errUnsafeDir is wrapped by the error for a runtime directory that is not
// private to the user. It matches fs.ErrPermission.
var errUnsafeDir = fmt.Errorf("directory is not private to this user: %w", fs.ErrPermission)

// socketPath resolves a name to a socket path: a short name goes into the
// user's private runtime directory (created if need be, checked always); a
// path (anything with a slash) is used as given. private reports whether
// the path lies in that directory.
func socketPath(name string) (path string, private bool, err error) {
	return socketPathAs(name, -1)
}

// socketPathAs is socketPath for a process whose effective uid is euid, or
// -1 to ask the OS only if a short name needs it: Dial and Listen ask once
// and use the answer for the directory and the peer check alike (a system
// call costs microseconds in some virtual machines).
func socketPathAs(name string, euid int) (path string, private bool, err error) {
	if name == "" {
		return "", false, fmt.Errorf("empty name: %w", fs.ErrInvalid)
	}
	if strings.HasPrefix(name, "@") {
		// Linux (and package net) put a path beginning with @ in the
		// abstract namespace, where a socket has no owner or mode and
		// any user may take a name first. "./@name" is the file.
		return "", false, fmt.Errorf("bad name %q: a path beginning with @ names an abstract socket, which has no file permissions (use ./%s for a file): %w", name, name, fs.ErrInvalid)
	}
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		// A last name of "", "." or ".." would make the socket's
		// directory and name something else than the path says:
		// "dir/x/" would bind dir/x/x while Addr said dir/x/.
		if last := name[i+1:]; last == "" || last == "." || last == ".." {
			return "", false, fmt.Errorf("bad path %q: it must end in the socket's name, not in /, . or ..: %w", name, fs.ErrInvalid)
		}
		return name, false, nil
	}
	if name == "." || name == ".." || strings.ContainsRune(name, 0) {
		return "", false, fmt.Errorf("bad name %q: %w", name, fs.ErrInvalid)
	}
	if euid < 0 {
		euid = os.Geteuid()
	}
	dir, err := runtimeDirAs(euid)
	if err != nil {
		return "", false, err
	}
	return filepath.Join(dir, name+".sock"), true, nil
}

// Path returns where name lives: a socket's path on Unix (a short name's in
// the user's private runtime directory, which it creates and checks as
// Listen does), a \\.\pipe\ path on Windows. A path is returned as it is.
func Path(name string) (string, error) {
	p, _, err := socketPath(name)
	return p, err
}

// RuntimeDir returns the user's private runtime directory, where short
// names' sockets live, created and checked as Listen does. Windows has
// none: there it fails with errors.ErrUnsupported.
func RuntimeDir() (string, error) { return runtimeDirAs(os.Geteuid()) }

// runtimeDirAs returns the user's private runtime directory: $XDG_RUNTIME_DIR
// when it is set and private (checkPrivate), else conduit-<uid> under the
// temporary directory, created with mode 0700 and checked on every use, so
// that another user cannot have made it first, made it a symbolic link or
// opened it up. If another user has taken that name (a directory, file or
// link of theirs: anyone may create names in /tmp), conduit-<uid> in the
// user's ~/.cache (the home directory of the user database, so that every
// process of the user agrees) serves instead, created and checked alike:
// the squatter cannot make this user's Listen and Dial fail. Once that
// fallback exists it is used whenever the temporary directory's name is not
// this user's own directory, taken or not: a squatter who removes its
// directory again finds the name free, and the fallback still used, rather
// than a Listen in one place and a Dial in the other. The temporary
// directory's name is made only while the fallback does not exist. A
// ~/.cache that is a symbolic link, or writable by the user's private group
// (privateGroup), serves, if every directory on its path is root's or this
// user's and writable by no one else (place.check). euid is this process's
// effective uid.
func runtimeDirAs(euid int) (string, error) {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) && checkPrivate(d, euid) == nil {
		return d, nil
	}
	d := filepath.Join(os.TempDir(), "conduit-"+strconv.Itoa(euid))
	err := checkPrivate(d, euid)
	if err == nil {
		return d, nil // the usual case: one lstat(2)
	}
	if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, errSquatted) {
		return "", err // this user's, and not private: fail, not move
	}
	cache, fallback, herr := fallbackDir(euid)
	if herr == nil {
		switch ferr := checkPrivate(fallback, euid); {
		case ferr == nil:
			return fallback, nil
		case !errors.Is(ferr, fs.ErrNotExist):
			return "", ferr
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		err = makePrivate(d, euid)
		if err == nil || !errors.Is(err, errSquatted) {
			return d, err // made, or a failure not a squatter's
		}
	}
	// Squatted.
	if herr != nil {
		return "", fmt.Errorf("%w (and no home directory to use instead: %w)", err, herr)
	}
	if err := os.Mkdir(cache, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	if err := checkCache(fallback, euid); err != nil {
		return "", err
	}
	if err := makePrivate(fallback, euid); err != nil {
		return "", err
	}
	return fallback, nil
}

// fallbackDir returns the user's ~/.cache and conduit-<uid> in it.
func fallbackDir(euid int) (cache, dir string, err error) {
	home, err := homeDirOf(euid)
	if err != nil {
		return "", "", err
	}
	cache = filepath.Join(home, ".cache")
	return cache, filepath.Join(cache, "conduit-"+strconv.Itoa(euid)), nil
}

// checkCache checks that the directory d is to be made in, and every
// directory on its path, is root's or this user's and writable by no one
// else (a private group's write aside), links resolved: no one else can
// then change what d names.
func checkCache(d string, euid int) error {
	p, err := walkPlace(d)
	if err != nil {
		return err
	}
	defer p.close()
	if err := p.check(uint32(euid), uint32(euid)); err != nil {
		return &os.PathError{Op: "check", Path: filepath.Dir(d), Err: fmt.Errorf("%w: %w", errUnsafeDir, err)}
	}
	return nil
}

// homeDirOf returns the home directory that the user database gives uid.
var homeDirOf = func(uid int) (string, error) {
	u, err := user.LookupId(strconv.Itoa(uid))
	if err != nil {
		return "", err
	}
	if !filepath.IsAbs(u.HomeDir) {
		return "", fmt.Errorf("home directory %q of uid %d is not absolute", u.HomeDir, uid)
	}
	return u.HomeDir, nil
}

// makePrivate creates d with mode 0700 if it is not there, and checks it
// with checkPrivate.
func makePrivate(d string, euid int) error {
	err := checkPrivate(d, euid)
	if errors.Is(err, fs.ErrNotExist) {
		if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		err = checkPrivate(d, euid) // made by us, or by whoever won the race
	}
	return err
}

// errSquatted is wrapped by checkPrivate's error for a name another user
// holds.
var errSquatted = errors.New("another user's")

// checkPrivate checks that d is a directory, not a symbolic link, owned by
// euid, this process's user, with no access for group or others.
func checkPrivate(d string, euid int) error {
	fi, err := os.Lstat(d)
	if err != nil {
		return err
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	switch {
	case ok && int(st.Uid) != euid:
		return &os.PathError{Op: "check", Path: d, Err: fmt.Errorf("%w: %w, uid %d", errUnsafeDir, errSquatted, st.Uid)}
	case fi.Mode()&fs.ModeSymlink != 0:
		return &os.PathError{Op: "check", Path: d, Err: fmt.Errorf("%w: a symbolic link", errUnsafeDir)}
	case !fi.IsDir():
		return &os.PathError{Op: "check", Path: d, Err: fmt.Errorf("%w: not a directory", errUnsafeDir)}
	case !ok || int(st.Uid) != euid:
		return &os.PathError{Op: "check", Path: d, Err: fmt.Errorf("%w: owned by uid %d", errUnsafeDir, st.Uid)}
	case fi.Mode().Perm()&0o077 != 0:
		return &os.PathError{Op: "check", Path: d, Err: fmt.Errorf("%w: mode %v", errUnsafeDir, fi.Mode().Perm())}
	}
	return nil
}
