package namedpipe

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Direction says which way data flows between a server and its clients.
type Direction int

const (
	// Duplex pipes carry data both ways (PIPE_ACCESS_DUPLEX: the server
	// instance shares read and write access with its client).
	Duplex Direction = iota
	// Inbound pipes carry data from clients to the server
	// (PIPE_ACCESS_INBOUND): clients write, the server reads.
	Inbound
	// Outbound pipes carry data from the server to clients
	// (PIPE_ACCESS_OUTBOUND): the server writes, clients read.
	Outbound
)

func (d Direction) String() string {
	switch d {
	case Duplex:
		return "duplex"
	case Inbound:
		return "inbound"
	case Outbound:
		return "outbound"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

const (
	// DefaultBacklog is the number of instances a Listener keeps waiting for
	// clients when ListenConfig.Backlog is zero.
	DefaultBacklog = 4
	// MaxBacklog is the largest ListenConfig.Backlog: 254, the most
	// instances a pipe with a limit may have. Listen makes that many
	// instances at once, so a larger backlog would only cost handles (and,
	// for a huge one, keep Listen creating instances until the system
	// runs out).
	MaxBacklog = 254
	// DefaultBufferSize is the input and output quota of each instance when
	// ListenConfig leaves them zero.
	DefaultBufferSize = 64 << 10
	// defaultTimeout is the pipe's default time-out, used by clients that
	// call WaitNamedPipe with NMPWAIT_USE_DEFAULT_WAIT; Windows' own default.
	defaultTimeout = 50 * time.Millisecond
)

// ListenConfig configures a Listener. Its zero value is a byte-mode, duplex,
// local-only pipe with unlimited instances, four of them listening at once,
// 64 KiB quotas and access for the current user and LocalSystem only.
//
// Each field names what it sets in NtCreateNamedPipeFile (the parameters that
// IRP_MJ_CREATE_NAMED_PIPE hands the named-pipe file system in
// NAMED_PIPE_CREATE_PARAMETERS).
type ListenConfig struct {
	// MessageMode makes the pipe a message pipe: NamedPipeType
	// FILE_PIPE_MESSAGE_TYPE and ReadMode FILE_PIPE_MESSAGE_MODE. Every Write
	// is then one message, ReadMessage returns whole messages, and CloseWrite
	// sends the zero-length message that the peer reads as io.EOF, once the
	// peer has read what came before it. Default: byte stream
	// (FILE_PIPE_BYTE_STREAM_TYPE).
	MessageMode bool

	// Direction sets the share access of each server instance, which is what
	// decides whether clients may read, write or both: FILE_SHARE_READ for
	// clients that read, FILE_SHARE_WRITE for clients that write. Default:
	// Duplex.
	Direction Direction

	// MaxInstances limits how many instances, connected or listening, may
	// exist at once (MaximumInstances): 1 to 254. Zero means unlimited
	// (-1 to the file system). When all instances are connected, further
	// clients get ERROR_PIPE_BUSY and Dial waits for one to free up.
	MaxInstances int

	// Backlog is how many clients may connect before Accept takes them,
	// as a socket's backlog: the listener keeps that many instances
	// listening, less the connections waiting for Accept, and replaces an
	// instance as soon as a client connects while there is room. So a
	// burst of Backlog clients is served even by clients that do not retry
	// on ERROR_PIPE_BUSY, and a slow Accept holds at most Backlog
	// connections. Default 4; at most MaxInstances, and at most
	// MaxBacklog even when instances are unlimited. Each instance costs
	// one handle and, while listening, one goroutine; no OS thread.
	Backlog int

	// ListenOnAccept makes the pipe connectable only while an Accept
	// waits, as go-winio's listener is, instead of keeping a backlog.
	// Listen then creates the pipe's first instance without read or write
	// access (SYNCHRONIZE only), which Windows leaves disconnected: this
	// placeholder holds the name and the security descriptor and takes no
	// client. Each waiting Accept gets an instance of its own that listens
	// while it waits; a client that connects to it is that Accept's (or the
	// next one's, if it connected as its Accept returned), and no other
	// instance listens until another Accept waits. Meanwhile clients find
	// the pipe busy: Dial waits (and its context may end it), and clients
	// that do not retry on ERROR_PIPE_BUSY fail. Close closes the listening
	// instances and the placeholder; a client that connected as Close ran
	// reads io.EOF, or finds the pipe gone. The placeholder counts against
	// MaxInstances, which must therefore be 0 or at least 2, and Backlog
	// must be 0. Default false: the backlog. The winio package sets it, so
	// that it behaves as go-winio.
	ListenOnAccept bool

	// InputBufferSize and OutputBufferSize are the instance's inbound and
	// outbound quotas in bytes (InboundQuota, OutboundQuota): how much a
	// writer may have buffered before its write waits for the reader.
	// Default 64 KiB each.
	InputBufferSize, OutputBufferSize int

	// SecurityDescriptor is an SDDL string applied to the pipe when its first
	// instance is created (it is the pipe's, not an instance's). Default:
	// owner the current user, and a protected DACL that grants full access to
	// the current user (the process token's user SID) and LocalSystem and to
	// no one else, not even read access.
	//
	// Grant clients ClientAccess ("0x12019b" in SDDL), not GA or GW: on a
	// pipe, FILE_CREATE_PIPE_INSTANCE is the same bit as FILE_APPEND_DATA,
	// so GENERIC_ALL and GENERIC_WRITE (FILE_GENERIC_WRITE) let whoever
	// holds them create server instances of this pipe after Listen and
	// receive some of its clients, which cannot tell: the instance is the
	// pipe's, with its owner. Listen's FILE_CREATE protects the name only
	// until the first instance exists. This process must keep
	// FILE_CREATE_PIPE_INSTANCE and read/write access itself (for
	// instances after the first); Listen checks that and fails with
	// ErrInvalidConfig otherwise.
	SecurityDescriptor string

	// AllowRemoteClients lets clients on other machines connect through SMB.
	// Default false: the pipe is created with FILE_PIPE_REJECT_REMOTE_CLIENTS.
	AllowRemoteClients bool

	// CurrentUserOnly narrows the default security descriptor to the
	// current user alone: LocalSystem loses its access too (as .NET's
	// PipeOptions.CurrentUserOnly). It cannot be combined with
	// SecurityDescriptor. Clients can check the matching owner with
	// DialConfig.CurrentUserOnly.
	CurrentUserOnly bool
}

// ClientAccess is the access mask to grant clients in a SecurityDescriptor:
// FILE_GENERIC_READ | FILE_GENERIC_WRITE without FILE_CREATE_PIPE_INSTANCE
// (FILE_APPEND_DATA), so they may read, write, query and set the pipe's
// state but not create instances of it. It is what .NET's
// PipeAccessRights.ReadWrite grants. In SDDL, ClientAccessSDDL, as in
// "D:P(A;;GA;;;SY)(A;;GA;;;OW)(A;;0x12019b;;;AU)" (LocalSystem and the
// owner: everything; authenticated users: read and write).
const ClientAccess = 0x12019b

// ClientAccessSDDL is ClientAccess as an SDDL ACE's rights.
const ClientAccessSDDL = "0x12019b"

// validated holds a ListenConfig with its defaults applied.
type validated struct {
	ListenConfig
	backlog int
}

func (c *ListenConfig) validate() (validated, error) {
	v := validated{ListenConfig: *c}
	switch {
	case c.MaxInstances < 0 || c.MaxInstances > 254:
		return v, fmt.Errorf("MaxInstances %d: want 0 (unlimited) or 1 to 254", c.MaxInstances)
	case c.Backlog < 0 || c.Backlog > MaxBacklog:
		return v, fmt.Errorf("Backlog %d: want 0 (default %d) to %d", c.Backlog, DefaultBacklog, MaxBacklog)
	case c.MaxInstances > 0 && c.Backlog > c.MaxInstances:
		return v, fmt.Errorf("Backlog %d exceeds MaxInstances %d", c.Backlog, c.MaxInstances)
	case c.InputBufferSize < 0 || uint64(c.InputBufferSize) > math.MaxUint32:
		return v, fmt.Errorf("InputBufferSize %d: want 0 (default) to %d", c.InputBufferSize, uint32(math.MaxUint32))
	case c.OutputBufferSize < 0 || uint64(c.OutputBufferSize) > math.MaxUint32:
		return v, fmt.Errorf("OutputBufferSize %d: want 0 (default) to %d", c.OutputBufferSize, uint32(math.MaxUint32))
	case c.Direction != Duplex && c.Direction != Inbound && c.Direction != Outbound:
		return v, fmt.Errorf("unknown %v", c.Direction)
	case c.CurrentUserOnly && c.SecurityDescriptor != "":
		return v, errors.New("CurrentUserOnly and SecurityDescriptor together")
	case c.ListenOnAccept && c.Backlog != 0:
		return v, fmt.Errorf("Backlog %d with ListenOnAccept, which listens for each waiting Accept: want 0", c.Backlog)
	case c.ListenOnAccept && c.MaxInstances == 1:
		return v, errors.New("MaxInstances 1 with ListenOnAccept, whose placeholder takes one instance: want 0 or at least 2")
	}
	v.backlog = c.Backlog
	if v.backlog == 0 {
		v.backlog = DefaultBacklog
		if c.MaxInstances > 0 && c.MaxInstances < v.backlog {
			v.backlog = c.MaxInstances
		}
	}
	if v.InputBufferSize == 0 {
		v.InputBufferSize = DefaultBufferSize
	}
	if v.OutputBufferSize == 0 {
		v.OutputBufferSize = DefaultBufferSize
	}
	return v, nil
}

// ErrInvalidConfig is matched (errors.Is) by every error that a ListenConfig
// or DialConfig field causes.
var ErrInvalidConfig = errors.New("invalid configuration")

func configError(err error) error { return fmt.Errorf("%w: %w", ErrInvalidConfig, err) }
