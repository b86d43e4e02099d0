// Package ipc is local inter-process communication with one API on every
// OS: Unix domain sockets on Linux, macOS and FreeBSD, named pipes on
// Windows (package namedpipe), with the peer's identity, access control and
// file passing, and secure defaults.
//
//	l, err := ipc.Listen("myapp") // a socket in the user's private runtime directory, or \\.\pipe\myapp
//	...
//	c, err := ipc.Dial(ctx, "myapp")
//	cred, err := c.PeerCredentials() // who is on the other end
//
// Names: a short name such as "myapp" is \\.\pipe\myapp on Windows and, on
// Unix, the socket myapp.sock in the user's private runtime directory:
// $XDG_RUNTIME_DIR when it is set, a directory owned by the user with no
// group or other access; else conduit-<uid> under the temporary directory,
// which ipc creates with mode 0700 and checks before every use (a real
// directory, not a symbolic link, owned by the user, no group or other
// access), or, if another user has taken that name, conduit-<uid> in the
// user's ~/.cache, made and checked alike. A path (anything with a slash on
// Unix, a \\ name on Windows) is used as given, and so are the forms other
// programs use: unix:///path, unix:path and npipe:////./pipe/name (see
// ParseAddress). A path's directory must be one no other user can change:
// this user's or root's, writable by no one else, or sticky like /tmp (see
// Listen). Paths beginning with @ (Linux's abstract sockets, which have no
// permissions) are refused.
//
// Security: by default only the user this process runs as may connect, and
// every peer, accepted or dialed, is checked to be that user (Unix: socket
// mode 0600 in the private directory and the peer's uid from the kernel;
// Windows: a DACL for the current user and the client's or pipe owner's
// SID). Config.AllowGroup and Config.AllowOtherUsers widen that, and
// Config.Authorize decides per peer, on both ends.
//
// Message mode keeps message boundaries on every OS: SOCK_SEQPACKET on
// Linux, named-pipe message mode on Windows, and on macOS and FreeBSD a
// length-prefixed framing over a stream socket (the wire formats are
// described in conn_unix.go and ipc_windows.go). Messages may be empty or
// larger than the socket's buffer, up to Config.MaxMessageSize (16 MiB by
// default, on every OS); a peer that sends a longer one, or breaks the wire
// format, fails that connection's reads, and only that connection's. A
// deadline that ends a read in the middle of a message leaves the rest for
// the next read; a message write that a deadline or Close ends part-way
// leaves message writes failing with ErrMessageTorn.
//
// Files travel between processes with Conn.SendFile and Conn.ReceiveFile
// (SCM_RIGHTS on Unix; on Windows the handle is duplicated into the peer
// process, in message mode only), in order with the data: see SendFile.
//
// Errors follow package net: *net.OpError for Dial, Accept and Conn
// methods, wrapping fs.ErrNotExist for a missing name, fs.ErrExist for a
// name a live server holds, fs.ErrInvalid for a bad name, ErrInvalidConfig
// for a bad Config, fs.ErrPermission for a peer refused, net.ErrClosed and
// os.ErrDeadlineExceeded.
package ipc
