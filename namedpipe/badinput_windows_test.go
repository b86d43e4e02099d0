package namedpipe

import (
	"context"
	"errors"
	"io/fs"
	"math"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/ipcname"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// leakFree runs fn once to warm up what the package opens once (the
// completion port, the \Device\NamedPipe\ root, the process token), then
// eight times more, and fails if the handle count grew by one a call. (A
// smaller growth can be the runtime starting a thread, which holds a
// handle.)
func leakFree(t *testing.T, what string, fn func()) {
	t.Helper()
	fn()
	before := handleCount(t)
	const n = 8
	for range n {
		fn()
	}
	if after := handleCount(t); after-before >= n {
		t.Errorf("%s: %d handles before %d calls, %d after: a handle leaks on each", what, before, n, after)
	}
}

func wantPathError(t *testing.T, what string, err error, sentinel error) {
	t.Helper()
	var pe *os.PathError
	if !errors.As(err, &pe) || (sentinel != nil && !errors.Is(err, sentinel)) {
		t.Errorf("%s = %v, want an *os.PathError matching %v", what, err, sentinel)
	}
}

func wantOpError(t *testing.T, what string, err error, sentinel error) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) || (sentinel != nil && !errors.Is(err, sentinel)) {
		t.Errorf("%s = %v, want a *net.OpError matching %v", what, err, sentinel)
	}
}

