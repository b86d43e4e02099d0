//go:build linux || darwin || freebsd

package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// kind is how a connection carries data.
type kind int

const (
	stream kind = iota // SOCK_STREAM, bytes as they are
	packet             // SOCK_SEQPACKET, one record a piece of a message (see conn_unix.go)
	framed             // SOCK_STREAM with length-prefixed messages (macOS)
)

// seqpacket reports whether message mode uses SOCK_SEQPACKET: on Linux,
// where each write(2) is one record of up to the send buffer's size.
// FreeBSD has SOCK_SEQPACKET for Unix sockets too, but fails a record
// larger than its 8 KiB default send buffer (EMSGSIZE) and, in recent
// versions, ends a record only at MSG_EOR; there, as on macOS, the framing
// keeps the boundaries.
const seqpacket = runtime.GOOS == "linux"

// forceFraming makes message mode use the framing on every OS, so that
// tests on Linux cover macOS's path.
var forceFraming = false

func (c *Config) kind() kind {
	switch {
	case !c.MessageMode:
		return stream
	case seqpacket && !forceFraming:
		return packet
	}
	return framed
}

func (k kind) net() string {
	if k == packet {
		return "unixpacket"
	}
	return "unix"
}

// maxSocketPath is the longest path a sockaddr_un holds, less its NUL.
var maxSocketPath = len(unix.RawSockaddrUnix{}.Path) - 1

// Listener is a Unix socket listener. Accept returns only peers that the
// Config admits.
type Listener struct {
	cfg  Config
	kind kind
	self identity
	ln   *net.UnixListener
	addr Addr
	lock *os.File // held while listening: see Listen
	dir  *dirFD   // the socket's directory
	base string   // the socket's name in dir
	id   fileID   // the socket file this listener made
	// budget bounds what its connections hold in unfinished messages.
	budget *budget

	closeOnce sync.Once
	closeErr  error
}

// fileID identifies a file by device and inode.
type fileID struct{ dev, ino uint64 }

