package mailslot

import (
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/ipcname"
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
func FuzzMailslotName(f *testing.F) {
	for _, s := range []string{
		"events", `\\.\mailslot\events`, `//./MAILSLOT/a/b`, `\\?\mailslot\x.`, `\\host\mailslot\x`, `\\*\mailslot\x`,
		`\\.\pipe\x`, `\\.\mailslot\`, "", "a\x00", "x.", `a\..\b`, `..\..\C:\x`, strings.Repeat("x", 300),
		strings.Repeat("x", MaxNameLength-len(`\\.\mailslot\`)), "ünïcode", `a:b`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
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

func isNameError(err error) bool {
	for _, e := range []error{ipcname.ErrEmpty, ipcname.ErrNUL, ipcname.ErrTooLong, ipcname.ErrNotPath,
		ipcname.ErrNoName, ipcname.ErrRemote, ipcname.ErrBadComponent} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
