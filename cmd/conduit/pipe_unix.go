//go:build !windows

package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"syscall"

	"github.com/conduit-ipc/conduit/ipc"
	"golang.org/x/sys/unix"
)

// listenPipe listens on an ipc name or path: a socket, private to this
// user unless --allow says otherwise.
func listenPipe(t target, o pipeOptions) (net.Listener, error) {
	if o.sddl != "" {
		return nil, usagef("--sddl is for Windows pipes: Unix sockets have a mode (0600; --allow GROUP for 0660)")
	}
	cfg := ipc.Config{MessageMode: o.message, Backlog: o.backlog}
	if o.oneShot && o.backlog == 0 {
		cfg.Backlog = 1 // one client: no queue of others to drop
	}
	if o.allow != "" {
		if err := allowUnix(&cfg, o.allow); err != nil {
			return nil, err
		}
	}
	l, err := cfg.Listen(t.name)
	if errors.Is(err, ipc.ErrInvalidConfig) {
		return nil, usageError{err}
	}
	return l, err
}

// allowUnix admits a group (the socket's group, mode 0660) or one other
// user (mode 0666, and every peer but that user and this one refused).
func allowUnix(cfg *ipc.Config, who string) error {
	if _, err := user.LookupGroup(who); err == nil {
		cfg.AllowGroup = who
		return nil
	}
	if _, err := user.LookupGroupId(who); err == nil {
		cfg.AllowGroup = who
		return nil
	}
	uid, err := lookupUID(who)
	if err != nil {
		return usagef("--allow %s: no such group or user", who)
	}
	me := strconv.Itoa(os.Geteuid())
	cfg.AllowOtherUsers = true
	cfg.Authorize = func(c ipc.Credentials) error {
		if c.UserID == uid || c.UserID == me {
			return nil
		}
		return fmt.Errorf("only user %s (--allow) and this user may connect", who)
	}
	return nil
}

// lookupUID returns a user's uid in decimal, by name or number.
func lookupUID(who string) (string, error) {
	if u, err := user.Lookup(who); err == nil {
		return u.Uid, nil
	}
	if _, err := strconv.ParseUint(who, 10, 32); err == nil {
		return who, nil
	}
	return "", fmt.Errorf("no user %q", who)
}

// dialPipe connects to an ipc name or path, with ipc's check of the
// server's user (this user, or as --server-user and --any-server say).
func dialPipe(t target, o pipeOptions) (net.Conn, error) {
	ctx, cancel := dialContext(o)
	defer cancel()
	cfg := ipc.Config{MessageMode: o.message, WaitForServer: o.wait}
	if err := serverCheck(&cfg, o); err != nil {
		return nil, err
	}
	c, err := cfg.Dial(ctx, t.name)
	if err != nil {
		return nil, unixDialError(t, o, err)
	}
	if o.anyServer {
		if cred, err := c.PeerCredentials(); err == nil && cred.UserID != strconv.Itoa(os.Geteuid()) {
			fmt.Fprintf(std.err, "conduit: warning: --any-server: %s is served by %s, not by you: it sees what you send\n", t, cred)
		}
	}
	return c, nil
}

// serverCheck sets the check of the server's user that --server-user and
// --any-server ask for; by default ipc's: this user only.
func serverCheck(cfg *ipc.Config, o pipeOptions) error {
	switch {
	case o.serverUser != "" && o.anyServer:
		return usagef("--server-user and --any-server exclude each other")
	case o.serverUser != "":
		uid, err := lookupUID(o.serverUser)
		if err != nil {
			return usagef("--server-user %s: %v", o.serverUser, err)
		}
		cfg.AllowOtherUsers = true
		cfg.Authorize = func(c ipc.Credentials) error {
			if c.UserID != uid {
				return fmt.Errorf("the server is not user %s (--server-user)", o.serverUser)
			}
			return nil
		}
	case o.anyServer:
		cfg.AllowOtherUsers = true
	}
	return nil
}

// unixDialError says what a failed dial means and what to do about it.
func unixDialError(t target, o pipeOptions, err error) error {
	var pe *ipc.PeerError
	switch {
	case errors.Is(err, syscall.EPROTOTYPE):
		// A SOCK_SEQPACKET client meets a SOCK_STREAM server, or the
		// other way round (Linux): the modes differ.
		if o.message {
			return fmt.Errorf("dial %s: the server is in byte-stream mode: dial without --message", t)
		}
		return fmt.Errorf("dial %s: the server is in message mode: use --message", t)
	case errors.As(err, &pe) && o.serverUser == "" && !o.anyServer:
		return fmt.Errorf("%w (to connect to another user's server: --server-user %s, or --any-server)", err, pe.Peer.UserID)
	case errors.Is(err, fs.ErrNotExist) && !o.wait:
		return fmt.Errorf("%w (no server listens there: --wait waits for one)", err)
	}
	return dialError(t, o, err)
}

func shellCommandWindows(string) *exec.Cmd { panic("unreachable") }

// isBrokenPipe reports a write or shutdown to a peer that has gone: EPIPE,
// or ENOTCONN, which macOS and FreeBSD's shutdown(SHUT_WR) return once the
// peer has closed (Linux's returns 0).
func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ENOTCONN)
}

func isReset(err error) bool { return errors.Is(err, syscall.ECONNRESET) }

// isReadEnd reports whether a read error is the peer's ordinary end: on
// Unix only io.EOF is.
func isReadEnd(error) bool { return false }

// zeroIsEnd reports whether a zero-length message from c ends the stream:
// not on ipc sockets, whose CloseWrite is a shutdown.
func zeroIsEnd(any) bool { return false }

// modeError says what a read error means in words, where it is a mode
// mismatch.
func modeError(err error) error { return err }

// peerGone reports whether the peer has closed its end entirely, not just
// shut down its writing: then nothing more can be sent to it. Linux marks
// a stream or seqpacket socket whose peer closed with both shutdown bits,
// which poll reports as POLLHUP, while a peer's shutdown(SHUT_WR) gives
// only POLLRDHUP (af_unix.c, unix_release_sock and unix_poll). The BSDs
// report POLLHUP when the socket can neither send nor receive, which is
// the same state (sopoll_generic); macOS is assumed to follow them.
func peerGone(c any) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	gone := false
	err = rc.Control(func(fd uintptr) {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}
		if n, err := unix.Poll(p, 0); err == nil && n > 0 {
			gone = p[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0
		}
	})
	return gone || err != nil
}

// describePeer names the process on the other end, for -v.
func describePeer(c net.Conn) string {
	if ic, ok := c.(*ipc.Conn); ok {
		if cred, err := ic.PeerCredentials(); err == nil {
			return cred.String()
		}
	}
	return c.RemoteAddr().String()
}
