package ipc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync/atomic"
)

// Config configures Listen and Dial. Its zero value is the safe default:
// byte-stream connections, the default backlog, and the current user alone on
// both ends.
type Config struct {
	// MessageMode keeps message boundaries: every Write is one message and
	// ReadMessage returns whole messages. Unix: SOCK_SEQPACKET on Linux, a
	// length-prefixed framing over SOCK_STREAM on macOS and FreeBSD;
	// Windows: a message-type pipe (FILE_PIPE_MESSAGE_TYPE). Both ends must
	// agree: it is a protocol of ipc's (each message carries a header), not
	// for peers that do not use ipc.
	// Default: a byte stream, which other programs' sockets and pipes speak.
	MessageMode bool

	// Backlog is how many connections may wait for Accept: listen(2)'s
	// backlog on Unix (default: the system's SOMAXCONN), the listener's
	// backlog of pipe instances on Windows (default 4, see
	// namedpipe.ListenConfig.Backlog, at most namedpipe.MaxBacklog: a
	// larger value is cut down to it, as listen(2) cuts to SOMAXCONN). A
	// negative value is an ErrInvalidConfig.
	Backlog int

	// AllowGroup admits the members of a group besides the current user: a
	// Unix group name, or a Windows group name or SID string. Unix: the
	// socket's group and mode 0660; Windows: the pipe's DACL grants the
	// group read and write (namedpipe.ClientAccess), not the right to create
	// instances. The peer check admits members of the group. A short name's
	// socket lies in the user's private directory, which no one else can
	// reach: with AllowGroup, give a path (see Listen for where a socket may
	// live). Security: every member may connect; narrow it with Authorize.
	// On Dial, a server of another user that only the group admits is
	// accepted on Unix only if no one but root, that user and this user
	// could have chosen where the path leads: Dial walks the path from /
	// before it connects, following links itself, and every directory on
	// it counts, not only the socket's: each must be owned by one of them
	// and writable by no one else (group write only where the group is
	// its owner's private group, see Listen); a sticky one such as /tmp
	// only where the next name on the path is root's or this user's
	// (anyone may take a free name there, so a directory of the server's
	// user in /tmp could be a squatter's after a reboot), and the socket's
	// own directory never. Else any member could have put its own socket
	// at the path while the real server was down, or renamed a directory
	// on the path away and put its own in its place. On Linux Dial then
	// connects through the descriptor of the directory it checked
	// (/proc/self/fd); elsewhere by the path it resolved, walked again
	// after the connect. POSIX ACLs are not read. On Windows the pipe
	// namespace has no such place, and any member could have made the
	// pipe: pin the server with Authorize (its UserID).
	AllowGroup string

	// AllowOtherUsers admits every local user: socket mode 0666 on Unix, a
	// DACL granting read and write to Authenticated Users on Windows, and no
	// peer check. With a short name on Unix it fails, as for AllowGroup. On
	// Dial it accepts a server run by any user (a service's). Security: any
	// local program may connect; use Authorize to choose.
	AllowOtherUsers bool

	// Authorize, when set, is called with the peer's credentials after the
	// built-in check has admitted it: by Accept for each client, before
	// Accept returns it (a refused client is closed and never returned), and
	// by Dial for the server (a refused server fails Dial with its error).
	// This is how a root or SYSTEM service admits some users: set
	// AllowOtherUsers and decide here.
	Authorize func(Credentials) error

	// MaxMessageSize bounds the messages this side reads, in message mode:
	// a message longer fails ReadMessage and Read with an error wrapping
	// ErrMessageTooLarge, before more than the bound is held in memory,
	// and the connection's reads fail from then on (the peer does not
	// keep to the bound agreed, and what it sends next cannot be told from
	// the rest of that message); other connections go on. WriteMessage
	// refuses a longer message alike, before it sends anything, so that a
	// peer with the same Config never sees one. It is the same on every
	// OS. Default (0): DefaultMaxMessageSize. A negative value is an
	// ErrInvalidConfig. Security: without a bound one peer could make
	// this process hold as much memory as it cares to send. It bounds one
	// connection only: MessageBudget bounds a Listener's together.
	MaxMessageSize int

	// MessageBudget bounds the bytes that all the connections a Listener
	// accepts hold together in messages not yet read whole, in message
	// mode: a peer that sends most of a long message and stalls keeps
	// its bytes in this process (they leave the kernel's buffers as they
	// are read), and without a bound across connections one peer with
	// many connections could make this process hold MaxMessageSize for
	// each. A read that would take the bytes held past it fails with an
	// error wrapping ErrMessageBudget, before it reads or allocates
	// anything more; the connection stays as it was (a later read goes
	// on, as after a deadline) and other connections go on. Bytes held
	// are given back when their message is read whole or the connection
	// is closed: a connection whose read timed out keeps its part of a
	// message for the next read, so close connections you give up on.
	// The same on every OS. Default (0): DefaultMessageBudget, or
	// MaxMessageSize if that is larger; a negative value, or one below
	// MaxMessageSize (one message could never be read), is an
	// ErrInvalidConfig. Dial's connection has no budget but
	// MaxMessageSize. What a server holds is at most this, plus per
	// connection a fixed 64 KiB receive buffer, the first 64 KiB piece of
	// a message (Unix) or 4 KiB (Windows) read before the budget is
	// asked, and a goroutine if it reads on one.
	MessageBudget int

	// WaitForServer makes Dial wait, until its context ends, for a name that
	// no server listens on yet, instead of failing at once with an error
	// matching fs.ErrNotExist.
	WaitForServer bool
}