// Listen creates the socket and listens on it.
//
// Where a socket may live: in a directory that no other user can change
// under it, that is one owned by this user or root and writable by no one
// else, or one with the sticky bit (as /tmp has), where others may add names
// but not rename or remove this user's. Listen refuses any other directory
// (a setgid group directory such as root:shared 2770 included) with an
// error matching fs.ErrPermission: there another user could rename the
// socket away and put their own in its place for clients to find. The
// directories above it are the caller's to choose: Listen works through a
// descriptor of the socket's directory, and an ancestor that another user
// can rename lets that user choose which directory that is. For a socket
// that a group should reach (AllowGroup), a directory owned by the server's
// user and readable by the group, such as /run/myapp of mode 0750 and group
// myapp, is the place; in a sticky directory anyone may take the name first.
// Every directory above it counts for the group's clients: Dial with
// AllowGroup accepts a server of another user only if every directory on
// the path from / is root's, the server's or the client's and writable by
// no one else (see Config.AllowGroup), so /run/myapp (with /run root's
// 0755) works and /tmp/myapp does not.
//
// Group write is no one else's where the group is the owner's private
// group, as user-private-group systems (Fedora, RHEL; umask 002) make every
// user's: a group of the owner's name that is its primary group, no other
// user's, and lists no other member, as the local /etc/passwd and
// /etc/group say (a user or group only a directory service knows is not
// taken for one). So a 0775 directory in such a user's home serves. A
// Kubernetes emptyDir volume (mode 0777 without the sticky bit, shared by
// every container of the pod) is refused: any process in the pod could
// replace the socket there. Make a directory of mode 0700 (or 0750 with a
// group for AllowGroup) in it and listen in that: the volume's other
// containers can then reach the socket only as the mode says, though they
// can still rename that directory away, so clients in other containers
// that must not be fooled should check the server (Authorize, UserID).
//
// The name's lock file (the socket's path plus ".lock", mode 0600, removed
// by Close) is held with flock while the listener lives: a second Listen of the
// name, in this process or another, fails with an error matching fs.ErrExist,
// and two servers starting at once cannot both win. A lock file that is not
// a regular file of this user's with one link (another user's, a symbolic or
// a hard link) is never opened through, and fails Listen with fs.ErrExist. A
// socket file of this user's left by a server that died (nothing accepts on
// it) is removed first; a live one, another user's, or a file that is not a
// socket, is left alone and Listen fails with fs.ErrExist.
//
// The socket is made in a new directory of mode 0700 beside its path, where
// no one else can reach it, given its mode (0600, or as AllowGroup and
// AllowOtherUsers say), group and backlog there, and then linked into place,
// failing rather than replacing whatever took the path meanwhile: it is
// never reachable with wider access or half made. Every step after the
// directory is opened works relative to a descriptor of it or of the
// socket's directory, never through a path another user could swap for a
// link. Close removes the socket if it is still the one this listener made.
//
// Errors are *net.OpError.
func (c *Config) Listen(name string) (*Listener, error) {
	k := c.kind()
	fail := func(path string, err error) (*Listener, error) {
		return nil, &net.OpError{Op: "listen", Net: k.net(), Addr: Addr{k.net(), path}, Err: err}
	}
	if c.Backlog < 0 {
		return fail(name, fmt.Errorf("%w: negative Backlog %d", ErrInvalidConfig, c.Backlog))
	}
	if err := c.checkLimits(); err != nil {
		return fail(name, err)
	}
	euid := os.Geteuid()
	path, private, err := socketPathAs(name, euid)
	if err != nil {
		return fail(name, err)
	}
	if private && (c.AllowGroup != "" || c.AllowOtherUsers) {
		return fail(path, fmt.Errorf("%w: a short name's socket is in the user's private directory, which others cannot reach: give a path to admit them", ErrInvalidConfig))
	}
	if len(path) > maxSocketPath {
		return fail(path, fmt.Errorf("%w: path longer than a socket address holds (%d bytes)", ErrInvalidConfig, maxSocketPath))
	}
	self, gid, err := c.unixIdentity(euid)
	if err != nil {
		return fail(path, err)
	}
	mode := uint32(0o600)
	switch {
	case c.AllowOtherUsers:
		mode = 0o666
	case c.AllowGroup != "":
		mode = 0o660
	}
	d, err := openDir(filepath.Dir(path), euid)
	if err != nil {
		return fail(path, err)
	}
	base := filepath.Base(path)
	lock, err := lockName(d, base, euid)
	if err != nil {
		d.Close()
		return fail(path, err)
	}
	l, err := c.listen(d, base, path, k, mode, gid, euid)
	if err != nil {
		lock.Close()
		d.Close()
		return fail(path, err)
	}
	l.lock, l.dir, l.self = lock, d, self
	return l, nil
}

// dirFD is an open directory that names are made and removed relative to.
type dirFD struct {
	fd   int
	path string // for errors and for paths that must go through it
}

func (d *dirFD) Close() error { return unix.Close(d.fd) }

// openDir opens the directory a socket goes in and checks that no other
// user can change its names (see Listen): owned by euid or root, and
// writable by no one else unless sticky (group write by the owner's
// private group is no one else's: privateGroup).
func openDir(path string, euid int) (*dirFD, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	var why string
	switch {
	case int(st.Uid) != euid && st.Uid != 0:
		why = fmt.Sprintf("owned by uid %d, who could replace the socket", st.Uid)
	case st.Mode&unix.S_ISVTX == 0 && writeOthers(st.Uid, st.Gid, uint32(st.Mode)) != "":
		why = fmt.Sprintf("mode %#o: %s may write to it without the sticky bit, and could replace the socket", st.Mode&0o7777, writeOthers(st.Uid, st.Gid, uint32(st.Mode)))
	}
	if why != "" {
		unix.Close(fd)
		return nil, &os.PathError{Op: "listen", Path: path, Err: fmt.Errorf("%w: the socket's directory is %s; see Listen for where a socket may live", fs.ErrPermission, why)}
	}
	return &dirFD{fd: fd, path: path}, nil
}

