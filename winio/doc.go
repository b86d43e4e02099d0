// Package winio is go-winio's named-pipe API built on conduit's namedpipe:
// change the import path and keep your code.
//
//	import "github.com/Microsoft/go-winio"        // before
//	import "github.com/conduit-ipc/conduit/winio" // after
//
// It has go-winio v0.6.4's names, types and signatures: ListenPipe and
// PipeConfig, DialPipe (nil timeout: 2 s), DialPipeContext, DialPipeAccess,
// DialPipeAccessImpLevel and the PipeImpLevel constants, PipeConn
// (Disconnect, Flush), CloseWrite on message-pipe connections, Fd and
// IsClosed, ErrTimeout, ErrFileClosed, ErrPipeListenerClosed, and addresses
// whose network is "pipe". go-winio's own pipe tests run against it (module
// interop, TestGoWinioPipeSuite). Connections and listeners are namedpipe's:
// overlapped I/O on one completion port, no OS thread per pending read,
// write or Dial.
//
// # Kept as go-winio does it
//
// What a program can test for behaves as in go-winio. A missing pipe fails
// Dial at once with an *os.PathError (Op "open") wrapping
// windows.ERROR_FILE_NOT_FOUND, so os.IsNotExist holds; a name in use fails
// ListenPipe with one wrapping windows.ERROR_ACCESS_DENIED (os.IsPermission).
// A busy pipe is waited for: DialPipe then returns ErrTimeout, and
// DialPipeContext returns ctx.Err() itself. Reads and writes past a
// deadline return ErrTimeout itself (a net.Error that matches
// os.ErrDeadlineExceeded and context.DeadlineExceeded), and after Close
// ErrFileClosed (os.ErrClosed) itself; other failures return the Windows
// error itself, not wrapped. Accept after Close returns net.ErrClosed
// itself; Close always returns nil, twice too. Message pipes read as a byte
// stream on both ends (byte read mode: a Read takes as many queued messages
// as fit), each Write sends one message, and CloseWrite sends the
// zero-length message that the peer reads as io.EOF, after waiting until
// the peer has read what came before it; after it Write and CloseWrite
// return io.ErrClosedPipe, and a peer that read the mark reads io.EOF from
// then on. Clients dial with SECURITY_ANONYMOUS unless they choose a level;
// remote clients are refused. The listener takes clients only while an
// Accept waits, as go-winio's does (namedpipe's ListenConfig.ListenOnAccept,
// chosen here for that reason; namedpipe's own default is a backlog): its
// first instance is a placeholder made without read or write access, which
// Windows leaves disconnected, and each waiting Accept listens on an
// instance of its own, so that with no Accept pending a Dial waits and
// times out. go-winio's tests that assert it (TestDialListenerTimesOut and
// three more) pass.
//
// # Fixed
//
// Close never hangs: not with no Accept pending (go-winio #281), nor when
// clients connect and leave as it closes (#85), nor while an Accept waits
// on a listen that does not complete (#357). A Dial waiting for a busy pipe
// holds no OS thread (an asynchronous FSCTL_PIPE_WAIT for read and write
// access, a timer for other access masks).
//
// # Differences that remain
//
// Listening again. ListenPipe of a name whose earlier listener in this
// process was closed while connections it accepted are still open joins
// that pipe (namedpipe's Listen, for the same PipeConfig, when no one
// else has an instance of it), as a Unix socket's name would be free;
// go-winio's ListenPipe fails there with ERROR_ACCESS_DENIED until the
// last of those connections closes.
//
// Default security. Without SecurityDescriptor the pipe gets go-winio's
// default DACL (RtlDefaultNpAcl's: full access for LocalSystem,
// Administrators and the token's default owner) without its two read
// entries for Everyone and Anonymous Logon, which let any user of the
// machine open the pipe for reading, take an instance and read what the
// server writes to it. Other users' read-only clients are refused; add
// "(A;;GR;;;WD)" to the SDDL to admit them.
//
// Descriptors that lock the server out. ListenPipe fails (an *os.PathError
// matching namedpipe.ErrInvalidConfig) when SecurityDescriptor does not let
// this process create instances with read and write access; go-winio's
// ListenPipe succeeds and its first Accept fails with ERROR_ACCESS_DENIED.
// go-winio's TestDialAccessDeniedWithRestrictedSD uses such a descriptor
// and is skipped.
//
// Buffers. A zero InputBufferSize or OutputBufferSize is a quota of one
// byte (namedpipe reads 0 as its 64 KiB default); go-winio passes 0, so a
// 1-byte Write may complete there only when read, here at once. Larger
// writes wait for the reader in both. Negative sizes fail ListenPipe.
//
// Names. Short names ("myapp" for \\.\pipe\myapp) and either slash are
// accepted; go-winio hands any path to CreateFile, so a path that is not a
// pipe opens a file there and fails here. ListenPipe takes local names only.
// Addr and LocalAddr return the path as given.
//
// One-way pipes. DialPipe and DialPipeContext, which ask for read and
// write access, connect to a pipe that allows only one direction (made by
// another program) with the access it allows; go-winio fails with
// ERROR_ACCESS_DENIED. DialPipeAccess with any other mask opens with that
// mask exactly, as go-winio does.
//
// Disconnect and Flush. Disconnect also closes the connection (its
// instance goes back to the listener for the next client): later calls
// return ErrFileClosed where go-winio's return the pipe's errors. On a
// client end it fails, as go-winio's does, with another error. Flush
// returns nil when the peer has gone; go-winio returns ERROR_BROKEN_PIPE.
//
// Empty reads. Read with an empty buffer returns 0, nil at once; go-winio
// issues a zero-length ReadFile, which waits for data.
//
// Fd. Fd returns the handle, which stays on conduit's completion port:
// query it and set its state (SetNamedPipeHandleState works), but issue no
// overlapped I/O on it and do not close it. After Close it returns 0.
//
// Accept. A client that connected and left without writing is not
// returned by Accept; go-winio returns one that left after its listen
// completed (its first Read reads io.EOF).
//
// Everything else of go-winio (files, hvsock, backup, security helpers such
// as SddlToSecurityDescriptor) is not here: keep go-winio for those, or see
// docs/migrating-from-go-winio.md for conduit's own packages.
//
// The package builds on Windows only, as go-winio's pipes do.
package winio
