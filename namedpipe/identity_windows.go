package namedpipe

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// withHandle runs fn with the pipe's handle, kept open meanwhile.
func (c *Conn) withHandle(op string, fn func(h windows.Handle) error) error {
	if err := c.f.Acquire(); err != nil {
		return c.opError(op, err)
	}
	defer c.f.Release()
	return c.opError(op, fn(c.f.Handle()))
}

// ClientProcessID returns the process ID of the pipe's client (what
// GetNamedPipeClientProcessId returns). For a remote client it is the ID of
// the process that relays it, not of the client itself.
func (c *Conn) ClientProcessID() (uint32, error) {
	return c.pipeAttribute("clientpid", "ClientProcessId", windows.GetNamedPipeClientProcessId)
}

// ServerProcessID returns the process ID of the pipe's server (what
// GetNamedPipeServerProcessId returns).
func (c *Conn) ServerProcessID() (uint32, error) {
	return c.pipeAttribute("serverpid", "ServerProcessId", windows.GetNamedPipeServerProcessId)
}

// ClientSessionID returns the Terminal Services session of the pipe's client
// (what GetNamedPipeClientSessionId returns).
func (c *Conn) ClientSessionID() (uint32, error) {
	return c.pipeAttribute("clientsession", "ClientSessionId", nt.GetNamedPipeClientSessionId)
}

// ServerSessionID returns the Terminal Services session of the pipe's server
// (what GetNamedPipeServerSessionId returns).
func (c *Conn) ServerSessionID() (uint32, error) {
	return c.pipeAttribute("serversession", "ServerSessionId", nt.GetNamedPipeServerSessionId)
}

// errNotServer is the error of a server-only method called on a client end.
var errNotServer = errors.New("only the server end of a pipe can do this")

// Impersonate runs fn on a locked OS thread that impersonates the pipe's
// client (FSCTL_PIPE_IMPERSONATE, as ImpersonateNamedPipeClient), so that what fn does is checked
// against the client's rights. Afterwards, even if fn panics, the thread
// gets back the token it had before (the process's own, or the outer
// impersonation of a nested call) and is unlocked. It returns fn's error.
//
// What the server may do as the client depends on the level the client
// dialed with (DialConfig.ImpersonationLevel): with the default,
// Identification, fn can query the client's token but opening secured
// objects as the client fails. Windows requires the client to have sent
// something before it can be impersonated.
//
// fn runs as the client: a Listener's Accept or a server Conn's Close called
// from fn may make the pipe's next instance, and would make it as the
// client. Call them after Impersonate returns.
//
// Should the thread fail to get its token back, Impersonate returns the
// error and leaves the goroutine locked to that thread, so that Go never
// schedules other goroutines on a thread that acts as someone else: the
// thread ends when the goroutine exits. Treat that error as fatal for the
// calling goroutine.
func (c *Conn) Impersonate(fn func() error) (err error) {
	if !c.server {
		return c.opError("impersonate", errNotServer)
	}
	runtime.LockOSThread()
	prev, err := threadToken()
	if err != nil {
		runtime.UnlockOSThread()
		return c.opError("impersonate", err)
	}
	err = c.impersonate()
	if err != nil {
		err = c.opError("impersonate", err)
		if prev != 0 {
			prev.Close()
		}
		runtime.UnlockOSThread()
		return err
	}
	defer func() {
		var rerr error
		if prev != 0 {
			// A nested call: restore the outer impersonation.
			rerr = windows.SetThreadToken(nil, prev)
			prev.Close()
		} else {
			rerr = windows.RevertToSelf()
		}
		if rerr != nil {
			// Stay locked: see the doc comment.
			err = c.opError("impersonate", fmt.Errorf("restoring the thread's token: %w", rerr))
			return
		}
		runtime.UnlockOSThread()
	}()
	return fn()
}

// threadToken returns the calling thread's impersonation token, or 0 if it
// has none.
func threadToken() (windows.Token, error) {
	var t windows.Token
	// OpenAsSelf: open it with the process's rights, not the token's own.
	err := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_IMPERSONATE|windows.TOKEN_QUERY, true, &t)
	if err == windows.ERROR_NO_TOKEN {
		return 0, nil
	}
	return t, err
}

// ClientUser returns the SID of the user the pipe's client runs as, read
// from its token while impersonating it at whatever level it allows (the
// default, Identification, is enough).
func (c *Conn) ClientUser() (*windows.SID, error) {
	var sid *windows.SID
	err := c.Impersonate(func() error {
		t, err := threadToken()
		if err != nil {
			return err
		}
		if t == 0 {
			return errors.New("impersonating the client gave the thread no token")
		}
		defer t.Close()
		u, err := t.GetTokenUser()
		if err != nil {
			return err
		}
		sid, err = u.User.Sid.Copy()
		return err
	})
	if err != nil {
		return nil, c.opError("clientuser", err)
	}
	return sid, nil
}
