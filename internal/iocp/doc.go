// Package iocp runs overlapped I/O on handles through one I/O completion port
// per process, drained by a single goroutine, with deadlines and a Close that
// cancels and waits for every operation in flight.
//
// conduit uses it rather than Go's runtime poller because the runtime ignores
// completion packets for operations it did not issue itself (FSCTL_PIPE_LISTEN,
// FSCTL_PIPE_WAIT, FSCTL_PIPE_TRANSCEIVE), reports a message-mode read that
// ends in ERROR_MORE_DATA with the byte count that Wine leaves at zero, and
// cannot tell a zero-length message from end of file. The cost is the same as
// the runtime's: no OS thread is blocked per operation or per handle, only the
// one thread that waits on the port.
package iocp