var badNames = []struct {
	name string
	want error // for Dial; Listen's is the same, or ErrRemote
}{
	{"", ipcname.ErrEmpty},
	{"a\x00b", ipcname.ErrNUL},
	{`\\.\pipe\`, ipcname.ErrNoName},
	{`\\.\mailslot\x`, ipcname.ErrNotPath},
	{`\x`, ipcname.ErrNotPath},
	{`\\.`, ipcname.ErrNotPath},
	{strings.Repeat("x", MaxNameLength), ipcname.ErrTooLong},
	{"x.", ipcname.ErrBadComponent},
	{"x ", ipcname.ErrBadComponent},
	{`a\..\b`, ipcname.ErrBadComponent},
	{`..\..\C:\x`, ipcname.ErrBadComponent},
	{`a\\b`, ipcname.ErrBadComponent},
}

// Each bad name fails Listen, Dial, Call and SecurityDescriptor before any
// system call, with an *os.PathError on the name that wraps ipcname's
// reason, and leaves no handle open.
func TestBadInputNames(t *testing.T) {
	ctx := context.Background()
	for _, b := range badNames {
		leakFree(t, "bad name "+strconv.Quote(b.name), func() {
			l, err := Listen(b.name)
			if err == nil {
				l.Close()
			}
			wantPathError(t, "Listen("+strconv.Quote(b.name)+")", err, b.want)
			c, err := Dial(ctx, b.name)
			if err == nil {
				c.Close()
			}
			wantPathError(t, "Dial("+strconv.Quote(b.name)+")", err, b.want)
			if _, err := Call(ctx, b.name, []byte("x")); err == nil {
				t.Errorf("Call(%q) succeeded", b.name)
			}
			_, err = SecurityDescriptor(b.name)
			wantPathError(t, "SecurityDescriptor("+strconv.Quote(b.name)+")", err, b.want)
		})
	}
	// A server creates local pipes only.
	for _, name := range []string{`\\otherhost\pipe\x`, `\\*\pipe\x`} {
		_, err := Listen(name)
		wantPathError(t, "Listen("+name+")", err, ipcname.ErrRemote)
	}
}

// Every field of ListenConfig out of its documented range fails Listen
// with an *os.PathError matching ErrInvalidConfig, before the pipe exists
// (a later Listen of the same name succeeds), and leaks nothing.
func TestBadInputListenConfig(t *testing.T) {
	bad := map[string]ListenConfig{
		"MaxInstances 255":            {MaxInstances: 255},
		"MaxInstances -1":             {MaxInstances: -1},
		"MaxInstances MinInt":         {MaxInstances: math.MinInt},
		"Backlog -1":                  {Backlog: -1},
		"Backlog past MaxBacklog":     {Backlog: MaxBacklog + 1},
		"Backlog MaxInt":              {Backlog: math.MaxInt}, // made instances until the system ran out
		"Backlog past MaxInstances":   {MaxInstances: 2, Backlog: 3},
		"InputBufferSize -1":          {InputBufferSize: -1},
		"OutputBufferSize MinInt":     {OutputBufferSize: math.MinInt},
		"Direction 3":                 {Direction: 3},
		"Direction -1":                {Direction: -1},
		"SDDL that does not parse":    {SecurityDescriptor: "this is not SDDL"},
		"SDDL with NUL":               {SecurityDescriptor: "D:(A;;GA;;;SY)\x00"},
		"SDDL without a DACL":         {SecurityDescriptor: "O:SY"},
		"SDDL of blanks":              {SecurityDescriptor: " "},
		"CurrentUserOnly and an SDDL": {CurrentUserOnly: true, SecurityDescriptor: "D:(A;;GA;;;WD)"},
	}
	if strconv.IntSize == 64 {
		past := int64(math.MaxUint32) + 1 // a variable: the constant does not fit a 32-bit int
		bad["InputBufferSize past 2^32-1"] = ListenConfig{InputBufferSize: int(past)}
		bad["OutputBufferSize past 2^32-1"] = ListenConfig{OutputBufferSize: int(past)}
	}
	for what, c := range bad {
		name := testPipe(t)
		leakFree(t, what, func() {
			l, err := c.Listen(name)
			if err == nil {
				l.Close()
				t.Errorf("Listen with %s (%+v) succeeded", what, c)
				return
			}
			wantPathError(t, "Listen with "+what, err, ErrInvalidConfig)
		})
		l, err := Listen(name)
		if err != nil {
			t.Errorf("after the refused %s, Listen(%q): %v", what, name, err)
			continue
		}
		l.Close()
	}
}

// DACLs that do not let this process make the pipe's further instances
// are refused with ErrInvalidConfig (Listen checks with AccessCheck).
func TestBadInputListenSDDLEnforced(t *testing.T) {
	skipOnWine(t, "security descriptors are not enforced (AccessCheck grants what a DACL refuses)")
	for _, sddl := range []string{"D:P(A;;GR;;;WD)", "D:P(D;;0x4;;;WD)(A;;GA;;;WD)"} {
		_, err := (&ListenConfig{SecurityDescriptor: sddl}).Listen(testPipe(t))
		wantPathError(t, "Listen with "+sddl, err, ErrInvalidConfig)
	}
}

// A name in use fails Listen with fs.ErrExist and leaves the first
// listener serving.
func TestBadInputNameInUse(t *testing.T) {
	l, name := listen(t, nil)
	leakFree(t, "Listen of a name in use", func() {
		l2, err := Listen(name)
		if err == nil {
			l2.Close()
		}
		wantPathError(t, "second Listen", err, fs.ErrExist)
	})
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := Dial(context.Background(), name)
	if err != nil {
		t.Fatalf("Dial after the refused Listen: %v", err)
	}
	c.Close()
}

// Dial's bad configurations and contexts are *net.OpErrors with their
// reason, and leave nothing open.
func TestBadInputDial(t *testing.T) {
	_, name := listen(t, nil)
	missing := testPipe(t)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	sid, err := windows.StringToSid("S-1-5-18")
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		what string
		d    DialConfig
		ctx  context.Context
		name string
		want error
	}{
		{"a missing pipe", DialConfig{}, context.Background(), missing, fs.ErrNotExist},
		{"ImpersonationLevel 4", DialConfig{ImpersonationLevel: 4}, context.Background(), name, ErrInvalidConfig},
		{"ImpersonationLevel -1", DialConfig{ImpersonationLevel: -1}, context.Background(), name, ErrInvalidConfig},
		{"CurrentUserOnly and ExpectedOwner", DialConfig{CurrentUserOnly: true, ExpectedOwner: sid}, context.Background(), name, ErrInvalidConfig},
		{"a cancelled context", DialConfig{}, cancelled, name, context.Canceled},
		{"an expired context", DialConfig{}, expired, name, context.DeadlineExceeded},
		{"an expired context, waiting for the server", DialConfig{WaitForServer: true}, expired, missing, context.DeadlineExceeded},
	} {
		leakFree(t, "Dial with "+b.what, func() {
			c, err := b.d.Dial(b.ctx, b.name)
			if err == nil {
				c.Close()
			}
			wantOpError(t, "Dial with "+b.what, err, b.want)
		})
	}
}

// ExpectedOwner that does not own the pipe: fs.ErrPermission, and the
// opened handle is closed.
func TestBadInputDialOwner(t *testing.T) {
	l, name := listen(t, nil)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	sid, err := windows.StringToSid("S-1-5-18")
	if err != nil {
		t.Fatal(err)
	}
	leakFree(t, "Dial with someone else as ExpectedOwner", func() {
		c, err := (&DialConfig{ExpectedOwner: sid}).Dial(context.Background(), name)
		if err == nil {
			c.Close()
		}
		wantOpError(t, "Dial with LocalSystem as ExpectedOwner", err, fs.ErrPermission)
	})
}

// NewConn refuses what is not an overlapped pipe handle with a *net.OpError
// and leaves the handle to its caller, open.
func TestBadInputNewConn(t *testing.T) {
	exe, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer exe.Close()
	r, w, err := os.Pipe() // synchronous pipe handles
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	ev, err := windows.CreateEvent(nil, 0, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(ev)
	for _, b := range []struct {
		what string
		h    windows.Handle
		open bool // a real handle the caller still owns
	}{
		{"0", 0, false},
		{"INVALID_HANDLE_VALUE", windows.InvalidHandle, false},
		{"a file", windows.Handle(exe.Fd()), true},
		{"a synchronous pipe", windows.Handle(r.Fd()), true},
		{"an event", ev, true},
	} {
		leakFree(t, "NewConn of "+b.what, func() {
			c, err := NewConn(b.h)
			if err == nil {
				c.Close()
				t.Errorf("NewConn of %s succeeded", b.what)
				return
			}
			wantOpError(t, "NewConn of "+b.what, err, nil)
		})
		if b.open {
			var flags uint32
			if err := nt.GetHandleInformation(b.h, &flags); err != nil {
				t.Errorf("NewConn of %s closed the handle it refused: %v", b.what, err)
			}
		}
	}
}
