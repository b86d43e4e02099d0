package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/conduit-ipc/conduit/internal/winsec"
	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

// listenPipe listens on a named pipe, with every option, or on a Unix
// socket (unix:PATH).
func listenPipe(t target, o pipeOptions) (net.Listener, error) {
	if t.kind == "unix" {
		l, err := net.Listen("unix", t.name)
		return l, unixSocketError(err)
	}
	lc := namedpipe.ListenConfig{MessageMode: o.message, Backlog: o.backlog, SecurityDescriptor: o.sddl}
	if o.oneShot {
		// One instance, so one client: a second finds the pipe busy and
		// waits (then finds no pipe), never an instance that is closed
		// under it with what it wrote.
		lc.MaxInstances, lc.Backlog = 1, 1
	}
	if o.allow != "" {
		if o.sddl != "" {
			return nil, usagef("--allow and --sddl exclude each other: put the principal in the SDDL")
		}
		sddl, err := allowSDDL(o.allow)
		if err != nil {
			return nil, err
		}
		lc.SecurityDescriptor = sddl
	}
	l, err := lc.Listen(t.name)
	if errors.Is(err, namedpipe.ErrInvalidConfig) {
		return nil, usageError{err}
	}
	return l, err
}

// allowSDDL is the default descriptor (this user and LocalSystem, full
// access) with who, a user, group or SID (SDDL aliases such as AU too),
// granted namedpipe.ClientAccess: read and write, not
// FILE_CREATE_PIPE_INSTANCE, so it cannot serve the pipe's clients.
func allowSDDL(who string) (string, error) {
	sid, err := windows.StringToSid(who) // S-1-... and SDDL aliases (AU, BU, ...)
	if err != nil {
		sid, _, _, err = windows.LookupSID("", who)
		if err != nil {
			return "", usagef("--allow %s: no such user, group or SID (%v)", who, err)
		}
	}
	me, err := winsec.CurrentUser()
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("O:%sD:P(A;;GA;;;SY)(A;;GA;;;%s)(A;;%s;;;%s)", me, me, namedpipe.ClientAccessSDDL, sid), nil
}

// dialPipe connects to a named pipe, waiting for a busy one (and, with
// wait, a missing one) until the timeout; or to a Unix socket.
func dialPipe(t target, o pipeOptions) (net.Conn, error) {
	ctx, cancel := dialContext(o)
	defer cancel()
	if t.kind == "unix" {
		var d net.Dialer
		c, err := d.DialContext(ctx, "unix", t.name)
		if err != nil {
			return nil, dialError(t, o, unixSocketError(err))
		}
		return c, nil
	}
	d := namedpipe.DialConfig{WaitForServer: o.wait}
	if o.serverUser != "" {
		sid, err := windows.StringToSid(o.serverUser)
		if err != nil {
			if sid, _, _, err = windows.LookupSID("", o.serverUser); err != nil {
				return nil, usagef("--server-user %s: no such user or SID (%v)", o.serverUser, err)
			}
		}
		d.ExpectedOwner = sid
	}
	c, err := d.Dial(ctx, t.name)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !o.wait {
			return nil, fmt.Errorf("%w (no server listens there: --wait waits for one)", err)
		}
		return nil, dialError(t, o, err)
	}
	if o.message {
		if info, err := c.Info(); err == nil && !info.MessageType {
			c.Close()
			return nil, fmt.Errorf("dial %s: the server's pipe is in byte mode: dial without --message", t)
		}
	}
	return c, nil
}

// unixSocketError says in words that this Windows has no Unix sockets
// (WSAEAFNOSUPPORT: before Windows 10 1803, and under Wine).
func unixSocketError(err error) error {
	if errors.Is(err, windows.WSAEAFNOSUPPORT) {
		return noUnixSockets{err}
	}
	return err
}

// noUnixSockets says so in words; the raw "winapi error #10047" stays
// the wrapped cause.
type noUnixSockets struct{ err error }

