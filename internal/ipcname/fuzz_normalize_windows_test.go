package ipcname

import (
	"slices"
	"testing"

	"golang.org/x/sys/windows"
)

// FuzzWin32Normalization checks Parse against Windows' own normalization of
// the paths clients open: every name Parse accepts off the \\?\ host is a
// path that GetFullPathName leaves as it is, so CreateFile opens the very
// name that a server created through its NT path. The paths are compared as
// Windows sees them, in UTF-16: invalid UTF-8 reaches it as U+FFFD on both
// ends alike (testdata holds such a name).
func FuzzWin32Normalization(f *testing.F) {
	for _, s := range []string{
		"myapp", `a\b`, "a/b", "x.", "x ", `a\..\b`, `..\..\C:\x`, `a..\b`, "...", `a .\b`, `x\`, `a\\b`,
		`\\host\pipe\a.\b`, `a:b`, "a\tb", `CON`, `a\nul.txt`, "ünïcode", `a*b?c`,
	} {
		f.Add(s, false)
		f.Add(s, true)
	}
	f.Fuzz(func(t *testing.T, s string, mailslot bool) {
		kind, max := "pipe", 256
		if mailslot {
			kind, max = "mailslot", 260
		}
		n, err := Parse(s, kind, max)
		if err != nil || n.Host == "?" {
			return
		}
		p, err := windows.UTF16PtrFromString(n.Path)
		if err != nil {
			t.Fatalf("Parse(%q) = %+v, not a Windows string: %v", s, n, err)
		}
		buf := make([]uint16, 4*max)
		k, err := windows.GetFullPathName(p, uint32(len(buf)), &buf[0], nil)
		if err != nil {
			t.Fatalf("GetFullPathName(%q): %v", n.Path, err)
		}
		if want := windows.StringToUTF16(n.Path); !slices.Equal(buf[:k], want[:len(want)-1]) {
			t.Fatalf("Parse(%q) = %q, which Windows normalizes to %q", s, n.Path, windows.UTF16ToString(buf[:k]))
		}
	})
}
