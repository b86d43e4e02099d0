package namedpipe

import (
	"strings"
	"testing"
)

func TestParseName(t *testing.T) {
	good := []struct{ in, path, host, name string }{
		{"myapp", `\\.\pipe\myapp`, ".", "myapp"},
		{`\\.\pipe\myapp`, `\\.\pipe\myapp`, ".", "myapp"},
		{`//./pipe/myapp`, `\\.\pipe\myapp`, ".", "myapp"},
		{`\\.\PIPE\a\b`, `\\.\pipe\a\b`, ".", `a\b`},
		{`\\server\pipe\x`, `\\server\pipe\x`, "server", "x"},
		{`\\?\pipe\x`, `\\?\pipe\x`, "?", "x"},
		{"ünïcode", `\\.\pipe\ünïcode`, ".", "ünïcode"},
	}
	for _, g := range good {
		p, err := parseName(g.in)
		if err != nil {
			t.Errorf("parseName(%q): %v", g.in, err)
			continue
		}
		if p.path != g.path || p.host != g.host || p.name != g.name {
			t.Errorf("parseName(%q) = %+v, want path %q host %q name %q", g.in, p, g.path, g.host, g.name)
		}
	}
	long := strings.Repeat("x", MaxNameLength-len(`\\.\pipe\`))
	if _, err := parseName(long); err != nil {
		t.Errorf("name of exactly %d units: %v", MaxNameLength, err)
	}
	bad := map[string]error{
		"":                       errEmptyName,
		"a\x00b":                 errNameNUL,
		long + "x":               errNameTooLong,
		`\\.\pipe\`:              errNoPipeName,
		`\\.\mailslot\x`:         errNotPipe,
		`\x`:                     errNotPipe,
		`\\`:                     errNotPipe,
		`\\.`:                    errNotPipe,
		`\\.\pip\x`:              errNotPipe,
		`C:\pipe\x`:              nil, // a short name: odd, but a legal pipe name
		strings.Repeat("é", 300): errNameTooLong,
	}
	for in, want := range bad {
		_, err := parseName(in)
		if err != want {
			t.Errorf("parseName(%q) = %v, want %v", in, err, want)
		}
	}
}

func TestAddr(t *testing.T) {
	a := Addr(`\\.\pipe\x`)
	if a.Network() != "pipe" || a.String() != `\\.\pipe\x` {
		t.Fatalf("Addr = %q %q", a.Network(), a.String())
	}
}
