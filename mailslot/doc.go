// Package mailslot provides Windows mailslots: one-way, message-oriented,
// unreliable-by-design mail drops that any process on the machine (or, for
// small messages, the domain) can write to and one server reads.
//
// A Slot is the server, created with NtCreateMailslotFile for overlapped
// reads, which go through conduit's I/O completion port (internal/iocp): a
// pending Read or ReadMessage waits on the port, not on a blocked OS thread,
// its buffer stays pinned until the kernel is done with it, and it obeys
// SetReadDeadline and Close. A Writer sends messages.
//
//	s, err := mailslot.Create("events") // \\.\mailslot\events
//	...
//	w, err := mailslot.Open("events")
//	w.Write([]byte("started"))
//	msg, err := s.ReadMessage()
//
// Names are short ("events" means \\.\mailslot\events) or full paths:
// \\.\mailslot\x for this machine, \\host\mailslot\x for another one and
// \\*\mailslot\x for every machine of the primary domain (messages of at
// most 424 bytes, sent as datagrams). Create takes local names only.
//
// By default a slot may be written by the current user and LocalSystem only,
// any message size is accepted and reads wait forever. A read ends at the
// first of: a message, the slot's own read timeout (Config.ReadTimeout,
// SetReadTimeout; whole milliseconds, kept by the kernel) and the read
// deadline (SetReadDeadline).
//
// Errors are *os.PathError: errors.Is with fs.ErrInvalid for a bad name,
// fs.ErrExist for a name already
// created, fs.ErrNotExist for Open of a missing one, os.ErrDeadlineExceeded
// for the read deadline and the slot's read timeout alike, ErrTimeout for
// the slot's read timeout alone, io.ErrShortBuffer for a Read buffer shorter
// than the next message, os.ErrClosed after Close.
//
// Under Wine, whose mailslot handles are always synchronous, a read waits in
// the kernel in slices of at most 50 ms instead, so Close and a new deadline
// reach a waiting read within 50 ms there.
//
// The package builds on Windows only.
package mailslot
