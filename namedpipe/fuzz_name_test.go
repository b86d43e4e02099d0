package namedpipe

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf16"

	"github.com/conduit-ipc/conduit/internal/ipcname"
)

// FuzzPipeName checks how a pipe name becomes a path, as Dial (parseName)
// and Listen (ipcname.ParseLocal with the same limit) do it, for any input:
// no panic; the same answer twice; a refusal is one of ipcname's errors
// (which Listen and Dial wrap in *os.PathError); an accepted name is a
// \\host\pipe\ path within MaxNameLength whose Addr reports it, that parses
// to itself, and whose NT name (\??\pipe\ + Name, what Listen creates) holds
// no NUL; a short name is \\.\pipe\ plus the name, slashes made backslashes;
// and Listen accepts exactly the local names that Dial accepts.
func FuzzPipeName(f *testing.F) {
	for _, s := range []string{
		"myapp", `\\.\pipe\myapp`, `//./PIPE/myapp`, `\\.\pipe\a\b`, `\\host\pipe\x`, `\\?\pipe\x.`,
		`\\.\mailslot\x`, `\\.\pipe\`, `\\.\pipe`, `\\`, "", "a\x00", "a/b", "x.", `a\..\b`, `\\*\pipe\x`,
		strings.Repeat("x", MaxNameLength-len(`\\.\pipe\`)), strings.Repeat("x", MaxNameLength-len(`\\.\pipe\`)+1),
		strings.Repeat("é", 124), strings.Repeat("😀", 62), "\xff", `\\.\pipe\C:\x`, `\/./pipe/x`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := parseName(s)
		n2, err2 := parseName(s)
		if n != n2 || (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("parseName(%q) = %+v, %v, then %+v, %v", s, n, err, n2, err2)
		}
		local, lerr := ipcname.ParseLocal(s, "pipe", MaxNameLength)
		if err != nil {
			if !isNameError(err) {
				t.Fatalf("parseName(%q) = %v: not one of ipcname's errors", s, err)
			}
			if lerr == nil {
				t.Fatalf("parseName(%q) refused (%v) but Listen's parse accepts %+v", s, err, local)
			}
			return
		}
		switch {
		case !strings.HasPrefix(n.Path, `\\`+n.Host+`\pipe\`) || n.Path != `\\`+n.Host+`\pipe\`+n.Name:
			t.Fatalf("parseName(%q) = %+v: not a \\\\host\\pipe\\name path", s, n)
		case len(utf16.Encode([]rune(n.Path))) > MaxNameLength:
			t.Fatalf("parseName(%q) = %+v: longer than %d UTF-16 code units", s, n, MaxNameLength)
		case strings.IndexByte(`\??\pipe\`+n.Name, 0) >= 0:
			t.Fatalf("parseName(%q) = %+v: NUL in the NT name", s, n)
		case Addr(n.Path).String() != n.Path || Addr(n.Path).Network() != "pipe":
			t.Fatalf("Addr(%q) = %q %q", n.Path, Addr(n.Path).Network(), Addr(n.Path).String())
		}
		if s[0] != '\\' && s[0] != '/' {
			if want := `\\.\pipe\` + strings.ReplaceAll(s, "/", `\`); n.Path != want {
				t.Fatalf("short name %q: path %q, want %q", s, n.Path, want)
			}
		}
		if again, err := parseName(n.Path); err != nil || again != n {
			t.Fatalf("parseName(%q) = %+v, whose path parses to %+v, %v", s, n, again, err)
		}
		switch {
		case n.Local() && (lerr != nil || local != n):
			t.Fatalf("Listen's parse of %q = %+v, %v; Dial's = %+v", s, local, lerr, n)
		case !n.Local() && !errors.Is(lerr, ipcname.ErrRemote):
			t.Fatalf("Listen's parse of the remote %q = %+v, %v; want ErrRemote", s, local, lerr)
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
