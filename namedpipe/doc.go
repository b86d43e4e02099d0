// Package namedpipe provides Windows named pipes as net.Listener and
// net.Conn, created with NtCreateNamedPipeFile and driven by overlapped I/O.
//
// A Listener keeps a backlog of instances listening, so bursts of clients
// connect without ERROR_PIPE_BUSY; Dial waits for busy pipes until its
// context ends. Message pipes keep message boundaries: Write sends one
// message, ReadMessage returns one whole message, CloseWrite sends the
// zero-length message that the peer's Read returns as io.EOF (once the peer
// has read the data before it, so that a byte-mode reader sees it too).
//
// By default a pipe is local-only and open to the current user and
// LocalSystem alone, Listen refuses a name already in use, and Dial lets the
// server identify the client but not impersonate it.
//
//	l, err := namedpipe.Listen("myapp") // \\.\pipe\myapp
//	...
//	c, err := namedpipe.Dial(ctx, "myapp")
//
// A server can tell who is on the other end (ClientProcessID, ClientUser,
// session IDs) and act as the client (Impersonate, at the level the client
// allowed with DialConfig.ImpersonationLevel); a client can insist on the
// pipe's owner (DialConfig.ExpectedOwner, CurrentUserOnly) so that a squatter
// cannot pose as the server. Peek, Info, Transact, Call, Disconnect, List
// and SecurityDescriptor expose the rest of what the named-pipe file system
// offers.
//
// Reads, writes, listens and waits for busy pipes are overlapped operations
// on one I/O completion port per process: no OS thread is blocked per
// operation or per connection, and deadlines and Close interrupt them.
//
// Errors: a bad name is an *os.PathError matching fs.ErrInvalid, before any
// system call; Listen returns *os.PathError (errors.Is with fs.ErrExist for
// a name in use, ErrInvalidConfig for a bad ListenConfig); Dial, Accept
// and Conn methods return *net.OpError wrapping the Windows error,
// net.ErrClosed, os.ErrDeadlineExceeded or the context's error. A peer's
// close reads as io.EOF.
//
// The package builds on Windows only, but for its name parsing and Addr.
package namedpipe
