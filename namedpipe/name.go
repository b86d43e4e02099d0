package namedpipe

import (
	"errors"
	"strings"
	"unicode/utf16"
)

// MaxNameLength is the longest pipe path Windows documents, in UTF-16 code
// units, counting the \\host\pipe\ prefix (CreateNamedPipe: "The entire pipe
// name string can be up to 256 characters long").
const MaxNameLength = 256

var (
	errEmptyName   = errors.New("empty pipe name")
	errNameNUL     = errors.New("pipe name contains a NUL byte")
	errNameTooLong = errors.New("pipe name longer than 256 UTF-16 code units")
	errNotPipe     = errors.New(`not a pipe path: want a short name or \\host\pipe\name`)
	errNoPipeName  = errors.New(`pipe path has no name after \pipe\`)
	errRemote      = errors.New("cannot listen on a remote pipe name")
)

// pipeName is a parsed pipe name.
type pipeName struct {
	path string // \\host\pipe\name, the Win32 path
	host string // "." for the local machine
	name string // the part after \pipe\, as the named-pipe file system knows it
}

func (p pipeName) local() bool { return p.host == "." || p.host == "?" }

// parseName accepts a short name ("myapp" means \\.\pipe\myapp) or a full
// path \\host\pipe\name, with either slash in the prefix. The part after
// \pipe\ may itself hold backslashes, as many real pipe names do.
func parseName(s string) (pipeName, error) {
	if s == "" {
		return pipeName{}, errEmptyName
	}
	if strings.IndexByte(s, 0) >= 0 {
		return pipeName{}, errNameNUL
	}
	var p pipeName
	if !isSep(s[0]) {
		p = pipeName{path: `\\.\pipe\` + s, host: ".", name: s}
	} else {
		if len(s) < 2 || !isSep(s[1]) {
			return pipeName{}, errNotPipe
		}
		rest := s[2:]
		i := strings.IndexAny(rest, `\/`)
		if i <= 0 {
			return pipeName{}, errNotPipe
		}
		host := rest[:i]
		rest = rest[i+1:]
		if len(rest) < 5 || !strings.EqualFold(rest[:4], "pipe") || !isSep(rest[4]) {
			return pipeName{}, errNotPipe
		}
		name := rest[5:]
		if name == "" {
			return pipeName{}, errNoPipeName
		}
		p = pipeName{path: `\\` + host + `\pipe\` + name, host: host, name: name}
	}
	if n := len(utf16.Encode([]rune(p.path))); n > MaxNameLength {
		return pipeName{}, errNameTooLong
	}
	return p, nil
}

func isSep(c byte) bool { return c == '\\' || c == '/' }

// Addr is the address of a pipe end: its \\host\pipe\name path.
type Addr string

// Network returns "pipe".
func (Addr) Network() string { return "pipe" }

// String returns the pipe's path.
func (a Addr) String() string { return string(a) }
