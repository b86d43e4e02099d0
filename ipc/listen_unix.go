//go:build linux || darwin || freebsd

package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"runtime"
	"strconv"
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
	id   fileID   // the socket file this listener made

	closeOnce sync.Once
	closeErr  error
}

// fileID identifies a file by device and inode.
type fileID struct{ dev, ino uint64 }

func idOf(fi fs.FileInfo) fileID {
	st := fi.Sys().(*syscall.Stat_t)
	return fileID{uint64(st.Dev), uint64(st.Ino)}
}

// Listen creates the socket and listens on it.
//
// The name's lock file (the socket's path plus ".lock", mode 0600, left in
// place) is held with flock while the listener lives: a second Listen of the
// name, in this process or another, fails with an error matching fs.ErrExist,
// and two servers starting at once cannot both win. A socket file left by a
// server that died (nothing accepts on it) is removed first; a live one, or
// a file that is not a socket, is left alone and Listen fails with
// fs.ErrExist. The socket is made under a temporary name, given its mode
// (0600, or as AllowGroup and AllowOtherUsers say) and group, and renamed into
// place, so it is never reachable with wider access. Close removes it if it
// is still the one this listener made.
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
	mode := os.FileMode(0o600)
	switch {
	case c.AllowOtherUsers:
		mode = 0o666
	case c.AllowGroup != "":
		mode = 0o660
	}
	lock, err := lockName(path, euid)
	if err != nil {
		return fail(path, err)
	}
	l, err := c.listen(path, k, mode, gid)
	if err != nil {
		lock.Close()
		return fail(path, err)
	}
	l.lock, l.self = lock, self
	return l, nil
}

// lockName takes the lock file beside path, without waiting. It follows no
// symbolic link and takes only a regular file of this user's: in a
// directory others may write to, a link planted there must not make this
// process create or lock a file elsewhere.
func lockName(path string, euid int) (*os.File, error) {
	f, err := os.OpenFile(path+".lock", os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, err
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() || int(fi.Sys().(*syscall.Stat_t).Uid) != euid {
		f.Close()
		return nil, fmt.Errorf("%s.lock is not a regular file of this user's: %w", path, fs.ErrPermission)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if err == unix.EWOULDBLOCK {
			return nil, fmt.Errorf("another server listens on this name: %w", fs.ErrExist)
		}
		return nil, &os.PathError{Op: "flock", Path: path + ".lock", Err: err}
	}
	return f, nil
}

// listen makes the socket at path, with the lock held.
func (c *Config) listen(path string, k kind, mode os.FileMode, gid int) (*Listener, error) {
	if err := clearStale(path, k); err != nil {
		return nil, err
	}
	// The socket is made in a directory of its own, mode 0700, beside its
	// place: there nobody can reach it, swap it for a link before chmod
	// follows it, or connect before it has its mode. Then it is renamed
	// into place. A path too long for that binds in place, with the umask's
	// mode until chmod (the peer check still refuses other users).
	tmp := path
	if dir, err := os.MkdirTemp(filepath.Dir(path), ".ipc-"); err == nil {
		defer os.Remove(dir)
		if t := filepath.Join(dir, "s"); len(t) <= maxSocketPath {
			tmp = t
		}
	}
	ln, err := net.ListenUnix(k.net(), &net.UnixAddr{Name: tmp, Net: k.net()})
	if err != nil {
		return nil, err
	}
	ln.SetUnlinkOnClose(false) // Close removes the socket itself, if still ours
	fail := func(err error) (*Listener, error) {
		ln.Close()
		os.Remove(tmp)
		return nil, err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return fail(err)
	}
	if gid >= 0 {
		if err := os.Lchown(tmp, -1, gid); err != nil {
			return fail(err)
		}
	}
	if tmp != path {
		if err := os.Rename(tmp, path); err != nil {
			return fail(err)
		}
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return fail(err)
	}
	if c.Backlog > 0 {
		if err := control(ln, func(fd int) error { return unix.Listen(fd, c.Backlog) }); err != nil {
			return fail(err)
		}
	}
	return &Listener{cfg: *c, kind: k, ln: ln, addr: Addr{k.net(), path}, id: idOf(fi)}, nil
}

// clearStale removes a socket file at path that no server accepts on. With
// the lock held no ipc listener can be live, but another program may be.
func clearStale(path string, k kind) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("%s exists and is not a socket: %w", path, fs.ErrExist)
	}
	conn, err := net.DialTimeout(k.net(), path, time.Second)
	switch {
	case err == nil:
		conn.Close()
		return fmt.Errorf("a server listens on %s: %w", path, fs.ErrExist)
	case !errors.Is(err, syscall.ECONNREFUSED):
		// A server of the other socket type, or one we may not reach: not
		// ours to remove.
		return fmt.Errorf("%s is in use (%w): %w", path, err, fs.ErrExist)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
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
		c, err := newConn(uc, l.kind, l.addr, l.self.group != "")
		if err == nil {
			err = l.cfg.admit(c.credentials(l.cfg.Authorize != nil), l.self)
		}
		if err != nil {
			uc.Close()
			continue
		}
		return c, nil
	}
}

// Close stops listening and removes the socket file if it is still the one
// this listener made; then it lets go of the name's lock. Connections
// already accepted stay open.
func (l *Listener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		if fi, serr := os.Lstat(l.addr.Path); serr == nil && idOf(fi) == l.id {
			os.Remove(l.addr.Path)
		}
		err = l.ln.Close()
		l.lock.Close() // and with it the flock
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
		conn, err := net.DialUnix(k.net(), nil, raddr)
		if err == nil {
			cn, err := newConn(conn, k, Addr{k.net(), path}, self.group != "")
			if err == nil {
				err = c.admit(cn.credentials(c.Authorize != nil), self)
			}
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

var (
	_ net.Listener = (*Listener)(nil)
	_ syscall.Conn = (*Listener)(nil)
)