// statAt is fstatat of name in d, following no link.
func (d *dirFD) statAt(name string) (unix.Stat_t, error) {
	var st unix.Stat_t
	err := unix.Fstatat(d.fd, name, &st, unix.AT_SYMLINK_NOFOLLOW)
	return st, err
}

// lockName takes the lock file of base in d, without waiting. It follows no
// link and takes only a regular file of this user's with one link: in a
// directory others may add names to, a link planted there must not make
// this process create, lock or change a file elsewhere.
//
// Listener.Close removes the lock file while it still holds the lock, so
// the file this opened may have been removed (and another made in its
// place, and locked) before its flock got it: the lock taken is then on a
// file no longer at the path, which locks nothing. So once locked, the file
// must still be the one at the path (device and inode, fstat against
// fstatat), else it is let go and the name's lock taken again.
func lockName(d *dirFD, base string, euid int) (*os.File, error) {
	name := base + ".lock"
	path := filepath.Join(d.path, name)
	for range 100 {
		f, err := lockOnce(d, name, path, euid)
		if err != errLockMoved {
			return f, err
		}
	}
	return nil, fmt.Errorf("%s was replaced again and again while it was locked: %w", path, fs.ErrExist)
}

// errLockMoved is lockOnce's error for a lock file that was no longer at
// its path once locked.
var errLockMoved = errors.New("the lock file was replaced")

// testHookBeforeFlock, when set, runs as lockName is about to lock the file
// it opened.
var testHookBeforeFlock func()

// lockOnce is one try of lockName.
func lockOnce(d *dirFD, name, path string, euid int) (*os.File, error) {
	// O_NONBLOCK: a FIFO planted there must not hold the open up.
	fd, err := unix.Openat(d.fd, name, unix.O_RDWR|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NONBLOCK, 0o600)
	if err != nil {
		if st, serr := d.statAt(name); serr == nil {
			if st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return nil, fmt.Errorf("%s is a symbolic link, not this user's lock: the name is taken: %w", path, fs.ErrExist)
			}
			if int(st.Uid) != euid {
				return nil, fmt.Errorf("%s belongs to uid %d: the name is taken: %w", path, st.Uid, fs.ErrExist)
			}
		}
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	f := os.NewFile(uintptr(fd), path)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		f.Close()
		return nil, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != euid || st.Nlink != 1 {
		f.Close()
		return nil, fmt.Errorf("%s is not a regular file of this user's with one link (mode %#o, uid %d, %d links): the name is taken: %w", path, st.Mode, st.Uid, st.Nlink, fs.ErrExist)
	}
	if testHookBeforeFlock != nil {
		testHookBeforeFlock()
	}
	if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, fmt.Errorf("another server listens on this name: %w", fs.ErrExist)
		}
		return nil, &os.PathError{Op: "flock", Path: path, Err: err}
	}
	if now, err := d.statAt(name); err != nil || now.Dev != st.Dev || now.Ino != st.Ino {
		f.Close()
		return nil, errLockMoved
	}
	return f, nil
}

// unlock removes the lock file name in d, held as f, if it is still the
// one at the path, and then lets go of the lock: removed while held, no
// other Listen can have locked it meanwhile, and one that opened it before
// sees it gone once it has the lock (lockOnce) and tries again.
func unlock(d *dirFD, name string, f *os.File) {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) == nil {
		if now, err := d.statAt(name); err == nil && now.Dev == st.Dev && now.Ino == st.Ino {
			unix.Unlinkat(d.fd, name, 0)
		}
	}
	f.Close() // and with it the flock
}

// tempPrefix begins the names of the directories that Listen makes the
// socket of base in: "." + base + ".ipc-", then tempDigits hex digits.
func tempPrefix(base string) string { return "." + base + ".ipc-" }

const tempDigits = 8