// DefaultMaxMessageSize is the bound on a message's size when
// Config.MaxMessageSize is 0: 16 MiB, more than the 4 MiB that gRPC
// accepts by default (tokio-util's length-delimited codec takes 8 MiB,
// sd-bus 128 MiB). What a Listener's connections hold together is bounded
// by Config.MessageBudget.
const DefaultMaxMessageSize = 16 << 20

// DefaultMessageBudget is the bound on the bytes a Listener's connections
// hold together in unfinished messages when Config.MessageBudget is 0: 64
// MiB, four messages of the default largest size at once.
const DefaultMessageBudget = 64 << 20

// maxMessage is the Config's bound on a message's size.
func (c *Config) maxMessage() int {
	if c.MaxMessageSize == 0 {
		return DefaultMaxMessageSize
	}
	return c.MaxMessageSize
}

// messageBudget is the Config's bound on what a Listener's connections
// hold together.
func (c *Config) messageBudget() int {
	if c.MessageBudget == 0 {
		return max(DefaultMessageBudget, c.maxMessage())
	}
	return c.MessageBudget
}

// checkLimits fails a Config whose bounds cannot be used.
func (c *Config) checkLimits() error {
	switch {
	case c.MaxMessageSize < 0:
		return fmt.Errorf("%w: negative MaxMessageSize %d", ErrInvalidConfig, c.MaxMessageSize)
	case c.MessageBudget < 0:
		return fmt.Errorf("%w: negative MessageBudget %d", ErrInvalidConfig, c.MessageBudget)
	case c.MessageBudget != 0 && c.MessageBudget < c.maxMessage():
		return fmt.Errorf("%w: MessageBudget %d is below MaxMessageSize %d: a message that long could never be read", ErrInvalidConfig, c.MessageBudget, c.maxMessage())
	}
	return nil
}

// A budget is a Listener's bound on the bytes its connections hold in
// unfinished messages (Config.MessageBudget).
type budget struct {
	max  int64
	used atomic.Int64
}

func newBudget(n int) *budget { return &budget{max: int64(n)} }

// memory is what one connection holds of its listener's budget (none for
// a dialled connection: b is nil). Used with the connection's read lock
// held.
type memory struct {
	b    *budget
	held int
}

// take holds n bytes more, or fails with ErrMessageBudget and holds
// nothing more.
func (m *memory) take(n int) error {
	if m.b == nil || n <= 0 {
		return nil
	}
	if m.b.used.Add(int64(n)) > m.b.max {
		m.b.used.Add(-int64(n))
		return fmt.Errorf("%w: %d bytes more would take it past %d (the listener's connections hold %d)", ErrMessageBudget, n, m.b.max, m.b.used.Load())
	}
	m.held += n
	return nil
}

// give gives n of the bytes held back.
func (m *memory) give(n int) {
	if m.b == nil || n <= 0 {
		return
	}
	n = min(n, m.held)
	m.held -= n
	m.b.used.Add(-int64(n))
}

// release gives back all the bytes held.
func (m *memory) release() { m.give(m.held) }

