package winio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

type closeWriter interface{ CloseWrite() error }

// Message pipes read as a byte stream on both ends, as go-winio reads them:
// one Read takes as many queued messages as fit. namedpipe alone would
// return one message per Read.
func TestMessagePipeReadsBytes(t *testing.T) {
	cfg := &PipeConfig{MessageMode: true, InputBufferSize: 1 << 16, OutputBufferSize: 1 << 16}
	client, server := connPair(t, cfg)
	for _, w := range []struct {
		name     string
		from, to net.Conn
	}{{"server to client", server, client}, {"client to server", client, server}} {
		for _, m := range []string{"hello", "world"} {
			if _, err := w.from.Write([]byte(m)); err != nil {
				t.Fatal(err)
			}
		}
		buf := make([]byte, 100)
		n, err := io.ReadAtLeast(w.to, buf, 1)
		if err != nil {
			t.Fatal(err)
		}
		if got := string(buf[:n]); got != "helloworld" {
			t.Errorf("%s: one Read of two queued messages = %q, want %q (byte read mode)", w.name, got, "helloworld")
		}
	}
}

// go-winio's TestMessageReadMode, through Fd instead of go-winio's
// unexported type: a client that switches its handle to message read mode
// reads a message a byte at a time (ERROR_MORE_DATA is success), then
// io.EOF.
func TestMessageReadModeSwitched(t *testing.T) {
	l, path := listenPipe(t, &PipeConfig{MessageMode: true})
	msg := []byte("hello world")
	done := make(chan error, 1)
	go func() {
		s, err := l.Accept()
		if err == nil {
			_, err = s.Write(msg)
			s.Close()
		}
		done <- err
	}()
	c, err := DialPipe(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fd, ok := c.(interface{ Fd() uintptr })
	if !ok {
		t.Fatalf("%T has no Fd", c)
	}
	mode := uint32(windows.PIPE_READMODE_MESSAGE)
	if err := windows.SetNamedPipeHandleState(windows.Handle(fd.Fd()), &mode, nil, nil); err != nil {
		t.Fatal(err)
	}
	var got []byte
	b := make([]byte, 1)
	for {
		n, err := c.Read(b)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if n != 1 {
			t.Fatalf("Read = %d, want 1", n)
		}
		got = append(got, b[0])
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("read %q, want %q", got, msg)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// CloseWrite on message pipes only, as go-winio: a second CloseWrite and a
// Write after it fail with io.ErrClosedPipe; the peer reads io.EOF, and
// keeps reading io.EOF; the other direction goes on. Byte pipes have no
// CloseWrite.
func TestCloseWrite(t *testing.T) {
	client, server := connPair(t, &PipeConfig{MessageMode: true, InputBufferSize: 1 << 16, OutputBufferSize: 1 << 16})
	cw, ok := client.(closeWriter)
	if !ok {
		t.Fatalf("a message pipe's %T has no CloseWrite", client)
	}
	if _, err := client.Write([]byte("last")); err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- cw.CloseWrite() }() // waits for the server to read "last"
	b := make([]byte, 10)
	if n, err := server.Read(b); err != nil || string(b[:n]) != "last" {
		t.Fatalf("server Read = %q, %v", b[:n], err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if n, err := server.Read(b); n != 0 || err != io.EOF {
			t.Fatalf("server Read %d after CloseWrite = %d, %v, want 0, io.EOF", i, n, err)
		}
	}
	if err := cw.CloseWrite(); err != io.ErrClosedPipe {
		t.Errorf("second CloseWrite = %v, want io.ErrClosedPipe", err)
	}
	if _, err := client.Write([]byte("x")); err != io.ErrClosedPipe {
		t.Errorf("Write after CloseWrite = %v, want io.ErrClosedPipe", err)
	}
	go server.Write([]byte("reply"))
	if n, err := client.Read(b); err != nil || string(b[:n]) != "reply" {
		t.Errorf("client Read after its CloseWrite = %q, %v", b[:n], err)
	}

	bc, bs := connPair(t, nil)
	for _, c := range []net.Conn{bc, bs} {
		if _, ok := c.(closeWriter); ok {
			t.Errorf("a byte pipe's %T has CloseWrite; go-winio's has not", c)
		}
		if _, ok := c.(PipeConn); !ok {
			t.Errorf("%T is not a PipeConn", c)
		}
	}
}

// The errors a go-winio program tests for, with ==, errors.Is and the os
// predicates.
func TestErrorsAsGoWinio(t *testing.T) {
	missing := testPipe(t)
	_, err := DialPipe(missing, nil)
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "open" || pe.Path != missing || !os.IsNotExist(err) || !errors.Is(err, windows.ERROR_FILE_NOT_FOUND) {
		t.Errorf("DialPipe of a missing pipe = %#v, want *os.PathError{Op: open} with ERROR_FILE_NOT_FOUND, os.IsNotExist", err)
	}

	l, path := listenPipe(t, nil)
	l2, err := ListenPipe(path, nil)
	if !errors.As(err, &pe) || pe.Op != "open" || !os.IsPermission(err) || !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		if l2 != nil {
			l2.Close()
		}
		t.Errorf("ListenPipe of a name in use = %v, want *os.PathError{Op: open} with ERROR_ACCESS_DENIED, os.IsPermission", err)
	}
	if a := l.Addr(); a.Network() != "pipe" || a.String() != path {
		t.Errorf("Addr = %s %q, want pipe %q", a.Network(), a, path)
	}

	client, server := connPair(t, nil)
	if a := client.RemoteAddr(); a.Network() != "pipe" || !strings.HasPrefix(a.String(), `\\.\pipe\`) {
		t.Errorf("RemoteAddr = %s %q", a.Network(), a)
	}
	client.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err = client.Read(make([]byte, 1))
	var ne net.Error
	if err != ErrTimeout || !errors.Is(err, os.ErrDeadlineExceeded) || !errors.Is(err, context.DeadlineExceeded) ||
		!errors.As(err, &ne) || !ne.Timeout() {
		t.Errorf("Read past its deadline = %v, want ErrTimeout itself, matching os.ErrDeadlineExceeded and context.DeadlineExceeded", err)
	}
	client.SetReadDeadline(time.Time{})
	go server.Write([]byte("x")) // waits for the read: no buffering by default
	if n, err := client.Read(make([]byte, 1)); n != 1 || err != nil {
		t.Errorf("Read after a deadline passed and was cleared = %d, %v: the connection should stay usable", n, err)
	}

	if err := client.Close(); err != nil {
		t.Errorf("Close = %v", err)
	}
	if err := client.Close(); err != nil {
		t.Errorf("second Close = %v, want nil as go-winio's", err)
	}
	if _, err := client.Read(make([]byte, 1)); err != ErrFileClosed {
		t.Errorf("Read after Close = %v, want ErrFileClosed (os.ErrClosed) itself", err)
	}
	if _, err := client.Write([]byte("x")); err != ErrFileClosed {
		t.Errorf("Write after Close = %v, want ErrFileClosed itself", err)
	}
	if n, err := server.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Errorf("server Read after the client's Close = %d, %v, want io.EOF", n, err)
	}
	if err := client.(PipeConn).Disconnect(); err == nil {
		t.Errorf("Disconnect of a closed client end succeeded")
	}
}

// A busy pipe (nobody accepting: the listener has only its placeholder,
// which takes no client) is waited for, as go-winio waits: DialPipe until its timeout, 2 s by default, then
// ErrTimeout; DialPipeContext until the context ends, then the context's
// error itself. The waits hold no OS thread each.
func TestDialBusyPipe(t *testing.T) {
	_, path := listenPipe(t, nil)

	d := 20 * time.Millisecond
	if c, err := DialPipe(path, &d); err != ErrTimeout {
		if c != nil {
			c.Close()
		}
		t.Errorf("DialPipe of a busy pipe = %v, want ErrTimeout", err)
	}
	start := time.Now()
	if c, err := DialPipe(path, nil); err != ErrTimeout {
		if c != nil {
			c.Close()
		}
		t.Errorf("DialPipe(nil) of a busy pipe = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el < 1900*time.Millisecond {
		t.Errorf("DialPipe(nil) gave up after %v, want go-winio's 2 s", el)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := DialPipeContext(ctx, path); err != context.DeadlineExceeded {
		t.Errorf("DialPipeContext past its deadline = %v, want context.DeadlineExceeded itself", err)
	}
	// The same through the path for other access masks, which polls.
	if _, err := DialPipeAccess(ctx, path, windows.GENERIC_READ); err != context.DeadlineExceeded {
		t.Errorf("DialPipeAccess(GENERIC_READ) past its deadline = %v, want context.DeadlineExceeded itself", err)
	}

	// Blocked Dials, cancelled: each returns context.Canceled, and
	// together they add (nearly) no OS threads.
	const n = 32
	threads0 := pprof.Lookup("threadcreate").Count()
	cctx, ccancel := context.WithCancel(context.Background())
	errs := make(chan error, 2*n)
	for i := range 2 * n {
		go func() {
			var err error
			if i%2 == 0 {
				_, err = DialPipeContext(cctx, path)
			} else {
				_, err = DialPipeAccess(cctx, path, windows.GENERIC_READ|windows.GENERIC_WRITE|windows.READ_CONTROL)
			}
			errs <- err
		}()
	}
	// Let them reach their waits: a Dial that had not would not block a
	// thread either, so this only makes the count meaningful.
	time.Sleep(200 * time.Millisecond)
	grew := pprof.Lookup("threadcreate").Count() - threads0
	ccancel()
	for range 2 * n {
		if err := <-errs; err != context.Canceled {
			t.Errorf("a cancelled DialPipeContext = %v, want context.Canceled itself", err)
		}
	}
	if grew > n/4 {
		t.Errorf("%d Dials waiting for a busy pipe created %d OS threads", 2*n, grew)
	}
}

// DialPipeAccess opens with exactly the access asked for: a read-only
// client reads but may not write; a client that asks for more than read
// and write (READ_CONTROL) gets a full connection, CloseWrite included.
func TestDialPipeAccess(t *testing.T) {
	l, path := listenPipe(t, &PipeConfig{MessageMode: true, InputBufferSize: 1 << 16, OutputBufferSize: 1 << 16})
	type res struct {
		c   net.Conn
		err error
	}
	accepted := make(chan res, 2)
	go func() {
		for range 2 {
			c, err := l.Accept()
			accepted <- res{c, err}
		}
	}()
	ctx := context.Background()
	ro, err := DialPipeAccess(ctx, path, windows.GENERIC_READ)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	r := <-accepted
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	if _, err := r.c.Write([]byte("to reader")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 64)
	if n, err := ro.Read(b); err != nil || string(b[:n]) != "to reader" {
		t.Errorf("read-only client Read = %q, %v", b[:n], err)
	}
	if _, err := ro.Write([]byte("x")); !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
		t.Errorf("read-only client Write = %v, want ERROR_ACCESS_DENIED", err)
	}

	rw, err := DialPipeAccessImpLevel(ctx, path, windows.GENERIC_READ|windows.GENERIC_WRITE|windows.READ_CONTROL, PipeImpLevelIdentification)
	if err != nil {
		t.Fatal(err)
	}
	defer rw.Close()
	r = <-accepted
	if r.err != nil {
		t.Fatal(r.err)
	}
	defer r.c.Close()
	if _, err := rw.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	cw, ok := rw.(closeWriter)
	if !ok {
		t.Fatalf("%T on a message pipe has no CloseWrite", rw)
	}
	errc := make(chan error, 1)
	go func() { errc <- cw.CloseWrite() }()
	got, err := io.ReadAll(r.c)
	if err != nil || string(got) != "ping" {
		t.Errorf("server read %q, %v; want ping, then io.EOF from CloseWrite", got, err)
	}
	if err := <-errc; err != nil {
		t.Errorf("CloseWrite = %v", err)
	}
}

// The default descriptor is go-winio's (RtlDefaultNpAcl's) without its
// read access for Everyone and Anonymous Logon.
func TestDefaultSecurityDescriptor(t *testing.T) {
	l, path := listenPipe(t, nil)
	// SecurityDescriptor connects for a moment: an Accept must wait for
	// the pipe to take it. It skips the client, which writes nothing, and
	// ends with the listener.
	go l.Accept()
	var sddl string
	var err error
	for deadline := time.Now().Add(20 * time.Second); ; {
		sddl, err = namedpipe.SecurityDescriptor(path)
		if !errors.Is(err, windows.ERROR_PIPE_BUSY) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond) // until the Accept's instance listens
	}
	if err != nil {
		t.Fatal(err)
	}
	owner, err := tokenOwner()
	if err != nil {
		t.Fatal(err)
	}
	for _, who := range []string{"SY", "BA", owner} {
		if !strings.Contains(sddl, ";;;"+who+")") && !(who != "SY" && who != "BA" && strings.Contains(sddl, ";;;OW)")) {
			t.Errorf("default descriptor %s grants %s nothing", sddl, who)
		}
	}
	for _, who := range []string{"WD", "AN", "AU", "BU"} {
		if strings.Contains(sddl, ";;;"+who+")") {
			t.Errorf("default descriptor %s grants %s access", sddl, who)
		}
	}
}

// asOtherUser runs fn on a locked thread that impersonates this process's
// token with its user and the Administrators group deny-only: for a DACL's
// allow entries it is then another, unprivileged user of the machine, a
// member of Everyone and Authenticated Users.
func asOtherUser(t *testing.T, fn func()) {
	t.Helper()
	var primary windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ALL_ACCESS, &primary); err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	u, err := primary.GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	admins, err := windows.CreateWellKnownSid(windows.WinBuiltinAdministratorsSid)
	if err != nil {
		t.Fatal(err)
	}
	disable := []windows.SIDAndAttributes{{Sid: u.User.Sid}, {Sid: admins}}
	var restricted windows.Token
	if err := nt.CreateRestrictedToken(primary, 0, uint32(len(disable)), &disable[0], 0, nil, 0, nil, &restricted); err != nil {
		t.Fatalf("CreateRestrictedToken: %v", err)
	}
	defer restricted.Close()
	var imp windows.Token
	if err := windows.DuplicateTokenEx(restricted, windows.TOKEN_IMPERSONATE|windows.TOKEN_QUERY, nil,
		windows.SecurityImpersonation, windows.TokenImpersonation, &imp); err != nil {
		t.Fatalf("DuplicateTokenEx: %v", err)
	}
	defer imp.Close()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := windows.SetThreadToken(nil, imp); err != nil {
		t.Fatalf("SetThreadToken: %v", err)
	}
	defer func() {
		if err := windows.RevertToSelf(); err != nil {
			panic("RevertToSelf: " + err.Error())
		}
	}()
	fn()
}

// The attack that go-winio's default lets through: another user opens the
// pipe for reading only, takes an instance and reads what the server
// writes to it. Against winio's default it is refused; against go-winio's
// default DACL, spelt out in SDDL, it gets in (so the test can tell).
func TestDefaultSecurityKeepsOtherUsersOut(t *testing.T) {
	skipOnWine(t, "security descriptors are stored but never enforced; restricted tokens keep the user SID usable")
	owner, err := tokenOwner()
	if err != nil {
		t.Fatal(err)
	}
	goWinioDefault := "D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;" + owner + ")(A;;GR;;;WD)(A;;GR;;;AN)"
	_, def := listenPipe(t, nil)
	_, open := listenPipe(t, &PipeConfig{SecurityDescriptor: goWinioDefault})
	ctx := context.Background()
	asOtherUser(t, func() {
		for _, access := range []uint32{windows.GENERIC_READ, windows.GENERIC_READ | windows.GENERIC_WRITE} {
			if c, err := DialPipeAccess(ctx, def, access); !errors.Is(err, windows.ERROR_ACCESS_DENIED) || !os.IsPermission(err) {
				if c != nil {
					c.Close()
				}
				t.Errorf("another user's DialPipeAccess(%#x) of a default pipe = %v, want ERROR_ACCESS_DENIED", access, err)
			}
		}
		c, err := DialPipeAccess(ctx, open, windows.GENERIC_READ)
		if err != nil {
			t.Errorf("another user's read-only Dial of a pipe with go-winio's default DACL = %v; the attack the default prevents is not there", err)
			return
		}
		c.Close()
	})
}

// The impersonation level a client grants reaches the server: the token
// the server's thread gets from ImpersonateNamedPipeClient has it.
func TestImpersonationLevels(t *testing.T) {
	skipOnWine(t, "client SQOS is ignored: every client yields an impersonation-level token")
	l, path := listenPipe(t, nil)
	for _, tc := range []struct {
		level PipeImpLevel
		want  uint32
	}{
		{PipeImpLevelIdentification, windows.SecurityIdentification},
		{PipeImpLevelImpersonation, windows.SecurityImpersonation},
	} {
		accepted := make(chan net.Conn, 1)
		go func() {
			c, err := l.Accept()
			if err != nil {
				close(accepted)
				return
			}
			accepted <- c
		}()
		c, err := DialPipeAccessImpLevel(context.Background(), path, windows.GENERIC_READ|windows.GENERIC_WRITE, tc.level)
		if err != nil {
			t.Fatal(err)
		}
		s, ok := <-accepted
		if !ok {
			t.Fatal("Accept failed")
		}
		// ImpersonateNamedPipeClient needs data to have been read.
		c.Write([]byte("x"))
		s.Read(make([]byte, 1))
		level, err := clientLevel(windows.Handle(s.(interface{ Fd() uintptr }).Fd()))
		if err != nil {
			t.Errorf("level %#x: %v", tc.level, err)
		} else if level != tc.want {
			t.Errorf("client dialled at %#x: the server's impersonation token has level %d, want %d", tc.level, level, tc.want)
		}
		c.Close()
		s.Close()
	}
}

// clientLevel impersonates the client of server end h on a locked thread
// and returns its token's impersonation level.
func clientLevel(h windows.Handle) (uint32, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if err := nt.ImpersonateNamedPipeClient(h); err != nil {
		return 0, err
	}
	defer windows.RevertToSelf()
	var tok windows.Token
	if err := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &tok); err != nil {
		return 0, err
	}
	defer tok.Close()
	var level, n uint32
	err := windows.GetTokenInformation(tok, windows.TokenImpersonationLevel, (*byte)(unsafe.Pointer(&level)), 4, &n)
	return level, err
}

// A descriptor that does not let this process create the pipe's further
// instances with read and write access fails ListenPipe (go-winio's
// ListenPipe succeeds and its first Accept fails: interop's
// TestWinioRestrictedSDCannotAccept); one that does is accepted.
func TestListenPipeRefusesServerlessSD(t *testing.T) {
	path := testPipe(t)
	l, err := ListenPipe(path, &PipeConfig{SecurityDescriptor: "D:P(A;;0x1200FF;;;WD)"})
	var pe *os.PathError
	if !errors.As(err, &pe) || pe.Op != "open" || !errors.Is(err, namedpipe.ErrInvalidConfig) {
		if l != nil {
			l.Close()
		}
		t.Errorf("ListenPipe with a descriptor that denies the server write access = %v, want an *os.PathError matching namedpipe.ErrInvalidConfig", err)
	}
	l, err = ListenPipe(path, &PipeConfig{SecurityDescriptor: "D:P(A;;GA;;;WD)"})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}