// listen makes the socket base in d, with the lock held.
func (c *Config) listen(d *dirFD, base, path string, k kind, mode uint32, gid, euid int) (*Listener, error) {
	if err := clearStale(d, base, k, euid); err != nil {
		return nil, err
	}
	clearTemps(d, base, euid)
	tmp, err := makeTemp(d, base, euid)
	if err != nil {
		return nil, err
	}
	defer tmp.removeFrom(d)
	// Bound through the temporary directory's descriptor where the OS has
	// a way (Linux: /proc/self/fd), else by its path, which no other user
	// can change (openDir, makeTemp): either way only "s" in it is
	// touched from now on, relative to the descriptor.
	bindPath := tmpSocketPath(tmp)
	inPlace := len(bindPath) > maxSocketPath
	if inPlace {
		// A path too long for the detour binds in place, in a directory
		// no one else can change, with mode 0600 at most where the kernel
		// honours a mode set before bind (Linux) and the umask's until
		// the chmod elsewhere (the peer check still refuses others).
		bindPath = path
	}
	lc := net.ListenConfig{Control: func(_, _ string, rc syscall.RawConn) error { return controlRaw(rc, preBind) }}
	ln0, err := lc.Listen(context.Background(), k.net(), bindPath)
	if err != nil {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err // it names the temporary path
		}
		return nil, err
	}
	ln := ln0.(*net.UnixListener)
	ln.SetUnlinkOnClose(false) // Close removes the socket itself, if still ours
	at, name := tmp, "s"
	if inPlace {
		at, name = d, base
	}
	fail := func(err error) (*Listener, error) {
		ln.Close()
		unix.Unlinkat(at.fd, name, 0)
		return nil, err
	}
	if c.Backlog > 0 {
		if err := control(ln, func(fd int) error { return unix.Listen(fd, c.Backlog) }); err != nil {
			return fail(os.NewSyscallError("listen", err))
		}
	}
	if gid >= 0 {
		if err := unix.Fchownat(at.fd, name, -1, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fail(&os.PathError{Op: "chown", Path: path, Err: err})
		}
	}
	// No AT_SYMLINK_NOFOLLOW: Linux refuses it before 6.6. Nothing but
	// this process can have put a link at name (see above).
	if err := unix.Fchmodat(at.fd, name, mode, 0); err != nil {
		return fail(&os.PathError{Op: "chmod", Path: path, Err: err})
	}
	st, err := at.statAt(name)
	if err != nil {
		return fail(&os.PathError{Op: "stat", Path: path, Err: err})
	}
	if st.Mode&unix.S_IFMT != unix.S_IFSOCK {
		return fail(&os.PathError{Op: "listen", Path: path, Err: fmt.Errorf("the socket made is not there: %w", fs.ErrPermission)})
	}
	if testHookBeforeRename != nil {
		testHookBeforeRename()
	}
	if !inPlace {
		if err := renameNoReplace(tmp.fd, "s", d.fd, base); err != nil {
			if err == unix.EEXIST {
				err = fmt.Errorf("%s was taken while the socket was made: %w", path, fs.ErrExist)
			} else {
				err = &os.PathError{Op: "rename", Path: path, Err: err}
			}
			return fail(err)
		}
	}
	return &Listener{cfg: *c, kind: k, ln: ln, addr: Addr{k.net(), path}, base: base, id: fileID{uint64(st.Dev), uint64(st.Ino)}, budget: newBudget(c.messageBudget())}, nil
}

// testHookBeforeRename, when set, runs as Listen is about to move the
// socket it made into place.
var testHookBeforeRename func()

