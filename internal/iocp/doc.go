// Package iocp runs overlapped I/O on handles through one I/O completion port
// per process, drained by a single goroutine, with deadlines and a Close that
// cancels and waits for every operation in flight.
//
// conduit uses it rather than Go's runtime poller because the runtime ignores
// completion packets for operations it did not issue itself (FSCTL_PIPE_LISTEN,
// FSCTL_PIPE_WAIT, FSCTL_PIPE_TRANSCEIVE), reports a message-mode read that
// ends in ERROR_MORE_DATA with the byte count that Wine leaves at zero, and
// cannot tell a zero-length message from end of file.
//
// Threads: one waits on the port for the life of the process. A pending read
// or write first waits on its own thread, on an event instead of a packet,
// for at most a couple of milliseconds and with at most four threads doing so
// at once, so that a quick completion skips the hand-off from the port's
// thread to the goroutine's. After that a read is issued again through the
// port and a write waits in the system thread pool (63 waits to a thread, at
// most 63 such writes; later writes go to the port). So no OS thread is
// blocked per operation, per handle or per idle connection.
//
// Cancellation (Close, deadlines, a context) is CancelIoEx on the operation,
// issued by whoever cancels; the waiting goroutine only ever waits for its
// completion.
package iocp
