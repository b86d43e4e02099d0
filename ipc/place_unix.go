//go:build linux || darwin || freebsd

package ipc

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// A place is where a path led, walked one name at a time from / without
// following any link unlooked-at: the directories it looked names up in, as
// they were when it looked, and a descriptor of the last one, the socket's
// directory. Dial with AllowGroup walks a path before it connects, connects
// into the directory the walk ended in, and then asks check whether anyone
// but root, the server's user or this user could have chosen that
// directory or the socket in it.
type place struct {
	steps []step
	fd    int    // the socket's directory, -1 once closed
	dir   string // its path, links resolved
	name  string // the socket's name in it
	// byPath: the connection was made by the resolved path, not through
	// fd: recheck must walk again.
	byPath bool
}

// step is one directory a walk looked a name up in.
type step struct {
	path       string // the directory, for errors
	uid, gid   uint32
	mode       uint32
	dev, ino   uint64
	entry      int64 // uid of the entry looked up in it; -1 for the socket's name
	entryIsDir bool
}

// maxLinks bounds the links a walk follows, as the kernel's 40 (ELOOP).
const maxLinks = 40

// walkPlace walks path (a relative one from the working directory) to the
// directory its last name is in, following symbolic links itself, so that
// every directory whose names decided where the path leads is looked at:
// each is opened relative to the one before with O_NOFOLLOW, and stat'ed
// through that descriptor. Errors are *os.PathError with the errno, so that
// a directory that is not there matches fs.ErrNotExist.
func walkPlace(path string) (*place, error) {
	abs := path
	if !filepath.IsAbs(abs) {
		wd, err := os.Getwd()
		if err != nil {
			return nil, err
		}
		abs = wd + "/" + path
	}
	name := abs[strings.LastIndexByte(abs, '/')+1:]
	if name == "" || name == "." || name == ".." {
		return nil, &os.PathError{Op: "dial", Path: path, Err: fs.ErrInvalid}
	}
	root, err := unix.Open("/", dirOpenFlags|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: "/", Err: err}
	}
	type level struct {
		fd   int
		path string
		st   unix.Stat_t
	}
	stack := []level{{fd: root, path: "/"}}
	closeAll := func() {
		for _, l := range stack {
			unix.Close(l.fd)
		}
	}
	if err := unix.Fstat(root, &stack[0].st); err != nil {
		closeAll()
		return nil, &os.PathError{Op: "stat", Path: "/", Err: err}
	}
	p := &place{fd: -1, name: name}
	record := func(l level, entry int64, isDir bool) {
		p.steps = append(p.steps, step{path: l.path, uid: l.st.Uid, gid: l.st.Gid, mode: uint32(l.st.Mode), dev: uint64(l.st.Dev), ino: uint64(l.st.Ino), entry: entry, entryIsDir: isDir})
	}
	// The socket's own name is walked too: a link there (root's directory
	// holding a link into a directory anyone may write to) would send the
	// connect, which follows it, to a place nobody looked at. The walk
	// ends at a last name that is not a link.
	todo := strings.Split(abs, "/")
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 1 {
				unix.Close(stack[len(stack)-1].fd)
				stack = stack[:len(stack)-1]
			}
			continue
		}
		cur := stack[len(stack)-1]
		cpath := filepath.Join(cur.path, c)
		var st unix.Stat_t
		err := unix.Fstatat(cur.fd, c, &st, unix.AT_SYMLINK_NOFOLLOW)
		if err == unix.ENOENT && lastName(todo) {
			p.name = c // no socket there (yet): the connect will say so
			break
		}
		if err != nil {
			closeAll()
			return nil, &os.PathError{Op: "stat", Path: cpath, Err: err}
		}
		if lastName(todo) && st.Mode&unix.S_IFMT != unix.S_IFLNK {
			p.name = c // the socket, in the directory cur
			break
		}
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFLNK:
			if links++; links > maxLinks {
				closeAll()
				return nil, &os.PathError{Op: "stat", Path: cpath, Err: unix.ELOOP}
			}
			target, err := readlinkAt(cur.fd, c)
			if err != nil {
				closeAll()
				return nil, &os.PathError{Op: "readlink", Path: cpath, Err: err}
			}
			record(cur, int64(st.Uid), false)
			if strings.HasPrefix(target, "/") {
				for _, l := range stack[1:] {
					unix.Close(l.fd)
				}
				stack = stack[:1]
			}
			todo = append(strings.Split(target, "/"), todo...)
		case unix.S_IFDIR:
			fd, err := unix.Openat(cur.fd, c, dirOpenFlags|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				closeAll()
				return nil, &os.PathError{Op: "open", Path: cpath, Err: err}
			}
			next := level{fd: fd, path: cpath}
			if err := unix.Fstat(fd, &next.st); err != nil {
				unix.Close(fd)
				closeAll()
				return nil, &os.PathError{Op: "stat", Path: cpath, Err: err}
			}
			// What was opened is what is judged: the entry's owner is
			// the opened directory's.
			record(cur, int64(next.st.Uid), true)
			stack = append(stack, next)
		default:
			closeAll()
			return nil, &os.PathError{Op: "open", Path: cpath, Err: unix.ENOTDIR}
		}
	}
	last := stack[len(stack)-1]
	record(last, -1, false)
	for _, l := range stack[:len(stack)-1] {
		unix.Close(l.fd)
	}
	p.fd, p.dir = last.fd, last.path
	return p, nil
}

