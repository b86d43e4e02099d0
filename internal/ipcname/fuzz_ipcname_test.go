package ipcname

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf16"
)

// FuzzParse checks the rules every parsed name keeps, for both kinds and
// for the limits namedpipe and mailslot use: a name parses to a \\host\kind\
// path within the limit, with a non-empty name and no NUL; off the \\?\ host,
// the name is one that Win32 path normalization leaves alone (no slash, no
// empty, "." or ".." component, none ending in a dot or a space), so that
// Dial opens what Listen created; the path parses to itself; a refusal is
// one of the package's errors; and ParseLocal agrees with Parse.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"myapp", `\\.\pipe\myapp`, `//./pipe/myapp`, `\\.\PIPE\a\b`, `\\server\pipe\x`, `\\?\pipe\x`,
		`\\*\mailslot\x`, `\\.\mailslot\`, `\\.\pipe\\x`, `\\./pipe\x`, "a/b", `C:\pipe\x`, "",
		"a\x00b", `\\`, `\\.`, `\\.\pip\x`, `\\.\pipes\x`, "\xff\xfe", strings.Repeat("é", 130),
		`\\.\mailſlot\x`, `\\\pipe\x`, `\/.\pipe\x`, "x.", "x ", `a\..\b`, `..\..\C:\x`, `a\.\b`,
		`\\?\pipe\x.`, `\\?\pipe\a/b`, "a//b", `x\`, "...", `\\host\pipe\a..\b`,
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
		local, lerr := ParseLocal(s, kind, max)
		if err != nil {
			if !isOurs(err) {
				t.Fatalf("Parse(%q) = %v: not one of the package's errors", s, err)
			}
			if lerr == nil || errors.Is(lerr, ErrRemote) {
				t.Fatalf("Parse(%q) failed (%v) but ParseLocal = %+v, %v", s, err, local, lerr)
			}
			return
		}
		prefix := `\\` + n.Host + `\` + kind + `\`
		switch {
		case n.Name == "" || n.Host == "":
			t.Fatalf("Parse(%q) = %+v: empty name or host", s, n)
		case n.Path != prefix+n.Name:
			t.Fatalf("Parse(%q) = %+v: path is not %q + name", s, n, prefix)
		case strings.ContainsAny(n.Host, `\/`):
			t.Fatalf("Parse(%q) = %+v: a separator in the host", s, n)
		case strings.IndexByte(n.Path, 0) >= 0:
			t.Fatalf("Parse(%q) = %+v: NUL in the path", s, n)
		case len(utf16.Encode([]rune(n.Path))) > max:
			t.Fatalf("Parse(%q) = %+v: path over %d UTF-16 code units", s, n, max)
		case n.Local() != (n.Host == "." || n.Host == "?"):
			t.Fatalf("Parse(%q) = %+v: Local() = %v", s, n, n.Local())
		case n.Host != "?" && !normalized(n.Name):
			t.Fatalf("Parse(%q) = %+v: a name that Win32 path normalization rewrites", s, n)
		}
		again, err := Parse(n.Path, kind, max)
		if err != nil || again != n {
			t.Fatalf("Parse(%q) = %+v, whose path parses to %+v, %v", s, n, again, err)
		}
		switch {
		case n.Local() && (lerr != nil || local != n):
			t.Fatalf("ParseLocal(%q) = %+v, %v; Parse gave the local %+v", s, local, lerr, n)
		case !n.Local() && !errors.Is(lerr, ErrRemote):
			t.Fatalf("ParseLocal(%q) = %+v, %v; want ErrRemote for host %q", s, local, lerr, n.Host)
		}
	})
}

// normalized reports whether Win32 path normalization leaves the name part
// of a \\.\ or \\host\ path as it is: written out rule by rule, apart from
// checkComponents.
func normalized(name string) bool {
	if strings.Contains(name, "/") || strings.Contains(name, `\\`) ||
		strings.HasPrefix(name, `\`) || strings.HasSuffix(name, `\`) {
		return false
	}
	for _, c := range strings.Split(name, `\`) {
		if c == "." || c == ".." || strings.TrimRight(c, ". ") != c {
			return false
		}
	}
	return true
}

func isOurs(err error) bool {
	for _, e := range []error{ErrEmpty, ErrNUL, ErrTooLong, ErrNotPath, ErrNoName, ErrRemote, ErrBadComponent} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// Names that Win32 path normalization would rewrite are refused, off the
// \\?\ host: before, Listen created them as written while Dial opened the
// rewritten path, and \\.\mailslot\..\C:\x opened the file C:\x for
// writing. A slash in the name becomes a backslash, as Windows makes it.
func TestParseNormalization(t *testing.T) {
	for _, s := range []string{
		"x.", "x ", "x. ", `a\..\b`, `..\..\C:\x`, `a\.\b`, `.\x`, `a..\b`, "...", `a\\b`, `x\`, "a//b",
		`\\.\pipe\..\x`, `//./pipe/x.`, `\\host\pipe\a\..\b`,
	} {
		if n, err := Parse(s, "pipe", 256); !errors.Is(err, ErrBadComponent) {
			t.Errorf("Parse(%q) = %+v, %v; want ErrBadComponent", s, n, err)
		}
	}
	for in, want := range map[string]Name{
		"a/b":               {Path: `\\.\pipe\a\b`, Host: ".", Name: `a\b`},
		`//./pipe/a/b`:      {Path: `\\.\pipe\a\b`, Host: ".", Name: `a\b`},
		`\\?\pipe\x.`:       {Path: `\\?\pipe\x.`, Host: "?", Name: "x."},
		`\\?\pipe\a/..\b`:   {Path: `\\?\pipe\a/..\b`, Host: "?", Name: `a/..\b`},
		`a .b\ c`:           {Path: `\\.\pipe\a .b\ c`, Host: ".", Name: `a .b\ c`},
		`\\host\pipe\a.b\c`: {Path: `\\host\pipe\a.b\c`, Host: "host", Name: `a.b\c`},
	} {
		if n, err := Parse(in, "pipe", 256); err != nil || n != want {
			t.Errorf("Parse(%q) = %+v, %v; want %+v", in, n, err, want)
		}
	}
}
