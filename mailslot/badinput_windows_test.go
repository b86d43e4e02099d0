package mailslot

import (
	"errors"
	"io/fs"
	"math"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/handles"
	"github.com/conduit-ipc/conduit/internal/ipcname"
)

// leakFree runs fn once to warm up, then eight times, and fails if the
// handle count grew by one a call (less can be a new runtime thread).
func leakFree(t *testing.T, what string, fn func()) {
	t.Helper()
	fn()
	count := func() int {
		n, err := handles.Owned()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	before := count()
	const n = 8
	for range n {
		fn()
	}
	if after := count(); after-before >= n {
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

// Bad names fail Create and Open with an *os.PathError wrapping ipcname's
// reason; Create takes local names only.
func TestBadInputNames(t *testing.T) {
	for _, b := range []struct {
		name               string
		create, open       error
		skipOpen, skipBoth bool
	}{
		{name: "", create: ipcname.ErrEmpty, open: ipcname.ErrEmpty},
		{name: "a\x00b", create: ipcname.ErrNUL, open: ipcname.ErrNUL},
		{name: `\\.\mailslot\`, create: ipcname.ErrNoName, open: ipcname.ErrNoName},
		{name: `\\.\pipe\x`, create: ipcname.ErrNotPath, open: ipcname.ErrNotPath},
		{name: strings.Repeat("x", MaxNameLength), create: ipcname.ErrTooLong, open: ipcname.ErrTooLong},
		{name: "x.", create: ipcname.ErrBadComponent, open: ipcname.ErrBadComponent},
		// \\.\mailslot\..\C:\x is the file C:\x to CreateFile.
		{name: `..\..\C:\x`, create: ipcname.ErrBadComponent, open: ipcname.ErrBadComponent},
		{name: `\\host\mailslot\x`, create: ipcname.ErrRemote, skipOpen: true},
		{name: `\\*\mailslot\x`, create: ipcname.ErrRemote, skipOpen: true},
	} {
		leakFree(t, "bad name "+strconv.Quote(b.name), func() {
			s, err := Create(b.name)
			if err == nil {
				s.Close()
			}
			wantPathError(t, "Create("+strconv.Quote(b.name)+")", err, b.create)
			if b.skipOpen {
				return // a remote name opens whether or not anyone reads it
			}
			w, err := Open(b.name)
			if err == nil {
				w.Close()
			}
			wantPathError(t, "Open("+strconv.Quote(b.name)+")", err, b.open)
		})
	}
}

// A bad Config fails Create with ErrInvalidConfig before the slot exists.
func TestBadInputConfig(t *testing.T) {
	for what, c := range map[string]Config{
		"MaxMessageSize -1":        {MaxMessageSize: -1},
		"MaxMessageSize MinInt":    {MaxMessageSize: math.MinInt},
		"SDDL that does not parse": {SecurityDescriptor: "not SDDL"},
		"SDDL with NUL":            {SecurityDescriptor: "D:(A;;GA;;;WD)\x00"},
		"SDDL without a DACL":      {SecurityDescriptor: "O:SY"},
		"SDDL of blanks":           {SecurityDescriptor: "  "},
	} {
		name := testName(t)
		leakFree(t, what, func() {
			s, err := c.Create(name)
			if err == nil {
				s.Close()
				t.Errorf("Create with %s succeeded", what)
				return
			}
			wantPathError(t, "Create with "+what, err, ErrInvalidConfig)
		})
		s, err := Create(name)
		if err != nil {
			t.Errorf("after the refused %s, Create(%q): %v", what, name, err)
			continue
		}
		s.Close()
	}
}

// A MaxMessageSize the kernel's 32 bits cannot hold must be refused, not
// cut to its low 32 bits (1<<32 became 0: any size).
func TestMaxMessageSizeTooLarge(t *testing.T) {
	if strconv.IntSize == 32 {
		t.Skip("int is 32 bits: every MaxMessageSize fits")
	}
	past := int64(math.MaxUint32) + 1 // a variable: the constant does not fit a 32-bit int
	c := Config{MaxMessageSize: int(past)}
	s, err := c.Create(testName(t))
	if err == nil {
		info, _ := s.Info()
		s.Close()
		t.Fatalf("Create with MaxMessageSize 1<<32 succeeded: Info %+v", info)
	}
	wantPathError(t, "Create with MaxMessageSize 1<<32", err, ErrInvalidConfig)
}

// Name in use, missing name, closed slot and writer: the documented
// sentinels.
func TestBadInputState(t *testing.T) {
	s, name := create(t, nil)
	leakFree(t, "Create of a name in use", func() {
		s2, err := Create(name)
		if err == nil {
			s2.Close()
		}
		wantPathError(t, "second Create", err, fs.ErrExist)
	})
	missing := testName(t)
	leakFree(t, "Open of a missing name", func() {
		w, err := Open(missing)
		if err == nil {
			w.Close()
		}
		wantPathError(t, "Open of a missing name", err, fs.ErrNotExist)
	})
	w := open(t, name)
	if _, err := w.Write([]byte("still served")); err != nil {
		t.Fatalf("Write after the refused Create: %v", err)
	}
	if msg, err := s.ReadMessage(); err != nil || string(msg) != "still served" {
		t.Fatalf("ReadMessage = %q, %v", msg, err)
	}
	w.Close()
	s.Close()
	_, err := w.Write([]byte("x"))
	wantPathError(t, "Write after Close", err, os.ErrClosed)
	_, err = s.Read(make([]byte, 8))
	wantPathError(t, "Read after Close", err, os.ErrClosed)
	_, err = s.ReadMessage()
	wantPathError(t, "ReadMessage after Close", err, os.ErrClosed)
	_, err = s.Info()
	wantPathError(t, "Info after Close", err, os.ErrClosed)
	wantPathError(t, "SetReadTimeout after Close", s.SetReadTimeout(time.Second), os.ErrClosed)
	wantPathError(t, "SetReadDeadline after Close", s.SetReadDeadline(time.Now()), os.ErrClosed)
}