// Credentials identify the process on the other end of a connection.
type Credentials struct {
	// PID is the peer's process ID: SO_PEERCRED (Linux), LOCAL_PEERPID
	// (macOS), the xucred's (FreeBSD 13 and later; else 0), or the pipe's
	// client or server process ID (Windows). It is the ID the process had
	// when it connected: once that process has exited, another may have
	// it, so it names the peer only while the connection is open and the
	// peer has not passed its end on. Do not open the process by it to
	// decide who the peer is: UserID and GroupIDs, read from the kernel
	// for this connection, say that. (Linux 6.5's SO_PEERPIDFD, a
	// descriptor of the process itself, is not used yet.)
	PID int
	// UserID is the peer's user: the uid in decimal on Unix, the SID string
	// on Windows (the client's token, or the pipe owner for a server).
	UserID string
	// GroupIDs are the peer's groups where the OS says: gids in decimal on
	// Unix (SO_PEERGROUPS on Linux 4.13 and later, else the primary group;
	// the xucred's on macOS and FreeBSD), group SIDs from a Windows client's
	// token; nil for a Windows server.
	GroupIDs []string
	// UserName is the user's name, if it can be looked up ("" if not).
	UserName string
}

// String describes the credentials for errors and logs.
func (c Credentials) String() string {
	s := "user " + c.UserID
	if c.UserName != "" {
		s += " (" + c.UserName + ")"
	}
	if c.PID != 0 {
		s += fmt.Sprintf(", pid %d", c.PID)
	}
	return s
}

// PeerError is the error of a peer that the access check refused. It
// matches fs.ErrPermission.
type PeerError struct {
	Peer Credentials
	Want string // who is admitted
	Err  error  // Authorize's error, if it refused
}

func (e *PeerError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("peer %v refused: %v", e.Peer, e.Err)
	}
	return fmt.Sprintf("peer %v refused: only %s may connect", e.Peer, e.Want)
}

func (e *PeerError) Is(target error) bool { return target == fs.ErrPermission }
func (e *PeerError) Unwrap() error        { return e.Err }

// testHookPeer, when set, replaces the credentials read of every peer.
var testHookPeer atomic.Pointer[func(Credentials) Credentials]

// peerOf returns the peer's credentials as read, or as the test hook has
// them.
func peerOf(read Credentials) Credentials {
	if h := testHookPeer.Load(); h != nil {
		return (*h)(read)
	}
	return read
}

// identity is who this process is, for the peer check.
type identity struct {
	user  string // UserID of this process
	group string // the ID of Config.AllowGroup, "" if none
}

// admit applies the built-in check, then Authorize, to a peer. byGroup,
// if not nil, further checks a peer that only its group admits.
func (c *Config) admit(peer Credentials, self identity, byGroup func(Credentials) error) error {
	ok := c.AllowOtherUsers || peer.UserID == self.user
	if !ok && self.group != "" {
		for _, g := range peer.GroupIDs {
			if g == self.group {
				ok = true
				break
			}
		}
		if ok && byGroup != nil {
			if err := byGroup(peer); err != nil {
				return &PeerError{Peer: peer, Err: err}
			}
		}
	}
	if !ok {
		want := "user " + self.user
		if self.group != "" {
			want += " and members of group " + self.group
		}
		return &PeerError{Peer: peer, Want: want}
	}
	if c.Authorize != nil {
		if err := c.Authorize(peer); err != nil {
			return &PeerError{Peer: peer, Err: err}
		}
	}
	return nil
}

// Addr is an ipc address: a socket's path or a pipe's \\.\pipe\ name.
type Addr struct {
	Net  string // "unix", "unixpacket" or "pipe"
	Path string
}

// Network returns "unix", "unixpacket" or "pipe".
func (a Addr) Network() string { return a.Net }

// String returns the path.
func (a Addr) String() string { return a.Path }

// Listen listens on name with the zero Config.
func Listen(name string) (*Listener, error) {
	var c Config
	return c.Listen(name)
}

// Dial connects to name with the zero Config.
func Dial(ctx context.Context, name string) (*Conn, error) {
	var c Config
	return c.Dial(ctx, name)
}

// Dialer returns a function that dials name whatever address it is asked
// for, in the shape of http.Transport's DialContext:
//
//	client := &http.Client{Transport: &http.Transport{DialContext: cfg.Dialer("myapp")}}
func (c *Config) Dialer(name string) func(ctx context.Context, network, address string) (net.Conn, error) {
	return func(ctx context.Context, _, _ string) (net.Conn, error) {
		conn, err := c.Dial(ctx, name)
		if err != nil {
			return nil, err
		}
		return conn, nil
	}
}

