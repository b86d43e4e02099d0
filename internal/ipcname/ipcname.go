// Package ipcname parses the Win32 names of pipes and mailslots: a short name
// or a \\host\<kind>\name path. It is portable, so its rules are tested on
// every platform.
package ipcname

import (
	"fmt"
	"io/fs"
	"strings"
	"unicode/utf16"
)

// The errors of a bad name. Each matches fs.ErrInvalid, so that callers of
// the packages that parse names (namedpipe, mailslot, ipc) can test for a
// bad name without importing this internal package.
var (
	ErrEmpty   = invalid("empty name")
	ErrNUL     = invalid("name contains a NUL byte")
	ErrTooLong = invalid("name too long")
	ErrNotPath = invalid(`not a \\host\kind\name path`)
	ErrNoName  = invalid("path has no name after its kind")
	ErrRemote  = invalid("name is on another machine; only local names can be created")
	// ErrBadComponent is the error of a name that Win32 path normalization
	// would rewrite (see Parse).
	ErrBadComponent = invalid(`name has a component that Windows rewrites in \\.\ paths: empty, "." or "..", or ending in a dot or space`)
)

// invalidError is a bad name's error: it matches fs.ErrInvalid.
type invalidError struct{ msg string }

func invalid(msg string) error { return &invalidError{msg} }

func (e *invalidError) Error() string        { return e.msg }
func (e *invalidError) Is(target error) bool { return target == fs.ErrInvalid }

// Name is a parsed name.
type Name struct {
	Path string // \\host\kind\name, the Win32 path
	Host string // "." for the local machine, "*" for a domain broadcast
	Name string // the part after \kind\, as the file system knows it
}

// Local reports whether the name is on this machine.
func (n Name) Local() bool { return n.Host == "." || n.Host == "?" }

// Parse accepts a short name ("x" means \\.\kind\x) or a full path
// \\host\kind\x, with either slash in the prefix. kind is "pipe" or
// "mailslot"; the part after \kind\ may itself hold backslashes, as many real
// names do. maxLen is the longest Path allowed, in UTF-16 code units.
//
// Servers create a name as it is, through its NT path (\??\pipe\x), while
// clients open the Win32 path, which Windows normalizes first (as
// GetFullPathName does) unless it begins with \\?\: a slash becomes a
// backslash, runs of backslashes one, "." and ".." components are
// resolved, up to \\.\ itself, and trailing dots and spaces are dropped.
// So that Dial opens exactly what Listen created, and a name cannot step out
// of \\.\pipe\ or \\.\mailslot\ (\\.\mailslot\..\C:\x is the file C:\x),
// Parse turns slashes in the name into backslashes, as Windows would, and
// refuses, with ErrBadComponent, a name with an empty component, a "." or
// ".." component, or one that ends in a dot or a space. Names on the \\?\
// host are taken as they are: Windows does not normalize them either.
func Parse(s, kind string, maxLen int) (Name, error) {
	if s == "" {
		return Name{}, ErrEmpty
	}
	if strings.IndexByte(s, 0) >= 0 {
		return Name{}, ErrNUL
	}
	notPath := fmt.Errorf(`%w: want a short name or \\host\%s\name`, ErrNotPath, kind)
	var n Name
	if !isSep(s[0]) {
		n = Name{Host: ".", Name: s}
	} else {
		if len(s) < 2 || !isSep(s[1]) {
			return Name{}, notPath
		}
		rest := s[2:]
		i := strings.IndexAny(rest, `\/`)
		if i <= 0 {
			return Name{}, notPath
		}
		host := rest[:i]
		rest = rest[i+1:]
		if len(rest) < len(kind)+1 || !strings.EqualFold(rest[:len(kind)], kind) || !isSep(rest[len(kind)]) {
			return Name{}, notPath
		}
		name := rest[len(kind)+1:]
		if name == "" {
			return Name{}, fmt.Errorf(`%w: \%s\ ends the path`, ErrNoName, kind)
		}
		n = Name{Host: host, Name: name}
	}
	if n.Host != "?" {
		n.Name = strings.ReplaceAll(n.Name, "/", `\`)
		if err := checkComponents(n.Name); err != nil {
			return Name{}, err
		}
	}
	n.Path = `\\` + n.Host + `\` + kind + `\` + n.Name
	if l := len(utf16.Encode([]rune(n.Path))); l > maxLen {
		return Name{}, fmt.Errorf("%w: %d UTF-16 code units, the limit is %d", ErrTooLong, l, maxLen)
	}
	return n, nil
}

// ParseLocal is Parse for names a server creates, which must be on this
// machine: any other host is ErrRemote.
func ParseLocal(s, kind string, maxLen int) (Name, error) {
	n, err := Parse(s, kind, maxLen)
	if err == nil && !n.Local() {
		return Name{}, ErrRemote
	}
	return n, err
}

// checkComponents refuses a name that Win32 path normalization would
// change (with its slashes already backslashes): see Parse.
func checkComponents(name string) error {
	for c := range strings.SplitSeq(name, `\`) {
		if c == "" || c == "." || c == ".." || strings.HasSuffix(c, ".") || strings.HasSuffix(c, " ") {
			return fmt.Errorf("%w: %q", ErrBadComponent, c)
		}
	}
	return nil
}

func isSep(c byte) bool { return c == '\\' || c == '/' }
