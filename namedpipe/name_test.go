package namedpipe

import (
	"strings"
	"testing"
)

// The parsing rules are tested in internal/ipcname; this checks the pipe
// kind and the documented limit.
func TestParseName(t *testing.T) {
	p, err := parseName("myapp")
	if err != nil || p.Path != `\\.\pipe\myapp` || p.Name != "myapp" {
		t.Fatalf(`parseName("myapp") = %+v, %v`, p, err)
	}
	if _, err := parseName(`\\.\mailslot\x`); err == nil {
		t.Error("a mailslot path parsed as a pipe name")
	}
	long := strings.Repeat("x", MaxNameLength-len(`\\.\pipe\`))
	if _, err := parseName(long); err != nil {
		t.Errorf("name of exactly %d units: %v", MaxNameLength, err)
	}
	if _, err := parseName(long + "x"); err == nil {
		t.Errorf("name of %d units accepted", MaxNameLength+1)
	}
}

func TestAddr(t *testing.T) {
	a := Addr(`\\.\pipe\x`)
	if a.Network() != "pipe" || a.String() != `\\.\pipe\x` {
		t.Fatalf("Addr = %q %q", a.Network(), a.String())
	}
}