// DialAddress dials an address in any form ParseAddress accepts, with the
// zero Config. Its shape is grpc.WithContextDialer's:
//
//	grpc.NewClient("passthrough:///unix:///run/myapp.sock", grpc.WithContextDialer(ipc.DialAddress), ...)
func DialAddress(ctx context.Context, address string) (net.Conn, error) {
	name, err := ParseAddress(address)
	if err != nil {
		return nil, &net.OpError{Op: "dial", Net: network(), Err: err}
	}
	var c Config
	conn, err := c.Dial(ctx, name)
	if err != nil {
		return nil, err
	}
	return conn, nil
}

var (
	// ErrFileNext is wrapped by the error of a read that found a file
	// where it expected data: call ReceiveFile.
	ErrFileNext = errors.New("a file comes next: call ReceiveFile")
	// ErrNoFile is wrapped by ReceiveFile's error when data comes next.
	ErrNoFile = errors.New("data comes next, not a file")
)

// ErrMessageTooLarge is wrapped by the error of a read that met a message
// longer than Config.MaxMessageSize, and of a WriteMessage of one.
var ErrMessageTooLarge = errors.New("message larger than MaxMessageSize")

// ErrMessageBudget is wrapped by the error of a read that would take the
// bytes a Listener's connections hold in unfinished messages past
// Config.MessageBudget. The connection stays usable: a later read goes on.
var ErrMessageBudget = errors.New("the listener's connections hold Config.MessageBudget in unfinished messages")

// ErrMessageTorn is wrapped by the error of a message write on a connection
// where an earlier one stopped part-way (a deadline or Close ended it after
// some of the message was sent): the peer holds the start of a message that
// will never end, and a new one would be read as its rest. Close the
// connection.
var ErrMessageTorn = errors.New("an earlier message write stopped part-way: the connection's messages are out of step")

// ErrInvalidConfig is wrapped by the error of a Config that cannot be used
// as it is, or with that name.
var ErrInvalidConfig = errors.New("invalid ipc configuration")

// ErrUnsupportedAddress is wrapped by ParseAddress's error for an address
// of a kind this OS has not (npipe: on Unix, unix: on Windows) or does not
// know.
var ErrUnsupportedAddress = errors.New("unsupported address")

// ParseAddress turns an address in the forms other programs use into a
// name for Listen and Dial:
//   - unix:///run/app.sock and unix:/run/app.sock: the absolute path;
//     unix:relative/app.sock and unix:app.sock: the relative path, as gRPC
//     reads them (Unix only);
//   - npipe:////./pipe/name and npipe://./pipe/name: \\.\pipe\name, as
//     Docker writes them (Windows only);
//   - anything else, without a scheme: a name or path, unchanged.
func ParseAddress(address string) (string, error) {
	scheme, rest, ok := strings.Cut(address, ":")
	if !ok || strings.ContainsAny(scheme, `/\.`) || len(scheme) < 2 {
		return address, nil // no scheme (C:\... on Windows has a 1-letter one)
	}
	switch strings.ToLower(scheme) {
	case "unix":
		if windowsOS {
			break
		}
		if strings.HasPrefix(rest, "//") {
			// unix://host/path: only an empty host is local.
			host, path, _ := strings.Cut(rest[2:], "/")
			if host != "" {
				return "", fmt.Errorf("%w: %q: a unix: address names no host", ErrUnsupportedAddress, address)
			}
			rest = "/" + path
		}
		if rest == "" || rest == "/" {
			return "", fmt.Errorf("%w: %q: no path", ErrUnsupportedAddress, address)
		}
		if !strings.Contains(rest, "/") {
			rest = "./" + rest // a path, not a short name
		}
		return rest, nil
	case "npipe":
		if !windowsOS {
			break
		}
		p := strings.TrimPrefix(rest, "//")
		p = strings.ReplaceAll(p, "/", `\`)
		if !strings.HasPrefix(p, `\\`) {
			p = `\\` + p
		}
		return p, nil
	}
	return "", fmt.Errorf("%w: %q", ErrUnsupportedAddress, address)
}

// pathError is the error of a name that cannot be used.
func pathError(op, path string, err error) error {
	return &os.PathError{Op: op, Path: path, Err: err}
}
