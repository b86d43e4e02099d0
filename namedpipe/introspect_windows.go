package namedpipe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// PeekInfo is what Peek sees without reading.
type PeekInfo struct {
	Available        int // bytes ready to read, over all queued messages
	MessageRemaining int // bytes of the next (or current, partly read) message; 0 on byte pipes
}

// Peek reports how much data is waiting to be read, without reading it or
// waiting for it (FSCTL_PIPE_PEEK, as PeekNamedPipe). A closed peer's end
// with nothing left is io.EOF's cause: the error wraps ERROR_BROKEN_PIPE.
func (c *Conn) Peek() (PeekInfo, error) {
	pb, err := c.peek()
	avail, left := pb.ReadDataAvailable, pb.MessageLength
	if !c.message {
		// Windows documents 0 for byte pipes; Wine 8 reports the bytes
		// available. A byte-mode reader has no message to speak of.
		left = 0
	}
	return PeekInfo{Available: int(avail), MessageRemaining: int(left)}, c.opError("peek", err)
}

// State is the state of a pipe instance (FILE_PIPE_*_STATE).
type State uint32

const (
	StateDisconnected State = windows.FILE_PIPE_DISCONNECTED_STATE // the server disconnected it
	StateListening    State = windows.FILE_PIPE_LISTENING_STATE    // waiting for a client
	StateConnected    State = windows.FILE_PIPE_CONNECTED_STATE    // both ends open
	StateClosing      State = windows.FILE_PIPE_CLOSING_STATE      // the other end has closed
)

func (s State) String() string {
	switch s {
	case StateDisconnected:
		return "disconnected"
	case StateListening:
		return "listening"
	case StateConnected:
		return "connected"
	case StateClosing:
		return "closing"
	}
	return fmt.Sprintf("State(%d)", uint32(s))
}

// Info describes a pipe as seen from one of its ends, read with
// NtQueryInformationFile (FilePipeLocalInformation, FilePipeInformation).
type Info struct {
	MessageType      bool      // the pipe's type is message (FILE_PIPE_MESSAGE_TYPE)
	MessageReadMode  bool      // this end reads messages (FILE_PIPE_MESSAGE_MODE)
	Direction        Direction // as the server's ListenConfig set it
	MaxInstances     int       // 0 for unlimited
	CurrentInstances int
	InputBufferSize  int // the server's inbound quota
	OutputBufferSize int // the server's outbound quota
	ReadAvailable    int // bytes waiting to be read by this end
	WriteQuotaLeft   int // bytes this end may write before a write waits
	ServerEnd        bool
	State            State
}

// Info returns the pipe's configuration and state as this end sees it.
func (c *Conn) Info() (Info, error) {
	local, err := c.localInfo()
	if err != nil {
		return Info{}, c.opError("info", err)
	}
	var pi nt.FILE_PIPE_INFORMATION
	err = c.withHandle("info", func(h windows.Handle) (err error) {
		pi, err = nt.QueryInformationFile[nt.FILE_PIPE_INFORMATION](h, nt.FilePipeInformation)
		return err
	})
	if err != nil {
		return Info{}, err
	}
	info := Info{
		MessageType:      local.NamedPipeType&windows.FILE_PIPE_MESSAGE_TYPE != 0,
		MessageReadMode:  pi.ReadMode == windows.FILE_PIPE_MESSAGE_MODE,
		MaxInstances:     int(local.MaximumInstances),
		CurrentInstances: int(local.CurrentInstances),
		InputBufferSize:  int(local.InboundQuota),
		OutputBufferSize: int(local.OutboundQuota),
		ReadAvailable:    int(local.ReadDataAvailable),
		WriteQuotaLeft:   int(local.WriteQuotaAvailable),
		ServerEnd:        local.NamedPipeEnd == windows.FILE_PIPE_SERVER_END,
		State:            State(local.NamedPipeState),
	}
	if local.MaximumInstances == unlimitedInstances {
		info.MaxInstances = 0
	}
	// NamedPipeConfiguration is the direction from the server's side.
	switch local.NamedPipeConfiguration {
	case windows.FILE_PIPE_INBOUND:
		info.Direction = Inbound
	case windows.FILE_PIPE_OUTBOUND:
		info.Direction = Outbound
	default:
		info.Direction = Duplex
	}
	return info, nil
}

