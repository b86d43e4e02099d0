package ipcname

import (
	"errors"
	"strings"
	"testing"
)

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
