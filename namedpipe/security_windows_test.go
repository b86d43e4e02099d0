package namedpipe

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/winsec"
	"golang.org/x/sys/windows"
)

// asOtherUser runs fn on a locked thread that impersonates this process's
// token restricted so that its user SID is deny-only: for a DACL's allow
// entries it is no longer this user, only a member of the groups it is in
// (Everyone, Authenticated Users, ...). That is how a test with one account
// plays "another user".
func asOtherUser(t *testing.T, fn func()) {
	t.Helper()
	var primary windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_ALL_ACCESS, &primary); err != nil {
		t.Fatal(err)
	}
	defer primary.Close()
	user, err := winsec.CurrentUserSID()
	if err != nil {
		t.Fatal(err)
	}
	var restricted windows.Token
	disable := windows.SIDAndAttributes{Sid: user}
	if err := nt.CreateRestrictedToken(primary, 0, 1, &disable, 0, nil, 0, nil, &restricted); err != nil {
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
			panic("RevertToSelf: " + err.Error()) // never leave a thread impersonating
		}
	}()
	fn()
}

// TestSecurityEnforced checks the default descriptor and ClientAccess
// against another user: the default keeps it out; a descriptor that grants
// it ClientAccess lets it connect but not create instances of the pipe (and
// so not take the pipe's clients); one that grants GW lets it do both.
// Wine stores descriptors but never enforces them.
func TestSecurityEnforced(t *testing.T) {
	skipOnWine(t, "security descriptors are stored but never enforced: a denying DACL still admits clients")
	user, err := winsec.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	_, def := listen(t, nil)
	asOtherUser(t, func() {
		if c, err := Dial(t.Context(), def); !errors.Is(err, fs.ErrPermission) {
			if c != nil {
				c.Close()
			}
			t.Errorf("another user's Dial of a default pipe = %v, want fs.ErrPermission", err)
		}
	})

	l, name := listen(t, &ListenConfig{SecurityDescriptor: "D:P(A;;GA;;;" + user + ")(A;;" + ClientAccessSDDL + ";;;WD)"})
	asOtherUser(t, func() {
		c, err := Dial(t.Context(), name)
		if err != nil {
			t.Errorf("another user's Dial with ClientAccess granted: %v", err)
		} else {
			c.Close()
		}
		if f, err := l.create(windows.FILE_OPEN); !errors.Is(err, fs.ErrPermission) {
			if f != nil {
				f.Close()
			}
			t.Errorf("another user creating an instance with ClientAccess granted = %v, want fs.ErrPermission", err)
		}
	})

	// GW includes FILE_APPEND_DATA, which on a pipe is
	// FILE_CREATE_PIPE_INSTANCE: what ClientAccess leaves out.
	lw, _ := listen(t, &ListenConfig{SecurityDescriptor: "D:P(A;;GA;;;" + user + ")(A;;GRGW;;;WD)"})
	asOtherUser(t, func() {
		f, err := lw.create(windows.FILE_OPEN)
		if err != nil {
			t.Errorf("another user creating an instance with GW granted: %v; the documented risk is not there", err)
			return
		}
		f.Close()
	})
}

// Listen refuses a descriptor that would keep this process from creating
// the pipe's further instances: Windows checks FILE_CREATE_PIPE_INSTANCE
// for every instance but the first.
func TestListenChecksOwnAccess(t *testing.T) {
	user, err := winsec.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	for _, sddl := range []string{
		"D:P(D;;GA;;;WD)",                       // denies everyone, this process included
		"D:P(A;;" + ClientAccessSDDL + ";;;WD)", // read and write, no instances
		"D:P(A;;" + ClientAccessSDDL + ";;;" + user + ")",
	} {
		l, err := (&ListenConfig{SecurityDescriptor: sddl}).Listen(testPipe(t))
		if !errors.Is(err, ErrInvalidConfig) || !isPathError(err) {
			if l != nil {
				l.Close()
			}
			t.Errorf("Listen with %s = %v, want an *os.PathError wrapping ErrInvalidConfig", sddl, err)
		}
	}
	for _, sddl := range []string{
		"D:P(A;;GA;;;WD)",
		"D:P(A;;GA;;;" + user + ")(A;;" + ClientAccessSDDL + ";;;WD)",
		"D:P(A;;GRGW;;;" + user + ")",
	} {
		l, err := (&ListenConfig{SecurityDescriptor: sddl}).Listen(testPipe(t))
		if err != nil {
			t.Errorf("Listen with %s: %v", sddl, err)
			continue
		}
		l.Close()
	}
}

// A default pipe refuses clients from other machines
// (FILE_PIPE_REJECT_REMOTE_CLIENTS); AllowRemoteClients admits them. A
// client that opens \\<this host>\pipe\name goes through the SMB
// redirector and server, so the pipe sees a remote client.
func TestRemoteClientsRejected(t *testing.T) {
	skipOnWine(t, `\\host\pipe\ names do not resolve (ERROR_PATH_NOT_FOUND): Wine has no SMB redirector for pipes`)
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	remote := func(name string) string { return `\\` + host + `\pipe\` + name }
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	allowed, aname := listen(t, &ListenConfig{AllowRemoteClients: true})
	go func() {
		if c, err := allowed.AcceptPipe(); err == nil {
			c.Close()
		}
	}()
	c, err := Dial(ctx, remote(aname))
	if errors.Is(err, fs.ErrPermission) {
		t.Fatalf("a remote Dial of a pipe that allows remote clients = %v", err)
	}
	if err != nil {
		t.Skipf("no SMB loopback on this machine (the Server service is off?): Dial %s: %v", remote(aname), err)
	}
	c.Close()
	_, name := listen(t, nil)
	if c, err := Dial(ctx, remote(name)); !errors.Is(err, fs.ErrPermission) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("a remote Dial of a default pipe = %v, want fs.ErrPermission (rejected)", err)
	}
}

// The stand-in for another user is what TestSecurityEnforced takes it for:
// the impersonated token's user SID is deny-only.
func TestAsOtherUser(t *testing.T) {
	skipOnWine(t, "CreateRestrictedToken leaves the user SID usable: its attributes read 0, not deny-only (measured)")
	asOtherUser(t, func() {
		var tok windows.Token
		if err := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY, true, &tok); err != nil {
			t.Fatalf("the thread has no token: %v", err)
		}
		defer tok.Close()
		u, err := tok.GetTokenUser()
		if err != nil {
			t.Fatal(err)
		}
		const denyOnly = 0x10 // SE_GROUP_USE_FOR_DENY_ONLY
		if u.User.Attributes&denyOnly == 0 {
			t.Fatalf("the impersonated user SID has attributes %#x, want deny-only", u.User.Attributes)
		}
	})
}
