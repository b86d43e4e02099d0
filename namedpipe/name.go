package namedpipe

import (
	"github.com/conduit-ipc/conduit/internal/ipcname"
)

// MaxNameLength is the longest pipe path Windows documents, in UTF-16 code
// units, counting the \\host\pipe\ prefix (CreateNamedPipe: "The entire pipe
// name string can be up to 256 characters long").
const MaxNameLength = 256

// parseName accepts a short name ("myapp" means \\.\pipe\myapp) or a full
// path \\host\pipe\name, with either slash in the prefix.
func parseName(s string) (ipcname.Name, error) {
	return ipcname.Parse(s, "pipe", MaxNameLength)
}

// Addr is the address of a pipe end: its \\host\pipe\name path.
type Addr string

// Network returns "pipe".
func (Addr) Network() string { return "pipe" }

// String returns the pipe's path.
func (a Addr) String() string { return string(a) }
