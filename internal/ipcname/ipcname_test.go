package ipcname

import (
	"errors"
	"io/fs"
	"strings"
	"testing"
)

// Every error of a bad name matches fs.ErrInvalid, and only its own
// sentinel among the package's: callers outside the module test for the
// one, the packages inside for the other.
func TestErrorsMatchErrInvalid(t *testing.T) {
	all := []error{ErrEmpty, ErrNUL, ErrTooLong, ErrNotPath, ErrNoName, ErrRemote, ErrBadComponent}
	for i, e := range all {
		if !errors.Is(e, fs.ErrInvalid) {
			t.Errorf("%v does not match fs.ErrInvalid", e)
		}
		for j, o := range all {
			if i != j && errors.Is(e, o) {
				t.Errorf("%v matches %v", e, o)
			}
		}
	}
	if _, err := Parse("", "pipe", 256); !errors.Is(err, fs.ErrInvalid) || !errors.Is(err, ErrEmpty) {
		t.Errorf("Parse(\"\") = %v: want ErrEmpty, matching fs.ErrInvalid", err)
	}
}

func TestParse(t *testing.T) {
	good := []struct{ in, kind, path, host, name string }{
		{"myapp", "pipe", `\\.\pipe\myapp`, ".", "myapp"},
		{`\\.\pipe\myapp`, "pipe", `\\.\pipe\myapp`, ".", "myapp"},
		{`//./pipe/myapp`, "pipe", `\\.\pipe\myapp`, ".", "myapp"},
		{`\\.\PIPE\a\b`, "pipe", `\\.\pipe\a\b`, ".", `a\b`},
		{`\\server\pipe\x`, "pipe", `\\server\pipe\x`, "server", "x"},
		{`\\?\pipe\x`, "pipe", `\\?\pipe\x`, "?", "x"},
		{"ünïcode", "pipe", `\\.\pipe\ünïcode`, ".", "ünïcode"},
		{"box", "mailslot", `\\.\mailslot\box`, ".", "box"},
		{`\\*\MailSlot\a\b`, "mailslot", `\\*\mailslot\a\b`, "*", `a\b`},
		{`\\host\mailslot\x`, "mailslot", `\\host\mailslot\x`, "host", "x"},
	}
	for _, g := range good {
		n, err := Parse(g.in, g.kind, 256)
		if err != nil {
			t.Errorf("Parse(%q): %v", g.in, err)
			continue
		}
		if n.Path != g.path || n.Host != g.host || n.Name != g.name {
			t.Errorf("Parse(%q) = %+v, want path %q host %q name %q", g.in, n, g.path, g.host, g.name)
		}
		if n.Local() != (g.host == "." || g.host == "?") {
			t.Errorf("Parse(%q).Local() = %v", g.in, n.Local())
		}
	}
	long := strings.Repeat("x", 256-len(`\\.\pipe\`))
	if _, err := Parse(long, "pipe", 256); err != nil {
		t.Errorf("name of exactly 256 units: %v", err)
	}
	bad := map[string]error{
		"":                       ErrEmpty,
		"a\x00b":                 ErrNUL,
		long + "x":               ErrTooLong,
		`\\.\pipe\`:              ErrNoName,
		`\\.\mailslot\x`:         ErrNotPath,
		`\x`:                     ErrNotPath,
		`\\`:                     ErrNotPath,
		`\\.`:                    ErrNotPath,
		`\\.\pip\x`:              ErrNotPath,
		`\\.\pipes\x`:            ErrNotPath,
		`C:\pipe\x`:              nil, // a short name: odd, but legal
		strings.Repeat("é", 300): ErrTooLong,
	}
	for in, want := range bad {
		_, err := Parse(in, "pipe", 256)
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("Parse(%q) = %v, want %v", in, err, want)
		}
	}
}

func TestParseLocal(t *testing.T) {
	for in, want := range map[string]error{
		"x": nil, `\\.\mailslot\x`: nil, `\\?\mailslot\x`: nil,
		`\\host\mailslot\x`: ErrRemote, `\\*\mailslot\x`: ErrRemote, "": ErrEmpty,
	} {
		_, err := ParseLocal(in, "mailslot", 260)
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("ParseLocal(%q) = %v, want %v", in, err, want)
		}
	}
}
