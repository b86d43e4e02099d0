package ipc

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/ipcname"
	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/winsec"
	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

const windowsOS = true

// network is the Net of Windows addresses.
func network() string { return "pipe" }

// localSystem is LocalSystem's SID: the account Windows services run as,
// which may open any process.
const localSystem = "S-1-5-18"

// Listener is a named-pipe listener. Accept returns only clients that the
// Config admits.
type Listener struct {
	cfg  Config
	self identity
	l    *namedpipe.Listener
	addr Addr
	// budget bounds what its connections hold in unfinished messages.
	budget *budget
}

// Path returns where name lives: a socket's path on Unix (a short name's in
// the user's private runtime directory, which it creates and checks as
// Listen does), a \\.\pipe\ path on Windows. A path is returned as it is.
func Path(name string) (string, error) {
	n, err := ipcname.Parse(name, "pipe", namedpipe.MaxNameLength)
	if err != nil {
		return "", err
	}
	return n.Path, nil
}

// RuntimeDir returns the user's private runtime directory, where short
// names' sockets live, created and checked as Listen does. Windows has
// none: there it fails with errors.ErrUnsupported.
func RuntimeDir() (string, error) {
	return "", fmt.Errorf("no runtime directory on Windows: names are pipes: %w", errors.ErrUnsupported)
}

// windowsIdentity returns who this process is, and the SID of AllowGroup.
func (c *Config) windowsIdentity() (identity, error) {
	user, err := winsec.CurrentUser()
	if err != nil {
		return identity{}, err
	}
	self := identity{user: user}
	if c.AllowGroup != "" {
		sid, err := groupSID(c.AllowGroup)
		if err != nil {
			return self, fmt.Errorf("%w: AllowGroup %q: %w", ErrInvalidConfig, c.AllowGroup, err)
		}
		self.group = sid
	}
	return self, nil
}

// groupSID returns the SID string of a group given by name or SID.
func groupSID(g string) (string, error) {
	if strings.HasPrefix(strings.ToUpper(g), "S-") {
		sid, err := windows.StringToSid(g)
		if err != nil {
			return "", err
		}
		return sid.String(), nil
	}
	sid, _, _, err := windows.LookupSID("", g)
	if err != nil {
		return "", err
	}
	return sid.String(), nil
}

// Listen creates the pipe and listens on it (namedpipe.ListenConfig), with a
// DACL for the current user alone by default (CurrentUserOnly); AllowGroup
// and AllowOtherUsers (Authenticated Users) add read and write access for
// others, never the right to create instances (namedpipe.ClientAccess). A
// name in use fails with an error matching fs.ErrExist, but for one that
// only connections of this process's closed listeners keep: with the same
// Config (MessageMode, AllowGroup, AllowOtherUsers) the new listener joins
// it, as on Unix (namedpipe.Listen), and otherwise it is refused until
// those connections close. Windows also keeps counting a connection whose
// server end closed until its client closes too: meanwhile the name is
// refused. Errors are *net.OpError.
//
// Clients are identified from the pipe, by impersonating them, which ipc's
// Dial allows. A client that forbids it (SECURITY_ANONYMOUS, as go-winio's
// DialPipe asks for) is refused by a Listener with AllowGroup,
// AllowOtherUsers or Authorize: its process ID, the only other way, can be
// handed to another process. With the default Config it is admitted by its
// process's token (the DACL lets no other user open the pipe), but may not
// pass handles (SendFile) to this side.
func (c *Config) Listen(name string) (*Listener, error) {
	fail := func(err error) (*Listener, error) {
		var pe *os.PathError
		path := name
		if errors.As(err, &pe) {
			path, err = pe.Path, pe.Err
		}
		return nil, &net.OpError{Op: "listen", Net: "pipe", Addr: Addr{"pipe", path}, Err: err}
	}
	if c.Backlog < 0 {
		return fail(fmt.Errorf("%w: negative Backlog %d", ErrInvalidConfig, c.Backlog))
	}
	if err := c.checkLimits(); err != nil {
		return fail(err)
	}
	self, err := c.windowsIdentity()
	if err != nil {
		return fail(err)
	}
	lc := namedpipe.ListenConfig{MessageMode: c.MessageMode, Backlog: min(c.Backlog, namedpipe.MaxBacklog)}
	if c.AllowGroup == "" && !c.AllowOtherUsers {
		lc.CurrentUserOnly = true
	} else {
		sddl := "O:" + self.user + "D:P(A;;GA;;;" + self.user + ")"
		if self.group != "" {
			sddl += "(A;;" + namedpipe.ClientAccessSDDL + ";;;" + self.group + ")"
		}
		if c.AllowOtherUsers {
			sddl += "(A;;" + namedpipe.ClientAccessSDDL + ";;;AU)"
		}
		lc.SecurityDescriptor = sddl
	}
	l, err := lc.Listen(name)
	if err != nil {
		return fail(err)
	}
	return &Listener{cfg: *c, self: self, l: l, addr: Addr{"pipe", l.Addr().String()}, budget: newBudget(c.messageBudget())}, nil
}