func (e noUnixSockets) Error() string {
	return "unix: sockets (AF_UNIX) are not available on this system: Windows 10 1803 and later have them"
}
func (e noUnixSockets) Unwrap() error { return e.err }

// shellCommandWindows runs command through cmd.exe (%ComSpec%, not one
// found on PATH), the command line as it is: /s makes cmd.exe strip just
// the outer quotes added here, whatever quotes command has of its own, and
// /d skips AutoRun commands.
func shellCommandWindows(command string) *exec.Cmd {
	comspec := os.Getenv("ComSpec")
	if comspec == "" {
		comspec = filepath.Join(os.Getenv("SystemRoot"), "System32", "cmd.exe")
	}
	cmd := exec.Command(comspec)
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: `cmd.exe /d /s /c "` + command + `"`}
	endChildrenWithConduit()
	return cmd
}

func isBrokenPipe(err error) bool {
	return errors.Is(err, windows.ERROR_BROKEN_PIPE) || errors.Is(err, windows.ERROR_NO_DATA) ||
		errors.Is(err, windows.ERROR_PIPE_NOT_CONNECTED) || errors.Is(err, syscall.EPIPE)
}

func isReset(err error) bool {
	return errors.Is(err, windows.WSAECONNRESET) || errors.Is(err, syscall.ECONNRESET)
}

// isReadEnd reports whether a read error is the peer's ordinary end: a
// named pipe's peer closing is ERROR_BROKEN_PIPE (ERROR_PIPE_NOT_CONNECTED
// when a server disconnects), which namedpipe already reads as io.EOF.
func isReadEnd(err error) bool {
	return errors.Is(err, windows.ERROR_BROKEN_PIPE) || errors.Is(err, windows.ERROR_PIPE_NOT_CONNECTED)
}

// zeroIsEnd reports whether a zero-length message from c ends the stream:
// on a named pipe, by convention.
func zeroIsEnd(c any) bool {
	_, ok := c.(*namedpipe.Conn)
	return ok
}

// modeError says what a read error means in words, where it is a mode
// mismatch: ReadMessage on a byte pipe.
func modeError(err error) error {
	if errors.Is(err, errors.ErrUnsupported) {
		return fmt.Errorf("the pipe is in byte mode: run without --message (%w)", err)
	}
	return err
}

// peerGone reports whether the peer has closed its end of a named pipe
// entirely: PeekNamedPipe fails with ERROR_BROKEN_PIPE once it has, and
// answers while the peer is there (half-closed or not). For other
// connections it cannot tell, and says no.
func peerGone(c any) bool {
	p, ok := c.(*namedpipe.Conn)
	if !ok {
		return false
	}
	_, err := p.Peek()
	return err != nil
}

// describePeer names the process on the other end, for -v.
func describePeer(c net.Conn) string {
	p, ok := c.(*namedpipe.Conn)
	if !ok {
		return c.RemoteAddr().String()
	}
	if info, err := p.Info(); err == nil && info.ServerEnd {
		s := "client"
		if pid, err := p.ClientProcessID(); err == nil {
			s += fmt.Sprintf(" pid %d", pid)
		}
		if sid, err := p.ClientUser(); err == nil {
			s += ", user " + account(sid) + " (" + sid.String() + ")"
		}
		return s
	}
	s := "server"
	if pid, err := p.ServerProcessID(); err == nil {
		s += fmt.Sprintf(" pid %d", pid)
	}
	if owner := pipeOwner(p); owner != nil {
		s += ", owner " + account(owner) + " (" + owner.String() + ")"
	}
	return s
}

// pipeOwner reads the owner of the pipe c is connected to.
func pipeOwner(c *namedpipe.Conn) *windows.SID {
	rc, err := c.SyscallConn()
	if err != nil {
		return nil
	}
	var owner *windows.SID
	rc.Control(func(h uintptr) {
		sd, err := windows.GetSecurityInfo(windows.Handle(h), windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
		if err == nil {
			if o, _, err := sd.Owner(); err == nil {
				owner, _ = o.Copy()
			}
		}
	})
	return owner
}

var _ = context.Background