// lastName reports whether the path components left, todo, name nothing
// more: the component before them was the path's last name.
func lastName(todo []string) bool {
	for _, c := range todo {
		if c != "" && c != "." {
			return false
		}
	}
	return true
}

// readlinkAt reads the link name in the directory dirfd.
func readlinkAt(dirfd int, name string) (string, error) {
	for n := 256; ; n *= 2 {
		buf := make([]byte, n)
		k, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return "", err
		}
		if k < n {
			return string(buf[:k]), nil
		}
		if n > 1<<16 {
			return "", unix.ENAMETOOLONG
		}
	}
}

// close lets go of the socket's directory.
func (p *place) close() {
	if p != nil && p.fd >= 0 {
		unix.Close(p.fd)
		p.fd = -1
	}
}

// sockPath is the path to connect to: through the directory's descriptor
// where the OS has a way (connectPath), else the path the walk resolved,
// which recheck then walks again.
func (p *place) sockPath() (path string, pinned bool) {
	if q := connectPath(p.fd, p.name); q != "" && len(q) <= maxSocketPath {
		return q, true
	}
	return filepath.Join(p.dir, p.name), false
}

// check fails unless only root, the server's user (peer, a uid) and this
// user (self) could have decided where the walk led: every directory looked
// in is one of theirs, and no one else may write to it (writeOthers), but
// for a sticky one whose entry on the path is root's or this user's (in a
// sticky directory anyone may take a free name, so an entry of the
// server's user there could as well be a squatter's who is the peer); the
// socket's own directory may not be sticky either. POSIX ACLs are not read.
func (p *place) check(peer, self uint32) error {
	trusted := func(u uint32) bool { return u == 0 || u == peer || u == self }
	for _, s := range p.steps {
		if !trusted(s.uid) {
			return fmt.Errorf("%s on the path belongs to uid %d, who could change where the path leads", s.path, s.uid)
		}
		why := writeOthers(s.uid, s.gid, s.mode)
		if why == "" {
			continue
		}
		if s.mode&unix.S_ISVTX != 0 && s.entry >= 0 && (s.entry == 0 || uint32(s.entry) == self) {
			continue // sticky, and its entry on the path cannot be renamed by others
		}
		return fmt.Errorf("%s may write to %s on the path (mode %#o), and could change where the path leads", why, s.path, s.mode&0o7777)
	}
	return nil
}

// recheck walks the path again, for a connection made by path rather than
// through the descriptor, and fails unless it leads to the same directory.
// Only root, the server and this user can change a path that check passed:
// this catches their changes, not an attacker's.
func (p *place) recheck(path string) error {
	q, err := walkPlace(path)
	if err != nil {
		return err
	}
	defer q.close()
	a, b := p.steps[len(p.steps)-1], q.steps[len(q.steps)-1]
	if a.dev != b.dev || a.ino != b.ino {
		return fmt.Errorf("the socket's directory %s changed while Dial connected", p.dir)
	}
	return nil
}

// writeOthers says who besides the owner may write to a directory of owner
// uid, group gid and mode: "" if no one. Group write counts for nothing
// where the group is the owner's private group (privateGroup).
func writeOthers(uid, gid, mode uint32) string {
	switch {
	case mode&0o002 != 0:
		return "every user"
	case mode&0o020 != 0 && !privateGroup(uid, gid):
		return fmt.Sprintf("group %d", gid)
	}
	return ""
}

// The user database files that privateGroup reads; tests point them at
// their own.
var (
	passwdFile = "/etc/passwd"
	groupFile  = "/etc/group"
)

// privateGroup reports whether gid is the private group of uid, as
// user-private-group systems (Fedora, RHEL, Debian's adduser; umask 002)
// give every user: the group of the user's own name is the user's primary
// group, no other user has it as theirs, and it lists no member but the
// user. It reads the local files only (passwdFile, groupFile): a user or
// group known only to a directory service (LDAP, sssd) is never taken for
// private, and group write then counts as others' write. root's group 0 is
// private only if it passes the same test.
func privateGroup(uid, gid uint32) bool {
	var userName string
	primary := int64(-1)
	others := false
	err := scanColon(passwdFile, func(f []string) bool {
		if len(f) < 4 {
			return true
		}
		u, err1 := strconv.ParseUint(f[2], 10, 32)
		g, err2 := strconv.ParseUint(f[3], 10, 32)
		if err1 != nil || err2 != nil {
			return true
		}
		switch {
		case uint32(u) == uid && userName == "":
			userName, primary = f[0], int64(g)
		case uint32(g) == gid:
			others = true // another user's primary group
			return false
		}
		return true
	})
	if err != nil || others || userName == "" || primary != int64(gid) {
		return false
	}
	private := false
	err = scanColon(groupFile, func(f []string) bool {
		if len(f) < 4 {
			return true
		}
		g, err := strconv.ParseUint(f[2], 10, 32)
		if err != nil || uint32(g) != gid {
			return true
		}
		private = f[0] == userName
		for _, m := range strings.Split(f[3], ",") {
			if m = strings.TrimSpace(m); m != "" && m != userName {
				private = false
			}
		}
		return private // a second entry of the gid must pass too
	})
	return err == nil && private
}

// scanColon calls fn with the colon-separated fields of each line of the
// file at path, until fn returns false; comments and NIS lines are skipped.
func scanColon(path string, fn func([]string) bool) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		line := s.Text()
		if line == "" || line[0] == '#' || line[0] == '+' || line[0] == '-' {
			continue
		}
		if !fn(strings.Split(line, ":")) {
			break
		}
	}
	return s.Err()
}