// Accept waits for the next admitted client and returns it as a net.Conn.
func (l *Listener) Accept() (net.Conn, error) {
	c, err := l.AcceptIPC()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptIPC waits for the next client that the Config admits (the built-in
// check, then Authorize) and returns it. Refused clients are closed and
// never returned. After Close it returns an error wrapping net.ErrClosed.
func (l *Listener) AcceptIPC() (*Conn, error) {
	for {
		pc, err := l.l.AcceptPipe()
		if err != nil {
			return nil, err
		}
		c := newConn(pc, l.addr, l.cfg.MessageMode, l.cfg.maxMessage(), l.budget)
		if at := pc.Connected(); !at.IsZero() {
			// When the client connected, not when Accept took it: the
			// bound for its process's age here and in SendFile, which
			// the client cannot stretch by keeping the server busy.
			c.created = at
		}
		c.peer, c.push, err = clientCredentials(pc, c.created, l.cfg.pidFallbackOK())
		c.pushKnown = true
		if err == nil {
			c.peer = peerOf(c.peer)
			err = l.cfg.admit(c.credentials(l.cfg.Authorize != nil), l.self, nil)
		}
		if err != nil {
			pc.Close()
			continue
		}
		return c, nil
	}
}

// Close stops listening; connections already accepted stay open.
func (l *Listener) Close() error { return l.l.Close() }

// Addr returns the pipe's \\.\pipe\ path.
func (l *Listener) Addr() net.Addr { return l.addr }

// SyscallConn returns a raw connection to one of the pipe's listening
// instances (namedpipe.Listener.SyscallConn).
func (l *Listener) SyscallConn() (syscall.RawConn, error) { return l.l.SyscallConn() }

// Dial connects to the pipe name (namedpipe.DialConfig, waiting for a busy
// pipe until ctx ends). The server must pass the Config's check, on the
// pipe's owner (by default: this user), and Authorize. Errors are
// *net.OpError.
//
// The owner says which user, not which of its processes: a process of the
// same user at medium integrity can add an instance to an elevated
// server's pipe (the owner, this user, holds FILE_CREATE_PIPE_INSTANCE,
// and a pipe without a mandatory label counts as medium), and Dial may
// reach it instead. A client of an elevated server should trust it no
// further than "this user". Handles such an instance sends are refused
// (its integrity is below the client's only if the client is elevated
// too; see SendFile). A mandatory label on the pipe (no write up at the
// server's level) would also shut out every medium client, the usual
// ones of a server that admits other users, so ipc does not set one.
func (c *Config) Dial(ctx context.Context, name string) (*Conn, error) {
	fail := func(path string, err error) (*Conn, error) {
		var oe *net.OpError
		if errors.As(err, &oe) {
			err = oe.Err
		}
		var pe *os.PathError
		if errors.As(err, &pe) {
			path, err = pe.Path, pe.Err
		}
		return nil, &net.OpError{Op: "dial", Net: "pipe", Addr: Addr{"pipe", path}, Err: err}
	}
	if err := c.checkLimits(); err != nil {
		return fail(name, err)
	}
	self, err := c.windowsIdentity()
	if err != nil {
		return fail(name, err)
	}
	if n, err := ipcname.Parse(name, "pipe", namedpipe.MaxNameLength); err == nil && !n.Local() {
		// Over SMB: this user's credentials would go to that host, and the
		// PIDs it reports mean nothing here.
		return fail(name, fmt.Errorf("%w: ipc is local, and %s is on another machine (use namedpipe to dial it)", ErrUnsupportedAddress, name))
	}
	dc := namedpipe.DialConfig{WaitForServer: c.WaitForServer}
	pc, err := dc.Dial(ctx, name)
	if err != nil {
		return fail(name, err)
	}
	addr := Addr{"pipe", pc.RemoteAddr().String()}
	cn := newConn(pc, addr, c.MessageMode, c.maxMessage(), nil)
	cn.peer, err = serverCredentials(pc)
	if err == nil {
		cn.peer = peerOf(cn.peer)
		err = c.admit(cn.credentials(c.Authorize != nil), self, nil)
	}
	if err != nil {
		pc.Close()
		return fail(addr.Path, err)
	}
	return cn, nil
}

// clientCredentials identifies a server connection's client: its process
// from the pipe, its user and groups from its token, read while
// impersonating it (the client allowed at least Identification, as Dial
// does by default).
//
// Windows may refuse to impersonate a client that allowed only Anonymous
// (SECURITY_SQOS_PRESENT|SECURITY_ANONYMOUS, which go-winio's DialPipe
// asks for), or, as ERROR_CANNOT_IMPERSONATE's text has it, one that has
// written nothing yet. Then the only way left is the client's process by
// its PID, and the client chose to be there: a client that connects, hands
// its end to another process and exits leaves its PID to whatever process
// Windows gives it next, elevated or SYSTEM included. The process must be
// older than the connection (olderThan, against namedpipe's
// Conn.Connected, which the client cannot stretch as it could the time of
// Accept by keeping the server busy), which leaves only a process created
// between the client's connecting and its listener's seeing it: the PID's
// token is used only
// where nothing rests on it beyond what the pipe's DACL already enforces:
// fallbackOK (a Config admitting this user alone, without Authorize; see
// pidFallbackOK). Else such a client is refused. And a peer so identified
// may never push handles (push is an error): its token says nothing sure
// about who could have put a handle into this process.
func clientCredentials(pc *namedpipe.Conn, accepted time.Time, fallbackOK bool) (cred Credentials, push error, err error) {
	if at := pc.Connected(); !at.IsZero() {
		accepted = at // when the client connected: earlier, and the bound that holds
	}
	pid, err := pc.ClientProcessID()
	if err != nil {
		return Credentials{}, nil, err
	}
	cred = Credentials{PID: int(pid)}
	// On a goroutine of its own: should the thread fail to get its token
	// back after impersonating, Impersonate leaves that goroutine locked to
	// it, and the thread ends with the goroutine instead of serving others
	// as the client.
	done := make(chan error, 1)
	go func() {
		done <- pc.Impersonate(func() error {
			var t windows.Token
			if err := windows.OpenThreadToken(windows.CurrentThread(), windows.TOKEN_QUERY|windows.TOKEN_DUPLICATE, true, &t); err != nil {
				return err
			}
			defer t.Close()
			if err := fromToken(t, &cred); err != nil {
				return err
			}
			push = mayPush(t, cred.UserID)
			return nil
		})
	}()
	err = <-done
	if h := testHookImpersonate; h != nil {
		err = h(err)
	}
	if err == nil {
		return cred, push, nil
	}
	if !fallbackOK {
		return Credentials{PID: int(pid)}, nil, fmt.Errorf("%w: the client cannot be identified from the pipe (it may forbid identification, as SECURITY_ANONYMOUS does: %w), and with AllowGroup, AllowOtherUsers or Authorize its process ID is not enough", fs.ErrPermission, err)
	}
	cred = Credentials{PID: int(pid)}
	proc, perr := windows.OpenProcess(windows.PROCESS_QUERY_LIMITED_INFORMATION, false, pid)
	if perr != nil {
		return cred, nil, fmt.Errorf("identifying the client: %w (and opening its process: %w)", err, perr)
	}
	defer windows.CloseHandle(proc)
	var t windows.Token
	if err := windows.OpenProcessToken(proc, windows.TOKEN_QUERY, &t); err != nil {
		return cred, nil, fmt.Errorf("identifying the client: %w", err)
	}
	defer t.Close()
	if err := fromToken(t, &cred); err != nil {
		return cred, nil, err
	}
	push = fmt.Errorf("%w: the client was identified by its process ID, not from the pipe, and may not hand this process handles", fs.ErrPermission)
	// The client's process is older than its connection; one that took
	// the PID after the client left is not.
	if err := olderThan(proc, accepted); err != nil {
		return cred, nil, err
	}
	if info, err := pc.Info(); err != nil || info.State != namedpipe.StateConnected {
		return cred, nil, fmt.Errorf("the client left while it was identified: %w", net.ErrClosed)
	}
	return cred, push, nil
}

// testHookImpersonate, when set, is given the result of identifying a
// client from the pipe and returns the one to use.
var testHookImpersonate func(error) error

// pidFallbackOK reports whether a client that cannot be identified from
// the pipe may be identified by its process ID (clientCredentials): only
// where the Config admits this user alone (the pipe's DACL then lets no
// one else open it) and has no Authorize, which would decide on groups a
// reused PID could lend.
func (c *Config) pidFallbackOK() bool {
	return c.AllowGroup == "" && !c.AllowOtherUsers && c.Authorize == nil
}

// mayPush says whether the owner of token t, of user SID user, could have
// put a handle into this process, and so whether a handle value it sends
// names a handle it gave this process rather than one of this process's
// own: only a process that can open this one with PROCESS_DUP_HANDLE can
// (SendFile). Two checks, both of which must pass:
//   - the rule (pushVerdict): this user or LocalSystem, not less than this
//     process in integrity, not in an AppContainer: the same user at
//     medium integrity cannot open an elevated process of its (UAC's
//     mandatory label on processes: no write up, and PROCESS_DUP_HANDLE is
//     a write), and an AppContainer's token is checked against its
//     package's SIDs;
//   - the access check itself (dupAccess): AccessCheck of this process's
//     security descriptor, its owner, DACL and mandatory label, against
//     t for PROCESS_DUP_HANDLE, which is what OpenProcess asks of the
//     kernel: it refuses a restricted or write-restricted token whose
//     restricting SIDs this DACL does not grant, and a DACL hardened
//     against this process's own user (as browsers and password managers
//     harden theirs). It does not count SeDebugPrivilege, which lets its
//     holder open any process whatever the DACL: such a peer is refused,
//     the safe side.
//
// t must have TOKEN_QUERY and TOKEN_DUPLICATE access. Where something
// cannot be read, the answer is no.
func mayPush(t windows.Token, user string) error {
	me, err := winsec.CurrentUser()
	if err != nil {
		return err
	}
	if user != me && user != localSystem {
		return fmt.Errorf("%w: user %s cannot open this process", fs.ErrPermission, user)
	}
	self, err := selfIntegrity()
	if err != nil {
		return err
	}
	il, err := integrity(t)
	if err != nil {
		return fmt.Errorf("%w: reading the peer's integrity level: %w", fs.ErrPermission, err)
	}
	container, err := isAppContainer(t)
	if err != nil {
		return fmt.Errorf("%w: reading whether the peer runs in an AppContainer: %w", fs.ErrPermission, err)
	}
	if err := pushVerdict(user, il, self, container); err != nil {
		return err
	}
	return dupAccess(t, user)
}

// processMapping is the process object type's GENERIC_MAPPING, as the
// kernel debugger's !object shows the Process type's (read 0x20410, write
// 0x20bea, execute 0x121000, all 0x1fffff): PROCESS_DUP_HANDLE is a write
// right, which is what no-write-up denies to a lower integrity level.
var processMapping = nt.GENERIC_MAPPING{
	GenericRead:    0x20410,
	GenericWrite:   0x20bea,
	GenericExecute: 0x121000,
	GenericAll:     0x1fffff,
}

// dupAccess fails unless AccessCheck says that token t (of user, for
// errors) would be granted PROCESS_DUP_HANDLE on this process. This
// process's descriptor is read each time, with its mandatory label where
// the system gives it (LABEL_SECURITY_INFORMATION); AccessCheck wants an
// impersonation token, so t is duplicated as one at identification level.
func dupAccess(t windows.Token, user string) error {
	sd, err := windows.GetSecurityInfo(windows.CurrentProcess(), windows.SE_KERNEL_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.GROUP_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION|windows.LABEL_SECURITY_INFORMATION)
	if err != nil {
		// Without the label: the integrity rule above stands for it.
		sd, err = windows.GetSecurityInfo(windows.CurrentProcess(), windows.SE_KERNEL_OBJECT,
			windows.OWNER_SECURITY_INFORMATION|windows.GROUP_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	}
	if err != nil {
		return fmt.Errorf("%w: reading this process's security descriptor: %w", fs.ErrPermission, err)
	}
	var imp windows.Token
	if err := windows.DuplicateTokenEx(t, windows.TOKEN_QUERY, nil, windows.SecurityIdentification, windows.TokenImpersonation, &imp); err != nil {
		return fmt.Errorf("%w: duplicating the peer's token for an access check: %w", fs.ErrPermission, err)
	}
	defer imp.Close()
	privileges := make([]byte, 256) // PRIVILEGE_SET: what the check used, unread
	for {
		var granted uint32
		var status int32
		size := uint32(len(privileges))
		err := nt.AccessCheck(sd, imp, windows.PROCESS_DUP_HANDLE, &processMapping, &privileges[0], &size, &granted, &status)
		switch {
		case err == windows.ERROR_INSUFFICIENT_BUFFER && int(size) > len(privileges):
			privileges = make([]byte, size)
			continue
		case err != nil:
			return fmt.Errorf("%w: the access check of the peer's token: %w", fs.ErrPermission, os.NewSyscallError("AccessCheck", err))
		case status == 0 || granted&windows.PROCESS_DUP_HANDLE == 0:
			return fmt.Errorf("%w: the peer (user %s) may not open this process with PROCESS_DUP_HANDLE (its access check)", fs.ErrPermission, user)
		}
		return nil
	}
}

// pushVerdict is mayPush's rule, once the token has been read: a peer of
// user (this user's, or LocalSystem: checked before) at integrity il, this
// process at self.
func pushVerdict(user string, il, self uint32, container bool) error {
	switch {
	case il < self:
		return fmt.Errorf("%w: the peer (user %s) runs at integrity level %#x, below this process's %#x, and cannot open it", fs.ErrPermission, user, il, self)
	case container:
		return fmt.Errorf("%w: the peer (user %s) runs in an AppContainer and cannot open this process", fs.ErrPermission, user)
	}
	return nil
}

// integrity returns the integrity level of token t: the last subauthority
// of its mandatory label (SECURITY_MANDATORY_MEDIUM_RID and the like,
// winnt.h).
func integrity(t windows.Token) (uint32, error) {
	var n uint32
	windows.GetTokenInformation(t, windows.TokenIntegrityLevel, nil, 0, &n)
	if n < uint32(unsafe.Sizeof(windows.Tokenmandatorylabel{})) {
		return 0, windows.ERROR_INSUFFICIENT_BUFFER
	}
	buf := make([]byte, n)
	if err := windows.GetTokenInformation(t, windows.TokenIntegrityLevel, &buf[0], n, &n); err != nil {
		return 0, err
	}
	label := (*windows.Tokenmandatorylabel)(unsafe.Pointer(&buf[0]))
	// The level from the SID's string, S-1-16-<level>: x/sys's
	// SubAuthority returns a pointer that checkptr refuses for a SID in Go
	// memory.
	sid := label.Label.Sid.String()
	i := strings.LastIndexByte(sid, '-')
	level, err := strconv.ParseUint(sid[i+1:], 10, 32)
	if i < 0 || err != nil || !strings.HasPrefix(sid, "S-1-16-") {
		return 0, fmt.Errorf("a mandatory label %q without a level", sid)
	}
	return uint32(level), nil
}

// tokenIsAppContainer is TOKEN_INFORMATION_CLASS's TokenIsAppContainer
// (winnt.h; x/sys names the classes up to TokenLogonSid, 28).
const tokenIsAppContainer = 29

// isAppContainer reports whether token t is an AppContainer's. Windows
// before 8 has no such class: no token is then.
func isAppContainer(t windows.Token) (bool, error) {
	var v, n uint32
	err := windows.GetTokenInformation(t, tokenIsAppContainer, (*byte)(unsafe.Pointer(&v)), 4, &n)
	if err == windows.ERROR_INVALID_PARAMETER || err == windows.ERROR_INVALID_FUNCTION {
		return false, nil
	}
	return v != 0, err
}

// selfIntegrity is this process's integrity level, read once.
var selfIntegrity = sync.OnceValues(func() (uint32, error) {
	return integrity(windows.GetCurrentProcessToken())
})

// fromToken fills cred's user and enabled groups from a token.
func fromToken(t windows.Token, cred *Credentials) error {
	u, err := t.GetTokenUser()
	if err != nil {
		return err
	}
	cred.UserID = u.User.Sid.String()
	g, err := t.GetTokenGroups()
	if err != nil {
		return err
	}
	for _, sa := range g.AllGroups() {
		if sa.Attributes&windows.SE_GROUP_ENABLED != 0 {
			cred.GroupIDs = append(cred.GroupIDs, sa.Sid.String())
		}
	}
	return nil
}

// serverCredentials identifies a client connection's server: its process
// from the pipe, its user as the pipe's owner (the server's Listen sets the
// owner; conduit's to the server's user).
func serverCredentials(pc *namedpipe.Conn) (Credentials, error) {
	pid, err := pc.ServerProcessID()
	if err != nil {
		return Credentials{}, err
	}
	cred := Credentials{PID: int(pid)}
	err = rawControl(pc, func(h windows.Handle) error {
		sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
		if err != nil {
			return err
		}
		owner, _, err := sd.Owner()
		if err != nil {
			return err
		}
		cred.UserID = owner.String()
		return nil
	})
	return cred, err
}

// rawControl runs fn with the connection's handle.
func rawControl(sc syscall.Conn, fn func(h windows.Handle) error) error {
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = fn(windows.Handle(fd)) }); err != nil {
		return err
	}
	return ferr
}

// Conn is a connection to a peer over a named pipe. It implements
// net.Conn; in message mode every Write sends one message and ReadMessage
// returns one.
//
// Message mode's wire format: each pipe message starts with one byte,
// msgData for a message (then the payload's length, 4 bytes, little-endian,
// and the payload, maybe empty) or msgFile for a file (then the handle's
// value in the receiving process, 8 bytes, little-endian); a pipe message
// of no bytes at all is the end of the stream, which CloseWrite sends. So
// an empty message is not the end of the stream, and data can never pass
// for a file. A peer that breaks these rules, or sends a message longer
// than Config.MaxMessageSize, fails the read that meets it and every read
// after.
type Conn struct {
	pc      *namedpipe.Conn
	addr    Addr
	message bool
	created time.Time // when the connection was made: its peer's process is older
	max     int       // Config.MaxMessageSize, resolved

	credMu sync.Mutex // guards peer: reads may hold rmu for long
	peer   Credentials

	rmu  sync.Mutex
	pend []byte         // message mode: the unread rest of a message
	file windows.Handle // a file that came where data was read, 0 if none
	rerr error          // message mode: the peer broke the protocol: every read fails so
	rbuf []byte         // message mode: a pipe message's first bytes
	// A message whose payload is being read, kept when a deadline ends a
	// read in its middle so that the next read goes on with it.
	body bool
	msg  []byte // its payload so far
	size int    // its length
	mem  memory // what msg holds of the listener's budget
	// Whether the peer could have put handles in this process (mayPush):
	// read when the connection was accepted, or, for a server, when its
	// first file comes.
	pushKnown bool
	push      error

	wmu      sync.Mutex
	wbuf     []byte // message mode: the header and a message's payload
	wclosed  bool   // message mode: CloseWrite has sent the end of the stream
	torn     bool   // message mode: a message write failed part-way (ErrMessageTorn)
	closed   atomic.Bool
	deadline atomic.Pointer[time.Time] // the write deadline, as set
}

// Message mode's headers: the type byte, and for msgData the payload's
// length, little-endian, so that a reader knows where a message ends
// whatever its reads return, and refuses one over its bound before reading
// it.
const (
	msgData = 0
	msgFile = 2

	dataHeader = 5 // msgData and the length
	fileSize   = 9 // msgFile and the handle
)

func newConn(pc *namedpipe.Conn, addr Addr, message bool, max int, bud *budget) *Conn {
	return &Conn{pc: pc, addr: addr, message: message, created: time.Now(), max: max, mem: memory{b: bud}}
}

func (c *Conn) credentials(withName bool) Credentials {
	if withName && c.peer.UserName == "" {
		if sid, err := windows.StringToSid(c.peer.UserID); err == nil {
			if account, domain, _, err := sid.LookupAccount(""); err == nil {
				c.peer.UserName = account
				if domain != "" {
					c.peer.UserName = domain + `\` + account
				}
			}
		}
	}
	return c.peer
}

// PeerCredentials returns who is on the other end: a server's client (its
// process and token), or a client's server (its process and the pipe's
// owner).
func (c *Conn) PeerCredentials() (Credentials, error) {
	c.credMu.Lock()
	defer c.credMu.Unlock()
	return c.credentials(true), nil
}

func (c *Conn) opError(op string, err error) error {
	if err == nil || err == io.EOF {
		return err
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return err
	}
	return &net.OpError{Op: op, Net: "pipe", Source: c.addr, Addr: c.addr, Err: err}
}

// Read reads data. In message mode it returns bytes of one message at a
// time (the rest of a long message on the next calls) and skips empty
// messages; a file where data was expected fails it with ErrFileNext.
func (c *Conn) Read(b []byte) (int, error) {
	if !c.message {
		return c.pc.Read(b)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.pend) == 0 {
		m, err := c.next()
		if err != nil {
			return 0, err
		}
		// An empty message is skipped: it must not stay pending, or
		// ReadMessage would return it after a file that follows it.
		c.pend = m
		if len(m) == 0 {
			c.pend = nil
		}
	}
	n := copy(b, c.pend)
	if c.pend = c.pend[n:]; len(c.pend) == 0 {
		c.pend = nil // nil: nothing pending; empty: an empty message
	}
	return n, nil
}

// next reads the next message, or the rest of one that an error ended
// part-way; a file is kept for ReceiveFile and reported as ErrFileNext.
// Called with rmu held.
//
// It reads with namedpipe's Read, which returns bytes of one pipe message
// at a time (a message-mode ReadFile stops at the message's end, or when
// the buffer is full, ERROR_MORE_DATA): the header's length says how much
// more belongs to the message, and a read that ends short of it met the
// pipe message's end.
func (c *Conn) next() ([]byte, error) {
	if c.file != 0 {
		return nil, c.opError("read", ErrFileNext)
	}
	if c.rerr != nil {
		return nil, c.opError("read", c.rerr)
	}
	if !c.body {
		if c.rbuf == nil {
			c.rbuf = make([]byte, 4096)
		}
		n, err := c.pc.Read(c.rbuf)
		if err != nil {
			return nil, err // io.EOF: the peer's CloseWrite, or its end
		}
		m := c.rbuf[:n]
		switch {
		case m[0] == msgFile && n == fileSize:
			if err := c.trustPush(); err != nil {
				return nil, c.opError("read", c.broken(err))
			}
			c.file = windows.Handle(binary.LittleEndian.Uint64(m[1:]))
			return nil, c.opError("read", ErrFileNext)
		case m[0] != msgData || n < dataHeader:
			return nil, c.opError("read", c.broken(fmt.Errorf("a message with header %#x, %d bytes: the peer does not speak ipc's protocol", m[0], n)))
		}
		// Compared before it becomes an int, which on 32-bit Windows
		// cannot hold every length.
		size := binary.LittleEndian.Uint32(m[1:])
		if uint64(size) > uint64(c.max) {
			return nil, c.opError("read", c.broken(fmt.Errorf("%w: a message of %d bytes, more than %d", ErrMessageTooLarge, size, c.max)))
		}
		got := m[dataHeader:]
		if len(got) > int(size) || (n < len(c.rbuf) && len(got) < int(size)) {
			return nil, c.opError("read", c.broken(fmt.Errorf("a message of %d bytes that says it has %d: the peer does not speak ipc's protocol", len(got), size)))
		}
		m = append(make([]byte, 0, len(got)), got...)
		if len(got) == int(size) {
			return m, nil // whole in the first read
		}
		c.body, c.size, c.msg = true, int(size), m
	}
	if cap(c.msg) < c.size {
		// The rest is read straight into the message, made once at its
		// size, once the listener's budget has room for it: a length the
		// peer announces costs nothing until then, and nothing is read
		// meanwhile, so a read that fails here can go on later.
		if err := c.mem.take(c.size - cap(c.msg)); err != nil {
			return nil, c.opError("read", err)
		}
		m := make([]byte, len(c.msg), c.size)
		copy(m, c.msg)
		c.msg = m
	}
	for len(c.msg) < c.size {
		if testHookMidMessage != nil {
			testHookMidMessage(c)
		}
		want := c.size - len(c.msg)
		k, err := c.pc.Read(c.msg[len(c.msg):c.size])
		c.msg = c.msg[:len(c.msg)+k]
		if err == io.EOF {
			return nil, c.opError("read", c.broken(io.ErrUnexpectedEOF))
		}
		if err != nil {
			return nil, err // a deadline, say: the next read goes on from here
		}
		if k < want && len(c.msg) < c.size {
			return nil, c.opError("read", c.broken(fmt.Errorf("a message of %d bytes that says it has %d: the peer does not speak ipc's protocol", len(c.msg), c.size)))
		}
	}
	m := c.msg
	c.body, c.msg = false, nil
	c.mem.release()
	return m, nil
}

// testHookMidMessage, when set, runs before each read of a message's rest.
var testHookMidMessage func(*Conn)

// broken makes err the error of every read from now on: the peer broke the
// protocol, and what it sends next cannot be trusted to begin a message.
// Called with rmu held.
func (c *Conn) broken(err error) error {
	c.rerr = err
	c.body, c.msg = false, nil
	c.mem.release()
	return err
}

// ReadMessage reads one whole message, of any length, empty ones included
// (as an empty, non-nil slice); after the peer's CloseWrite or Close it
// returns io.EOF. Where a file comes first it fails with ErrFileNext and
// the file waits for ReceiveFile. A message partly read by Read is returned
// from where Read stopped. In byte-stream mode it fails with
// errors.ErrUnsupported.
func (c *Conn) ReadMessage() ([]byte, error) {
	if !c.message {
		return nil, c.opError("read", fmt.Errorf("ReadMessage on a byte stream: %w", errors.ErrUnsupported))
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.pend != nil {
		m := c.pend
		c.pend = nil
		return m, nil
	}
	return c.next()
}

// Write writes b; in message mode as one message. An empty b sends nothing.
func (c *Conn) Write(b []byte) (int, error) {
	if !c.message {
		return c.pc.Write(b)
	}
	if len(b) == 0 {
		return 0, nil
	}
	if err := c.WriteMessage(b); err != nil {
		return 0, err
	}
	return len(b), nil
}

// WriteMessage sends b as exactly one message, an empty one when b is
// empty. In byte-stream mode it fails with errors.ErrUnsupported.
func (c *Conn) WriteMessage(b []byte) error {
	if !c.message {
		return c.opError("write", fmt.Errorf("WriteMessage on a byte stream: %w", errors.ErrUnsupported))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeLocked(msgData, b)
}

// writeLocked sends one pipe message: the header, then b. Called with wmu
// held.
func (c *Conn) writeLocked(header byte, b []byte) error {
	if c.wclosed {
		return c.opError("write", errWriteClosed)
	}
	if c.torn {
		return c.opError("write", c.tornError())
	}
	if header == msgData && len(b) > c.max {
		return c.opError("write", fmt.Errorf("%w: a message of %d bytes, more than %d", ErrMessageTooLarge, len(b), c.max))
	}
	if d := c.deadline.Load(); d != nil && !d.IsZero() && !time.Now().Before(*d) {
		// Past its deadline before it began: nothing was sent, and the
		// connection stays as it was (net.Conn's contract).
		return c.opError("write", os.ErrDeadlineExceeded)
	}
	n := 1 + len(b)
	if header == msgData {
		n += 4
	}
	if cap(c.wbuf) < n {
		c.wbuf = make([]byte, n)
	}
	m := c.wbuf[:n]
	m[0] = header
	if header == msgData {
		binary.LittleEndian.PutUint32(m[1:], uint32(len(b)))
		copy(m[dataHeader:], b)
	} else {
		copy(m[1:], b)
	}
	err := c.pc.WriteMessage(m)
	if err != nil {
		// Whether a write that a deadline or Close cancelled had been
		// read in part is not documented (nor whether the reader then
		// gets the rest of it): no message may follow it. A deadline that
		// passes between the check above and the write makes this
		// connection refuse a write that could have gone: the safe side.
		c.torn = true
	}
	if cap(c.wbuf) > 1<<20 {
		c.wbuf = nil // keep no large buffer for the next small message
	}
	return err
}

// CloseWrite ends this side's stream in message mode: the peer reads what
// was written, then io.EOF; reads go on. A byte-mode pipe has no way to, and
// it fails with errors.ErrUnsupported there.
//
// Unlike namedpipe.Conn.CloseWrite it does not wait for the peer to read
// what came before, just as shutdown(2) does not on Unix: the peer is an
// ipc Conn, whose reads are in message read mode and cannot merge the
// zero-length mark away (namedpipe waits for the sake of byte-mode readers
// such as go-winio's).
func (c *Conn) CloseWrite() error {
	if !c.message {
		return c.pc.CloseWrite() // ErrUnsupported
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.wclosed {
		return nil
	}
	if err := c.pc.WriteMessage(nil); err != nil {
		return err
	}
	c.wclosed = true
	return nil
}

var errWriteClosed = errors.New("write after CloseWrite")

// tornError is the error of a message write once one has failed part-way:
// net.ErrClosed after Close, ErrMessageTorn before.
func (c *Conn) tornError() error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	return ErrMessageTorn
}

// trustPush checks that the peer may hand this process handles: a handle
// value comes from the peer, and only a peer that can open this process
// could have put a handle there (mayPush); from any other, the value may
// name one of this process's own handles. A client's token is read when
// it is accepted; a server's when its first file comes, from its process,
// which must be the one that was the server when the connection was made
// (peerProcess). Called with rmu held.
func (c *Conn) trustPush() error {
	if !c.pushKnown {
		c.push = c.serverMayPush()
		c.pushKnown = true
	}
	if c.push != nil {
		// Only fields set when the connection was made: PeerCredentials
		// may be filling in the user's name meanwhile.
		return fmt.Errorf("a file from user %s (PID %d) is refused: %w", c.peer.UserID, c.peer.PID, c.push)
	}
	return nil
}

// serverMayPush reads mayPush's answer for this client connection's server.
func (c *Conn) serverMayPush() error {
	proc, err := c.peerProcess(0)
	if err != nil {
		return fmt.Errorf("%w: %w", fs.ErrPermission, err)
	}
	defer windows.CloseHandle(proc)
	var t windows.Token
	if err := windows.OpenProcessToken(proc, windows.TOKEN_QUERY|windows.TOKEN_DUPLICATE, &t); err != nil {
		return fmt.Errorf("%w: reading the server's token: %w", fs.ErrPermission, err)
	}
	defer t.Close()
	u, err := t.GetTokenUser()
	if err != nil {
		return fmt.Errorf("%w: reading the server's user: %w", fs.ErrPermission, err)
	}
	return mayPush(t, u.User.Sid.String())
}

// errFilesNeedMessages is the error of SendFile and ReceiveFile on a byte
// stream on Windows.
var errFilesNeedMessages = fmt.Errorf("on Windows files pass in message mode only (a byte stream has no place for one but in its data): %w", errors.ErrUnsupported)

// SendFile passes f to the peer process, which gets it from ReceiveFile: a
// new handle for the same file, pipe or socket, duplicated into the peer's
// process (whose ID the pipe reports), so this process must be able to open
// it with PROCESS_DUP_HANDLE: the same user, or a more privileged one (a
// service can hand a file to a user's client; a user's process cannot hand
// one to a service). f stays open here. On Windows files pass in message
// mode only: on a byte stream SendFile fails with errors.ErrUnsupported.
//
// Ordering: a file travels in order with the messages, as an item of its
// own. The receiver must call ReceiveFile where the file comes; Read or
// ReadMessage that reaches it fails with ErrFileNext and leaves it for
// ReceiveFile. A file the receiver never takes is closed in its process when
// it closes the connection, if it is in the pipe by then and no read is in
// progress; a process's handles close when it exits.
func (c *Conn) SendFile(f *os.File) error {
	if !c.message {
		return c.opError("sendfile", errFilesNeedMessages)
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	proc, err := c.peerProcess(windows.PROCESS_DUP_HANDLE)
	if err != nil {
		return c.opError("sendfile", err)
	}
	defer windows.CloseHandle(proc)
	var remote windows.Handle
	err = rawControl(f, func(h windows.Handle) error {
		return windows.DuplicateHandle(windows.CurrentProcess(), h, proc, &remote, 0, false, windows.DUPLICATE_SAME_ACCESS)
	})
	if err != nil {
		return c.opError("sendfile", err)
	}
	var v [8]byte
	binary.LittleEndian.PutUint64(v[:], uint64(remote))
	if err := c.writeLocked(msgFile, v[:]); err != nil {
		// Never delivered: close it in the peer, where nothing can have
		// used it.
		windows.DuplicateHandle(proc, remote, 0, nil, 0, false, windows.DUPLICATE_CLOSE_SOURCE)
		return c.opError("sendfile", err)
	}
	return nil
}

// peerProcess opens the peer's process with access. The PID is the one the
// pipe reported when the connection was made; the process that has it now
// is the peer only if it is older than the connection and the pipe is still
// connected, so both are checked: a PID that the peer left behind and
// another process took is refused.
func (c *Conn) peerProcess(access uint32) (windows.Handle, error) {
	proc, err := windows.OpenProcess(access|windows.PROCESS_QUERY_LIMITED_INFORMATION, false, uint32(c.peer.PID))
	if err != nil {
		// A peer that has exited, its process gone, fails OpenProcess
		// (ERROR_INVALID_PARAMETER): the pipe says whether that is it.
		if err := c.peerConnected(); err != nil {
			return 0, err
		}
		return 0, fmt.Errorf("opening the peer's process: %w", err)
	}
	if err := olderThan(proc, c.created); err != nil {
		windows.CloseHandle(proc)
		return 0, err
	}
	// Checked once the process is held: the PID was the peer's only if the
	// pipe was still connected after it was opened. (This also gives this
	// side's own Close its error.)
	if err := c.peerConnected(); err != nil {
		windows.CloseHandle(proc)
		return 0, err
	}
	return proc, nil
}

// peerConnected fails if the pipe no longer connects this side to the peer:
// with this side's own close error after Close, and with ERROR_BROKEN_PIPE,
// as a write to the peer would fail, once the peer has left (net.ErrClosed
// would say that this side had closed).
func (c *Conn) peerConnected() error {
	info, err := c.pc.Info()
	if err != nil {
		return err
	}
	if info.State != namedpipe.StateConnected {
		return fmt.Errorf("the peer has left: %w", windows.ERROR_BROKEN_PIPE)
	}
	return nil
}

// olderThan fails unless the process proc was created before t.
func olderThan(proc windows.Handle, t time.Time) error {
	var created, exited, kernel, user windows.Filetime
	if err := windows.GetProcessTimes(proc, &created, &exited, &kernel, &user); err != nil {
		return fmt.Errorf("reading the peer's process times: %w", err)
	}
	// Not older is refused, equal times included: a process made in the
	// same tick as the connection is not the one that made it.
	if !time.Unix(0, created.Nanoseconds()).Before(t) {
		return fmt.Errorf("the peer's process ID now belongs to a newer process: %w", windows.ERROR_BROKEN_PIPE)
	}
	return nil
}

// ReceiveFile returns the file the peer sent with SendFile next. Where data
// comes first it fails with an error wrapping ErrNoFile and leaves the data
// for Read (see SendFile's ordering rule). The caller owns the file. On
// Windows files pass in message mode only: on a byte stream ReceiveFile
// fails with errors.ErrUnsupported.
func (c *Conn) ReceiveFile() (*os.File, error) {
	if !c.message {
		return nil, c.opError("receivefile", errFilesNeedMessages)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.file == 0 && c.pend == nil {
		m, err := c.next()
		switch {
		case err == nil:
			c.pend = m // never nil: an empty message is empty, not nil
		case !errors.Is(err, ErrFileNext):
			return nil, c.opError("receivefile", err)
		}
	}
	if c.file == 0 {
		return nil, c.opError("receivefile", ErrNoFile)
	}
	f := os.NewFile(uintptr(c.file), "ipc-received")
	c.file = 0
	return f, nil
}

// Close closes the connection. In message mode, files that the peer sent
// and this side never took, already in the pipe, are closed first, unless a
// read is in progress (Close ends it).
func (c *Conn) Close() error {
	c.closed.Store(true)
	if c.rmu.TryLock() {
		if c.message {
			c.closeUntaken()
		}
		c.rmu.Unlock()
	}
	err := c.pc.Close() // ends a read in progress
	c.rmu.Lock()
	if c.file != 0 {
		windows.CloseHandle(c.file)
		c.file = 0
	}
	c.body, c.msg = false, nil
	c.mem.release()
	c.rmu.Unlock()
	return err
}

// closeUntaken reads the messages already waiting, without waiting for
// more, and closes the files among them. It holds no message: a data
// message's payload is read into a small buffer and dropped, the rest of
// one being read included, so that its bytes are never taken for a file.
// Called with rmu held.
func (c *Conn) closeUntaken() {
	if c.rerr != nil || c.trustPush() != nil {
		return // out of step, or this peer's files were refused: no handles of ours
	}
	var buf [4096]byte
	skip := 0 // payload bytes of a data message still to read
	if c.body {
		skip = c.size - len(c.msg)
	}
	for range 1024 {
		p, err := c.pc.Peek()
		if err != nil || p.Available == 0 {
			return // nothing waits: a read would
		}
		if skip > 0 {
			n, err := c.pc.Read(buf[:min(skip, len(buf))])
			if err != nil || n == 0 {
				return
			}
			skip -= n
			continue
		}
		n, err := c.pc.Read(buf[:])
		switch {
		case err != nil || n == 0:
			return
		case buf[0] == msgFile && n == fileSize:
			windows.CloseHandle(windows.Handle(binary.LittleEndian.Uint64(buf[1:])))
		case buf[0] == msgData && n >= dataHeader:
			skip = int(binary.LittleEndian.Uint32(buf[1:])) - (n - dataHeader)
		default:
			return // not ipc's: where its messages begin is unknown
		}
	}
}

// LocalAddr returns the pipe's path.
func (c *Conn) LocalAddr() net.Addr { return c.addr }

// RemoteAddr returns the pipe's path: both ends share it.
func (c *Conn) RemoteAddr() net.Addr { return c.addr }

// SetDeadline sets the read and write deadlines (net.Conn).
func (c *Conn) SetDeadline(t time.Time) error {
	c.deadline.Store(&t)
	return c.pc.SetDeadline(t)
}

// SetReadDeadline sets the read deadline (net.Conn).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.pc.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline (net.Conn).
func (c *Conn) SetWriteDeadline(t time.Time) error {
	c.deadline.Store(&t)
	return c.pc.SetWriteDeadline(t)
}

// SyscallConn returns a raw connection to the pipe's handle
// (namedpipe.Conn.SyscallConn).
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.pc.SyscallConn() }

var (
	_ net.Conn     = (*Conn)(nil)
	_ net.Listener = (*Listener)(nil)
	_ syscall.Conn = (*Conn)(nil)
)