// makeTemp makes and opens a new directory of mode 0700 in d for the socket
// of base, and checks that what it opened is this user's and private.
func makeTemp(d *dirFD, base string, euid int) (*dirFD, error) {
	prefix := tempPrefix(base)
	if len(prefix)+tempDigits > 255 {
		prefix = ".ipc-" // NAME_MAX: a leftover of a crash is not cleared then
	}
	for range 100 {
		name := fmt.Sprintf("%s%0*x", prefix, tempDigits, rand.Uint32())
		err := unix.Mkdirat(d.fd, name, 0o700)
		if err == unix.EEXIST {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "mkdir", Path: filepath.Join(d.path, name), Err: err}
		}
		fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, &os.PathError{Op: "open", Path: filepath.Join(d.path, name), Err: err}
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || int(st.Uid) != euid || st.Mode&0o077 != 0 {
			unix.Close(fd)
			return nil, &os.PathError{Op: "listen", Path: filepath.Join(d.path, name), Err: fmt.Errorf("%w: the directory made for the socket was replaced", fs.ErrPermission)}
		}
		return &dirFD{fd: fd, path: filepath.Join(d.path, name)}, nil
	}
	return nil, &os.PathError{Op: "mkdir", Path: d.path, Err: fs.ErrExist}
}

// removeFrom removes the temporary directory t from d, where it was made,
// if the name still holds it, and closes it.
func (t *dirFD) removeFrom(d *dirFD) {
	var st unix.Stat_t
	name := filepath.Base(t.path)
	if unix.Fstat(t.fd, &st) == nil {
		if now, err := d.statAt(name); err == nil && now.Ino == st.Ino && now.Dev == st.Dev {
			unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
		}
	}
	t.Close()
}

// clearTemps removes the temporary directories of base that a Listen which
// died between making and renaming its socket left in d: with the name's
// lock held no Listen of base can be making one.
func clearTemps(d *dirFD, base string, euid int) {
	prefix := tempPrefix(base)
	dup, err := unix.Dup(d.fd)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(dup), d.path)
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	for _, name := range names {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || len(rest) != tempDigits || strings.Trim(rest, "0123456789abcdef") != "" {
			continue
		}
		fd, err := unix.Openat(d.fd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if unix.Fstat(fd, &st) == nil && int(st.Uid) == euid {
			unix.Unlinkat(fd, "s", 0)
			unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
		}
		unix.Close(fd)
	}
}

// clearStale removes a socket file of this user's at base in d that no
// server accepts on. With the lock held no ipc listener can be live, but
// another program may be. Another user's socket is not connected to: it is
// not ours to remove, and its owner would learn who asked.
func clearStale(d *dirFD, base string, k kind, euid int) error {
	path := filepath.Join(d.path, base)
	st, err := d.statAt(base)
	if err == unix.ENOENT {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "stat", Path: path, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFSOCK:
		return fmt.Errorf("%s exists and is not a socket: %w", path, fs.ErrExist)
	case int(st.Uid) != euid:
		return fmt.Errorf("%s is a socket of uid %d: %w", path, st.Uid, fs.ErrExist)
	}
	conn, err := net.DialTimeout(k.net(), dirPath(d, base), time.Second)
	switch {
	case err == nil:
		conn.Close()
		return fmt.Errorf("a server listens on %s: %w", path, fs.ErrExist)
	case !errors.Is(err, syscall.ECONNREFUSED):
		// A server of the other socket type, or one we may not reach: not
		// ours to remove.
		return fmt.Errorf("%s is in use (%w): %w", path, err, fs.ErrExist)
	}
	if again, err := d.statAt(base); err != nil || again.Ino != st.Ino || again.Dev != st.Dev {
		return fmt.Errorf("%s changed while it was looked at: %w", path, fs.ErrExist)
	}
	if err := unix.Unlinkat(d.fd, base, 0); err != nil && err != unix.ENOENT {
		return &os.PathError{Op: "remove", Path: path, Err: err}
	}
	return nil
}

// control runs fn with the socket's descriptor.
func control(sc syscall.Conn, fn func(fd int) error) error {
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	return controlRaw(rc, fn)
}

// controlRaw runs fn with rc's descriptor.
func controlRaw(rc syscall.RawConn, fn func(fd int) error) error {
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(int(fd)) }); err != nil {
		return err
	}
	return ferr
}

