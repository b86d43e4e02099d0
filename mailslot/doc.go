// Package mailslot provides Windows mailslots: one-way, message-oriented,
// unreliable-by-design mail drops that any process on the machine (or, for
// small messages, the domain) can write to and one server reads.
//
// A Slot is the server, created with NtCreateMailslotFile for asynchronous
// reads: a pending ReadMessage waits on Go's runtime poller, not on a blocked
// OS thread, and obeys SetReadDeadline and Close. A Writer sends messages.
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
// any message size is accepted and reads wait forever.
//
// Errors are *os.PathError: errors.Is with fs.ErrExist for a name already
// created, fs.ErrNotExist for Open of a missing one, os.ErrDeadlineExceeded,
// ErrTimeout for the slot's own read timeout, io.ErrShortBuffer for a Read
// buffer shorter than the next message, os.ErrClosed after Close.
//
// The package builds on Windows only.
package mailslot