// Transact writes req as one message and reads one reply message in a single
// round trip (FSCTL_PIPE_TRANSCEIVE, what TransactNamedPipe does), for
// request/response protocols on message pipes. The pipe allows no other read
// during a transaction, so Transact fails at once, with an error wrapping
// ErrBusy, while a Read, ReadMessage, Write or another Transact is in
// progress on c; on a byte pipe it fails with errors.ErrUnsupported. ctx
// cancels it, also while it reads a long reply's remainder; the read
// deadline applies to that remainder too. A reply that comes after ctx ended
// the transaction, or the rest of one it ended part-way, stays queued for the
// next read: the Conn is out of step then, and best closed.
func (c *Conn) Transact(ctx context.Context, req []byte) ([]byte, error) {
	if !c.message {
		return nil, c.opError("transact", fmt.Errorf("Transact on a byte-mode pipe: %w", errors.ErrUnsupported))
	}
	if uint64(len(req)) > maxMessage {
		return nil, c.opError("transact", fmt.Errorf("message of %d bytes exceeds the 4 GiB limit", len(req)))
	}
	if err := ctx.Err(); err != nil {
		return nil, c.opError("transact", err)
	}
	// A transaction holds both directions: no Read may interleave with its
	// reply, no Write with its request. Waiting for them could wait for
	// ever (a Read waiting for the very reply), so it does not wait.
	if !c.wmu.TryLock() {
		return nil, c.opError("transact", fmt.Errorf("a Write is in progress: %w", ErrBusy))
	}
	defer c.wmu.Unlock()
	if !c.rmu.TryLock() {
		return nil, c.opError("transact", fmt.Errorf("a Read is in progress: %w", ErrBusy))
	}
	defer c.rmu.Unlock()
	if c.writeClosed {
		return nil, c.opError("transact", errWriteClosed)
	}
	reply := make([]byte, 4096)
	n, err := c.f.FsControl(ctx, windows.FSCTL_PIPE_TRANSCEIVE, req, reply)
	for err == windows.ERROR_MORE_DATA {
		// The reply was longer than the buffer: read the rest of it.
		reply = append(reply[:n], make([]byte, len(reply))...)
		var m int
		m, err = c.f.Read(ctx, reply[n:])
		n += m
	}
	switch {
	case iocp.IsContextCancel(err):
		return nil, c.opError("transact", ctx.Err())
	case isEOF(err):
		return nil, c.opError("transact", fmt.Errorf("peer closed before replying: %w", err))
	case err != nil:
		return nil, c.opError("transact", err)
	}
	return reply[:n:n], nil
}

// ErrBusy is wrapped by the error of Transact called while another
// operation that it cannot run beside is in progress on the Conn.
var ErrBusy = errors.New("pipe busy with another operation")

// Call connects to the message pipe name, sends req, reads one reply and
// closes the connection, as CallNamedPipe does, but waiting for a busy pipe
// and for the reply only as long as ctx allows.
func Call(ctx context.Context, name string, req []byte) ([]byte, error) {
	c, err := Dial(ctx, name)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return c.Transact(ctx, req)
}

// Disconnect ends a server connection at once (FSCTL_PIPE_DISCONNECT, what
// DisconnectNamedPipe does): data not yet read by either side is discarded,
// and the client's next read or write fails. Unlike Close, which lets the
// client read what was written, it does not wait for anything; the instance
// goes back to its Listener to wait for the next client. The Conn is closed
// afterwards. Use Flush first to be sure the client has read everything.
func (c *Conn) Disconnect() error {
	if !c.server {
		return c.opError("disconnect", errNotServer)
	}
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		if c.listener == nil {
			// Adopted with NewConn: no listener to hand the instance to.
			err = disconnect(c.f)
			if cerr := c.f.Close(); err == nil {
				err = cerr
			}
			return
		}
		err = c.reuse()
	})
	return c.opError("disconnect", err)
}

// reuse ends a server connection for good: it takes the instance from c
// (which is closed after), disconnects it, dropping unread data, and hands it
// back to the listener to wait for the next client. An instance that cannot
// be disconnected is closed instead. Called once, under c.closeOnce.
func (c *Conn) reuse() error {
	h, err := c.f.Detach()
	if err != nil {
		return err
	}
	f := iocp.Adopt(h)
	if err := disconnect(f); err != nil {
		c.listener.closeInstance(f, true)
		return err
	}
	c.listener.relisten(f)
	return nil
}

// disconnect issues FSCTL_PIPE_DISCONNECT on a server instance.
func disconnect(f *iocp.File) error {
	_, err := f.FsControl(context.Background(), nt.FSCTL_PIPE_DISCONNECT, nil, nil)
	return err
}

// SecurityDescriptor returns the SDDL of the existing local pipe name: its
// owner, group and DACL.
//
// Windows has no way to read a pipe's security without opening it, and
// opening a pipe takes one of its listening instances, so this connects as a
// client for a moment (with no read or write access and Identification
// level), reads the descriptor and leaves: the server sees a client that
// came and went (conduit's Listener drops such clients without returning
// them from Accept). A pipe whose instances are all busy fails with
// ERROR_PIPE_BUSY.
func SecurityDescriptor(name string) (string, error) {
	pn, err := parseName(name)
	if err != nil {
		return "", &os.PathError{Op: "securitydescriptor", Path: name, Err: err}
	}
	fail := func(err error) (string, error) {
		return "", &os.PathError{Op: "securitydescriptor", Path: pn.Path, Err: err}
	}
	p, err := windows.UTF16PtrFromString(pn.Path)
	if err != nil {
		return fail(err)
	}
	h, err := windows.CreateFile(p, windows.READ_CONTROL|windows.SYNCHRONIZE, 0, nil, windows.OPEN_EXISTING,
		windows.SECURITY_SQOS_PRESENT|windows.SECURITY_IDENTIFICATION, 0)
	if err != nil {
		return fail(err)
	}
	defer windows.CloseHandle(h)
	sd, err := windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.GROUP_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return fail(err)
	}
	return sd.String(), nil
}