// unixIdentity returns who this process, of effective uid euid, is for the
// peer check, and the gid of AllowGroup (-1 if none).
func (c *Config) unixIdentity(euid int) (identity, int, error) {
	self := identity{user: strconv.Itoa(euid)}
	if c.AllowGroup == "" {
		return self, -1, nil
	}
	g, err := user.LookupGroup(c.AllowGroup)
	if err != nil {
		if _, nerr := strconv.Atoi(c.AllowGroup); nerr != nil {
			return self, -1, fmt.Errorf("%w: AllowGroup %q: %w", ErrInvalidConfig, c.AllowGroup, err)
		}
		g = &user.Group{Gid: c.AllowGroup} // a gid with no name
	}
	self.group = g.Gid
	gid, _ := strconv.Atoi(g.Gid)
	return self, gid, nil
}

// Accept waits for the next admitted client and returns it as a net.Conn.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptIPC()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptIPC waits for the next client that the Config admits (the built-in
// check, then Authorize) and returns it. Refused clients are closed and
// never returned. After Close it returns an error wrapping net.ErrClosed.
func (l *Listener) AcceptIPC() (*Conn, error) {
	for {
		uc, err := l.ln.AcceptUnix()
		if err != nil {
			var oe *net.OpError
			if errors.As(err, &oe) {
				err = oe.Err // net names the temporary path it was bound to
			}
			return nil, &net.OpError{Op: "accept", Net: l.addr.Net, Addr: l.addr, Err: err}
		}
		c, err := newConn(uc, l.kind, l.addr, l.self.group != "", l.cfg.maxMessage(), l.budget)
		if err == nil {
			err = l.cfg.admit(c.credentials(l.cfg.Authorize != nil), l.self, nil)
		}
		if err != nil {
			uc.Close()
			continue
		}
		return c, nil
	}
}

// Close stops listening and removes the socket file if it is still the one
// this listener made; then it removes the name's lock file, still holding
// the lock, and lets go of the lock. Connections
// already accepted stay open.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		if st, serr := l.dir.statAt(l.base); serr == nil && (fileID{uint64(st.Dev), uint64(st.Ino)}) == l.id {
			unix.Unlinkat(l.dir.fd, l.base, 0)
		}
		err = l.ln.Close()
		unlock(l.dir, l.base+".lock", l.lock)
		l.dir.Close()
	})
	if err != nil {
		return &net.OpError{Op: "close", Net: l.addr.Net, Addr: l.addr, Err: err}
	}
	return nil
}

// Addr returns the socket's path.
func (l *Listener) Addr() net.Addr { return l.addr }

// SyscallConn returns the listening socket's raw connection.
func (l *Listener) SyscallConn() (syscall.RawConn, error) { return l.ln.SyscallConn() }

