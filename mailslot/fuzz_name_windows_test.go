package mailslot

import (
	"errors"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/ipcname"
	"golang.org/x/sys/windows"
)

// FuzzMailslotName gives Create and Open any name. A name they refuse is an
// *os.PathError on the name as given, wrapping one of ipcname's errors: a
// remote (\\host\) or broadcast (\\*\) one for Create, which makes local
// slots only. A local name that Create takes (or that is in use: fs.ErrExist)
// is the slot's \\.\mailslot\ (or \\?\mailslot\) path, which Open reaches by
// the name and by the path alike: a message written there is read back, and
// once the slot is closed, Open fails with fs.ErrNotExist. Remote and
// broadcast names are only parsed: opening them sends datagrams to the
// network.
//
// A local name is the machine's, and go test -fuzz runs its workers as
// processes of one machine (under Wine, of one server), so each call holds
// a lock of the machine's (nameLock): without it, one worker's slot closed
// and another's made under the same name made the first one's Open after
// Close succeed. Seen once in make test (the input `"`); two processes of one
// server running that input 3,000 times each failed so 77 and 81 times in
// two tries, and 0 times in three with the lock.
func FuzzMailslotName(f *testing.F) {
	for _, s := range []string{
		"events", `\\.\mailslot\events`, `//./MAILSLOT/a/b`, `\\?\mailslot\x.`, `\\host\mailslot\x`, `\\*\mailslot\x`,
		`\\.\pipe\x`, `\\.\mailslot\`, "", "a\x00", "x.", `a\..\b`, `..\..\C:\x`, strings.Repeat("x", 300),
		strings.Repeat("x", MaxNameLength-len(`\\.\mailslot\`)), "ünïcode", `a:b`,
	} {
		f.Add(s)
	}
	lock := nameLock(f)
	f.Fuzz(func(t *testing.T, s string) {
		defer lock(t)()
		n, perr := ipcname.Parse(s, "mailslot", MaxNameLength)
		c := Config{ReadTimeout: 5 * time.Second} // a lost message fails, not hangs
		slot, err := c.Create(s)
		if err != nil {
			var pe *os.PathError
			switch {
			case !errors.As(err, &pe):
				t.Fatalf("Create(%q) = %v, not an *os.PathError", s, err)
			case perr != nil && (pe.Path != s || !isNameError(err)):
				t.Fatalf("Create(%q) = %v; the name does not parse (%v)", s, err, perr)
			case perr == nil && !n.Local() && !errors.Is(err, ipcname.ErrRemote):
				t.Fatalf("Create(%q) = %v, want ErrRemote for host %q", s, err, n.Host)
			case perr == nil && n.Local() && !errors.Is(err, fs.ErrExist):
				t.Fatalf("Create(%q) of the local %+v: %v", s, n, err)
			}
		}
		if perr != nil {
			if w, err := Open(s); err == nil || !isNameError(err) {
				if err == nil {
					w.Close()
				}
				t.Fatalf("Open(%q) = %v; the name does not parse (%v)", s, err, perr)
			}
			return
		}
		if slot == nil {
			return
		}
		defer slot.Close()
		if slot.Name() != n.Path {
			t.Fatalf("Create(%q).Name() = %q, want %q", s, slot.Name(), n.Path)
		}
		for _, name := range []string{s, slot.Name()} {
			w, err := Open(name)
			if err != nil {
				t.Fatalf("Open(%q) of the slot %q: %v", name, slot.Name(), err)
			}
			_, err = w.Write([]byte(name))
			w.Close()
			if err != nil {
				t.Fatalf("Write to %q: %v", name, err)
			}
			if msg, err := slot.ReadMessage(); err != nil || string(msg) != name {
				t.Fatalf("slot %q read %q, %v; want %q", slot.Name(), msg, err, name)
			}
		}
		if err := slot.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if w, err := Open(s); !errors.Is(err, fs.ErrNotExist) {
			if err == nil {
				w.Close()
			}
			t.Fatalf("Open(%q) after Close = %v, want fs.ErrNotExist", s, err)
		}
	})
}

// nameLock opens the mutex Global\conduit-FuzzMailslotName (the global
// namespace, as mailslot names are the machine's, not a session's; making
// a mutex there needs no privilege) and returns a function that takes it,
// on the calling goroutine's OS thread (a mutex is owned by a thread), and
// returns the function that lets it go. A mutex whose holder died
// (WAIT_ABANDONED) is taken as it is: the dead worker's slots went with it.
// The wait is bounded below the 10 s that Go's fuzzing worker allows one
// call before it reports the input as a hang (internal/fuzz): a worker that
// stuck holding the lock is reported by its own watchdog, and one that
// waited for it skips its input rather than be blamed for it.
func nameLock(f *testing.F) func(t *testing.T) (unlock func()) {
	// x/sys returns ERROR_ALREADY_EXISTS with the handle when another
	// process made the mutex first: the case this lock is for.
	h, err := windows.CreateMutex(nil, false, windows.StringToUTF16Ptr(`Global\conduit-FuzzMailslotName`))
	if err != nil && !errors.Is(err, windows.ERROR_ALREADY_EXISTS) {
		f.Fatalf("CreateMutex: %v", err)
	}
	f.Cleanup(func() { windows.CloseHandle(h) })
	const wait = 5 * time.Second
	return func(t *testing.T) func() {
		t.Helper()
		runtime.LockOSThread()
		ev, err := windows.WaitForSingleObject(h, uint32(wait/time.Millisecond))
		switch {
		case err == nil && ev == uint32(windows.WAIT_TIMEOUT):
			runtime.UnlockOSThread()
			t.Skipf("another process held the name lock for %v", wait)
		case err != nil || (ev != windows.WAIT_OBJECT_0 && ev != windows.WAIT_ABANDONED):
			runtime.UnlockOSThread()
			t.Fatalf("waiting for the name lock: %#x, %v", ev, err)
		}
		return func() {
			if err := windows.ReleaseMutex(h); err != nil {
				t.Errorf("ReleaseMutex: %v", err)
			}
			runtime.UnlockOSThread()
		}
	}
}

func isNameError(err error) bool {
	for _, e := range []error{ipcname.ErrEmpty, ipcname.ErrNUL, ipcname.ErrTooLong, ipcname.ErrNotPath,
		ipcname.ErrNoName, ipcname.ErrRemote, ipcname.ErrBadComponent} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
