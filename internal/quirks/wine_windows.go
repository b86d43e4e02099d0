// Package quirks is the one place where conduit's production code takes a
// different path under Wine than on Windows. Each quirk below names what
// Wine 8 does, what Windows does, and why conduit cannot write one path
// that is right for both. Everything else is written for Windows'
// documented behaviour alone; tests may branch on Wine freely (nt.Wine).
package quirks

import (
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// RejectRemoteClients returns the NamedPipeType bit that refuses clients
// from other machines: FILE_PIPE_REJECT_REMOTE_CLIENTS.
//
// Quirk: Wine 8's NtCreateNamedPipeFile reads any nonzero NamedPipeType as
// FILE_PIPE_MESSAGE_TYPE, so a byte pipe created with the bit is a message
// pipe there (measured: it reports itself a message pipe, and its clients'
// reads are switched to message mode). Windows reads the bit as a flag. Wine
// has no way for remote clients to reach a pipe in the first place, so there
// the bit is left out and nothing is lost.
func RejectRemoteClients() uint32 {
	if nt.Wine() {
		return 0
	}
	return windows.FILE_PIPE_REJECT_REMOTE_CLIENTS
}