// Dial connects to name: a short name in the user's private runtime
// directory, or a path. A name no server listens on fails at once with an
// error matching fs.ErrNotExist (a stale socket file included), unless
// WaitForServer is set. The server must pass the Config's check (by
// default: run by this user) and Authorize. Errors are *net.OpError.
func (c *Config) Dial(ctx context.Context, name string) (*Conn, error) {
	k := c.kind()
	fail := func(path string, err error) (*Conn, error) {
		return nil, &net.OpError{Op: "dial", Net: k.net(), Addr: Addr{k.net(), path}, Err: err}
	}
	// One geteuid(2) for the directory and the peer check: Dial is on
	// the path of every connection.
	euid := os.Geteuid()
	path, _, err := socketPathAs(name, euid)
	if err != nil {
		return fail(name, err)
	}
	if err := c.checkLimits(); err != nil {
		return fail(path, err)
	}
	self, _, err := c.unixIdentity(euid)
	if err != nil {
		return fail(path, err)
	}
	raddr := &net.UnixAddr{Name: path, Net: k.net()}
	backoff := 5 * time.Millisecond
	for {
		// connect(2) on a Unix socket never waits: it connects or fails
		// at once (EAGAIN when the backlog is full, retried below). So
		// the context is looked at here and between attempts, and
		// DialUnix spares the resolver and racing machinery of
		// net.Dialer.DialContext, which a path has no use for.
		if err := ctx.Err(); err != nil {
			return fail(path, err)
		}
		conn, pl, err := c.connect(k, path, raddr, self.group != "")
		if err == nil {
			cn, err := newConn(conn, k, Addr{k.net(), path}, self.group != "", c.maxMessage(), nil)
			if err == nil {
				err = c.admit(cn.credentials(c.Authorize != nil), self, func(peer Credentials) error { return pl.serverPlace(path, peer, euid) })
			}
			pl.close()
			if err != nil {
				conn.Close()
				return fail(path, err)
			}
			return cn, nil
		}
		missing := errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED)
		// EAGAIN: the listener's backlog is full; wait for room, as Dial
		// of a busy pipe does on Windows.
		busy := errors.Is(err, syscall.EAGAIN)
		if !busy && (!missing || !c.WaitForServer) {
			var oe *net.OpError
			if errors.As(err, &oe) {
				err = oe.Err
			}
			if missing && !errors.Is(err, fs.ErrNotExist) {
				err = fmt.Errorf("no server listens (a stale socket): %w (%w)", fs.ErrNotExist, err)
			}
			return fail(path, err)
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return fail(path, ctx.Err())
		}
		backoff = min(2*backoff, 100*time.Millisecond)
	}
}

// connect connects to the socket at path (raddr). With walk, for
// AllowGroup's check of a server that only the group admits, it first walks
// the path (walkPlace) and connects into the directory the walk ended in,
// through its descriptor where the OS has a way (Linux's /proc/self/fd),
// else by the path the walk resolved; the place it returns is for
// serverPlace, and to close.
func (c *Config) connect(k kind, path string, raddr *net.UnixAddr, walk bool) (*net.UnixConn, *place, error) {
	if !walk {
		conn, err := net.DialUnix(k.net(), nil, raddr)
		return conn, nil, err
	}
	pl, err := walkPlace(path)
	if err != nil {
		return nil, nil, err
	}
	to, pinned := pl.sockPath()
	conn, err := net.DialUnix(k.net(), nil, &net.UnixAddr{Name: to, Net: k.net()})
	if err != nil {
		pl.close()
		return nil, nil, err
	}
	if !pinned {
		pl.byPath = true // serverPlace walks again
		pl.close()
	}
	return conn, pl, nil
}

// serverPlace checks, for Dial, a server of another user that only
// AllowGroup admits: only root, the server's user or this user (euid) may
// have chosen the directory its socket is in, and no one else may write
// there (place.check); a connection made by path is walked again
// (place.recheck). Without this, any member of the group could have put its
// own socket at the path while the real server was down, or renamed a
// directory on the path away and made its own in its place.
func (p *place) serverPlace(path string, peer Credentials, euid int) error {
	uid, err := strconv.ParseUint(peer.UserID, 10, 32)
	if p == nil || err != nil {
		return fmt.Errorf("the server is admitted by group only, and where its socket is was not checked: %w", fs.ErrPermission)
	}
	if err := p.check(uint32(uid), uint32(euid)); err != nil {
		return fmt.Errorf("the server is admitted by group only, and %w: any member could have put a socket there (every directory on the path must be root's, the server's or this user's and writable by no one else; see Config.AllowGroup)", err)
	}
	if p.byPath {
		return p.recheck(path)
	}
	return nil
}

var (
	_ net.Listener = (*Listener)(nil)
	_ syscall.Conn = (*Listener)(nil)
)

// linkUnlink moves old in olddir to new in newdir by linking it there,
// which fails with EEXIST rather than replace anything, and unlinking old.
func linkUnlink(olddir int, old string, newdir int, new string) error {
	if err := unix.Linkat(olddir, old, newdir, new, 0); err != nil {
		return err
	}
	unix.Unlinkat(olddir, old, 0)
	return nil
}
