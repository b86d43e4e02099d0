// Package iocp runs overlapped I/O on handles through one I/O completion port
// per process, drained by a single goroutine, with deadlines and a Close that
// cancels and waits for every operation in flight.
//
// One path from a call to its completion: File.Read, File.Write and
// File.FsControl each issue their call through File.do (file_windows.go),
// which pins the caller's buffers, issues the call with an Op's OVERLAPPED
// and waits for the result on the fast path (fast_windows.go) or for the
// completion packet that the drain goroutine hands over (port_windows.go).
// Ops (op_windows.go) live on the heap and are never freed, so the kernel
// never writes into memory that moved or was reused; deadlines
// (deadline_windows.go) and Close cancel with CancelIoEx.
//
// conduit uses it rather than Go's runtime poller because the runtime ignores
// completion packets for operations it did not issue itself (FSCTL_PIPE_LISTEN,
// FSCTL_PIPE_WAIT, FSCTL_PIPE_TRANSCEIVE), reports a message-mode read that
// ends in ERROR_MORE_DATA with the byte count that Wine leaves at zero, and
// cannot tell a zero-length message from end of file.
//
// Threads: one waits on the port for the life of the process. A pending read
// or write first waits on its own thread (a read on an event instead of a
// packet, a write on the file's handle beside its packet), with at most
// four threads doing so at once, so that a quick completion skips the
// hand-off from the port's thread to the goroutine's. The wait ends at a
// high-resolution waitable timer after 2 ms: that is the worst case per
// operation on Windows 10 1803 and later, four OS threads held for 2 ms each
// (and their Ps until the scheduler's monitor retakes them), plus, for a read
// that outlasts it, one CancelIoEx and one reissue; where Windows lacks
// high-resolution timers the wait lasts up to one clock tick (15.6 ms by
// default) instead. After that a read is issued again through the port and
// a write parks on its packet. So no OS thread is blocked per operation, per
// handle or per idle connection, and no operation depends on the thread
// that issued it staying alive (File.do says why).
//
// Cancellation (Close, deadlines, a context) is CancelIoEx on the operation,
// issued by whoever cancels, or by the operation itself when the canceller
// came before the call had returned pending; either way the operation's
// goroutine waits for its completion before its buffers and its Op are
// released.
package iocp
