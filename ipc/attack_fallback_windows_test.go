package ipc

// Review 16's F5: a client that Windows will not let the server
// impersonate (one that forbids identification, SECURITY_ANONYMOUS) was
// identified by its process ID, which the client can hand to another
// process: its token then lent its user and groups to the built-in check
// and Authorize, and its "right" to push handles.

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// forceNoImpersonation makes every client read as one that cannot be
// impersonated, for one test: Wine yields an impersonation token whatever
// the client asked (its SQOS is ignored), so only this way does Wine take
// the path Windows takes for an anonymous client.
func forceNoImpersonation(t *testing.T) {
	testHookImpersonate = func(error) error { return windows.ERROR_CANT_OPEN_ANONYMOUS }
	t.Cleanup(func() { testHookImpersonate = nil })
}

// acceptAndClose accepts one client on l and closes it at once, and says
// whether Accept returned one before l was closed.
func acceptAndClose(l *Listener) <-chan bool {
	accepted := make(chan bool, 1)
	go func() {
		c, err := l.AcceptIPC()
		if err == nil {
			c.Close()
		}
		accepted <- err == nil
	}()
	return accepted
}

// With AllowOtherUsers or Authorize, a client identified only by its
// process ID is refused: Accept closes it and goes on to the next. Before
// the fix it was admitted with that process's identity.
func TestPIDFallbackRefused(t *testing.T) {
	forceNoImpersonation(t)
	for name, cfg := range map[string]Config{
		"AllowOtherUsers": {AllowOtherUsers: true},
		"Authorize":       {Authorize: func(Credentials) error { return nil }},
	} {
		t.Run(name, func(t *testing.T) {
			l, addr := listen(t, &cfg)
			accepted := acceptAndClose(l)
			var dc Config
			c, err := dc.Dial(t.Context(), addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(watchdog))
			var b [1]byte
			if _, err := c.Read(b[:]); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the unidentified client's read = %v, want the server to have closed it", err)
			}
			l.Close()
			if <-accepted {
				t.Fatal("Accept returned a client identified by its process ID alone")
			}
		})
	}
}

// A client identified by its process ID may never push a handle: a file
// item whose value is one of this process's own handles fails ReadMessage
// with fs.ErrPermission and the handle stays open. (The default Config
// still admits the client: its DACL lets this user alone open the pipe.)
// Before the fix the token of whatever process had the PID decided, and
// the value was wrapped as a received file.
func TestPIDFallbackNoPush(t *testing.T) {
	forceNoImpersonation(t)
	pushRefused(t, "a client identified by its PID")
}

// A real client that forbids identification (CreateFile with
// SECURITY_SQOS_PRESENT|SECURITY_ANONYMOUS, as go-winio dials) is refused
// by a server that admits other users.
func TestAnonymousClientRefused(t *testing.T) {
	if nt.Wine() {
		t.Skip("wine: client SQOS is ignored: every client yields an impersonation-level token")
	}
	l, addr := listen(t, &Config{AllowOtherUsers: true})
	accepted := acceptAndClose(l)
	p, err := windows.UTF16PtrFromString(addr)
	if err != nil {
		t.Fatal(err)
	}
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING, windows.SECURITY_SQOS_PRESENT|windows.SECURITY_ANONYMOUS, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(h)
	var b [1]byte
	var n uint32
	if err := windows.ReadFile(h, b[:], &n, nil); err == nil {
		t.Fatalf("the anonymous client read %d bytes: want the server to have closed it", n)
	}
	l.Close()
	if <-accepted {
		t.Fatal("Accept returned a client that forbade identification, to a server admitting other users")
	}
}

// Review 16's F6: a client of this user at this integrity that this
// process's DACL forbids PROCESS_DUP_HANDLE (as browsers and password
// managers harden theirs against their own user), so that it cannot have
// put a handle here, may not push one: the access check (dupAccess) says
// no, where the rule of user and integrity level alone said yes. The
// client's file item holds one of this process's own handles: ReadMessage
// fails with fs.ErrPermission and the handle stays open. Before the fix
// the value was wrapped as a received file.
func TestPushDeniedByDACL(t *testing.T) {
	me := myUserID(t)
	proc := windows.CurrentProcess()
	orig, err := windows.GetSecurityInfo(proc, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	origDACL, _, err := orig.DACL()
	if err != nil {
		t.Fatal(err)
	}
	hard, err := windows.SecurityDescriptorFromString("D:(D;;0x40;;;" + me + ")(A;;0x1fffff;;;" + me + ")(A;;0x1fffff;;;SY)")
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := hard.DACL()
	if err != nil {
		t.Fatal(err)
	}
	if err := windows.SetSecurityInfo(proc, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, dacl, nil); err != nil {
		t.Fatal(err)
	}
	defer windows.SetSecurityInfo(proc, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION, nil, nil, origDACL, nil)
	if now, err := windows.GetSecurityInfo(proc, windows.SE_KERNEL_OBJECT, windows.DACL_SECURITY_INFORMATION); err != nil || !strings.Contains(now.String(), "(D;;") {
		if nt.Wine() {
			t.Skipf("wine: a process's DACL as set does not read back (%v, %v)", now, err)
		}
		t.Fatalf("this process's DACL as set reads back as %v, %v", now, err)
	}
	pushRefused(t, "a peer this process's DACL forbids PROCESS_DUP_HANDLE")
}

// pushRefused has a client of a message-mode pair send a file item whose
// value is one of this process's own handles: ReadMessage must fail with
// fs.ErrPermission and the handle stay open. who names the client in a
// failure.
func pushRefused(t *testing.T, who string) {
	t.Helper()
	own, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	h := windows.Handle(own.Fd())
	server, client := pair(t, &Config{MessageMode: true})
	var v [8]byte
	binary.LittleEndian.PutUint64(v[:], uint64(h))
	client.wmu.Lock()
	err = client.writeLocked(msgFile, v[:])
	client.wmu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	server.SetReadDeadline(time.Now().Add(watchdog))
	if m, err := server.ReadMessage(); !errors.Is(err, fs.ErrPermission) {
		if f, ferr := server.ReceiveFile(); ferr == nil {
			f.Close()
			t.Fatalf("a file item from %s was taken: ReadMessage = %v, and ReceiveFile wrapped this process's handle %#x", who, err, h)
		}
		t.Fatalf("ReadMessage of a file item from %s = %q, %v; want fs.ErrPermission", who, m, err)
	}
	server.Close()
	if _, err := windows.GetFileType(h); err != nil {
		t.Fatalf("this process's handle %#x was closed: %v", h, err)
	}
}
