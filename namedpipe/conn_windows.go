package namedpipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"sync"
	"time"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// Conn is one end of a connected pipe instance: a server's, from Accept, or a
// client's, from Dial. It implements net.Conn. Reads and writes are
// overlapped: a pending one blocks its goroutine, not an OS thread, and
// obeys deadlines and Close.
//
// On a message pipe every Write sends one message, Read returns a message's
// bytes in order (the rest of a long message on the next calls) and a
// zero-length message as io.EOF, and ReadMessage returns whole messages.
type Conn struct {
	f       *iocp.File
	addr    Addr
	server  bool
	message bool // message read mode

	rmu, wmu    sync.Mutex
	writeClosed bool // under wmu

	closeOnce sync.Once
	listener  *Listener // the listener that accepted it, if it did
	connected time.Time // when a listener saw its client connect; zero otherwise
}

// Connected returns, for a connection a Listener accepted, a time no
// earlier than when its client connected: when the instance's listen
// request (FSCTL_PIPE_LISTEN) completed, which it does as the client
// connects, or, for a client that connected before the request was made,
// when the request answered that one had (STATUS_PIPE_CONNECTED). It is
// zero for a Dial's or NewConn's Conn.
//
// A process that was created after this time cannot be the client that
// connected: so the process of a client's ID (ClientProcessID) that is
// younger than this is another one that has taken the ID of a client that
// has left. Accept can come much later than this, and is no such bound.
func (c *Conn) Connected() time.Time { return c.connected }

func newConn(f *iocp.File, addr Addr, server, message bool) *Conn {
	return &Conn{f: f, addr: addr, server: server, message: message}
}

func (c *Conn) opError(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case err == iocp.ErrClosed:
		err = net.ErrClosed
	}
	if oe, ok := err.(*net.OpError); ok {
		return oe
	}
	return &net.OpError{Op: op, Net: "pipe", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: err}
}

// Read reads data from the pipe. A closed peer reads as io.EOF once its data
// has been read; so does a zero-length message, the end-of-stream mark that
// CloseWrite sends on message pipes. On a message pipe a Read returns bytes of
// one message only.
func (c *Conn) Read(b []byte) (int, error) {
	if len(b) == 0 && !c.message {
		return 0, nil
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	n, err := c.read(b)
	switch {
	case err == windows.ERROR_MORE_DATA:
		// The rest of the message is left for the next Read.
		return n, nil
	case err == nil && n == 0, isEOF(err):
		// A zero-length message (n == 0 with nothing else to say), or a
		// closed peer.
		return n, io.EOF
	}
	return n, c.opError("read", err)
}

func isEOF(err error) bool {
	// ERROR_PIPE_NOT_CONNECTED: the server disconnected the instance.
	return err == windows.ERROR_BROKEN_PIPE || err == windows.ERROR_PIPE_NOT_CONNECTED
}

func (c *Conn) read(b []byte) (int, error) {
	return c.f.Read(context.Background(), b)
}

// ReadMessage reads one whole message, of any length, including zero-length
// ones (returned as an empty, non-nil slice). A closed peer reads as io.EOF.
// If a deadline or Close ends it part-way through a long message, the rest
// of that message stays queued, and the next read returns it as if it were
// a message of its own: the Conn is out of step, and best closed.
// It is for message pipes; on a byte pipe it returns an error wrapping
// errors.ErrUnsupported.
func (c *Conn) ReadMessage() ([]byte, error) {
	if !c.message {
		return nil, c.opError("read", fmt.Errorf("ReadMessage on a byte-mode pipe: %w", errors.ErrUnsupported))
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	buf := make([]byte, 4096)
	n, err := c.read(buf)
	for err == windows.ERROR_MORE_DATA {
		// Size the rest exactly when the pipe tells how much is left.
		pb, _ := c.peek()
		grow := int(pb.MessageLength)
		if grow == 0 {
			grow = len(buf)
		}
		buf = append(buf[:n], make([]byte, grow)...)
		var m int
		m, err = c.read(buf[n:])
		n += m
	}
	if isEOF(err) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, c.opError("read", err)
	}
	return buf[:n:n], nil
}

// Write writes b. On a message pipe it sends b as one message. An empty b
// sends nothing, on either kind of pipe: the zero-length message, which the
// peer reads as io.EOF, is CloseWrite's (or WriteMessage's) to send.
func (c *Conn) Write(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeClosed {
		return 0, c.opError("write", errWriteClosed)
	}
	if c.message {
		return c.writeMessage(b)
	}
	total := 0
	for len(b) > 0 {
		n, err := c.write(b)
		total += n
		if err != nil {
			return total, c.opError("write", err)
		}
		b = b[n:]
	}
	return total, nil
}

// WriteMessage sends b as exactly one message on a message pipe, a
// zero-length one when b is empty: the peer's ReadMessage returns it as an
// empty message, and its Read as io.EOF (so, to a reader that uses Read,
// an empty message ends the stream, as CloseWrite does, but Writes may
// follow). On a byte pipe it returns an error wrapping
// errors.ErrUnsupported.
func (c *Conn) WriteMessage(b []byte) error {
	if !c.message {
		return c.opError("write", fmt.Errorf("WriteMessage on a byte-mode pipe: %w", errors.ErrUnsupported))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeClosed {
		return c.opError("write", errWriteClosed)
	}
	_, err := c.writeMessage(b)
	return err
}

// writeMessage sends b as one message. Called with wmu held.
func (c *Conn) writeMessage(b []byte) (int, error) {
	if uint64(len(b)) > maxMessage {
		return 0, c.opError("write", fmt.Errorf("message of %d bytes exceeds the 4 GiB limit", len(b)))
	}
	n, err := c.write(b)
	if err == nil && n < len(b) {
		err = io.ErrShortWrite
	}
	return n, c.opError("write", err)
}

// maxMessage is the longest message one WriteFile can send.
const maxMessage = math.MaxUint32 - 1

var errWriteClosed = errors.New("write after CloseWrite")

// testHookCloseWriteFlush, when set, runs as CloseWrite starts to wait for
// the peer to read.
var testHookCloseWriteFlush func()

func (c *Conn) write(b []byte) (int, error) {
	return c.f.Write(context.Background(), b)
}

// CloseWrite ends this side's stream on a message pipe: it sends the
// zero-length message that the peer's Read returns as io.EOF (the convention
// of go-winio, Docker and containerd), and further Writes fail. Reads go on.
// Byte pipes have no such mark: there it returns an error wrapping
// errors.ErrUnsupported.
//
// Before it sends the mark, CloseWrite waits until the peer has read
// everything written so far, as Flush does, holding its OS thread meanwhile
// (Close interrupts it). A peer that reads in byte read mode (every go-winio
// client, and Win32 clients that do not call SetNamedPipeHandleState) would
// otherwise lose the mark: a byte-mode read on Windows takes queued messages
// for as long as its buffer has room, and a zero-length one among them adds
// nothing to what it returns (the named-pipe file system's read loop, as in
// ReactOS's NpReadDataQueue; go-winio #42, fixed the same way in #43). So a
// peer that writes to this Conn must be read concurrently, or CloseWrite and
// the peer's Write may wait for each other.
//
// An end that cannot write (an Inbound pipe's server, an Outbound pipe's
// client) cannot send the mark: CloseWrite fails with an error wrapping
// ERROR_ACCESS_DENIED (errors.Is with fs.ErrPermission holds).
func (c *Conn) CloseWrite() error {
	if !c.message {
		return c.opError("close", fmt.Errorf("CloseWrite on a byte-mode pipe: %w", errors.ErrUnsupported))
	}
	if !c.canWrite() {
		return c.opError("close", fmt.Errorf("CloseWrite on an end of the pipe that cannot write: %w", windows.ERROR_ACCESS_DENIED))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.writeClosed {
		return nil
	}
	if testHookCloseWriteFlush != nil {
		testHookCloseWriteFlush()
	}
	if err := c.Flush(); err != nil {
		return err
	}
	if _, err := c.writeMessage(nil); err != nil {
		return err
	}
	c.writeClosed = true
	return nil
}

// Flush waits until the peer has read everything written so far
// (FlushFileBuffers). Windows has no overlapped form of it, so Flush holds
// its OS thread while it waits; Close interrupts it. A peer that closes
// with nothing of ours left to read ends the wait with nil; one that
// closes while data this end wrote was still waiting to be read fails it
// with an error that says how much, wrapping ERROR_BROKEN_PIPE: Windows
// discards that data. A peer that closed before Flush began took the data
// with it unseen: Flush cannot tell that from a peer that had read it all,
// and returns nil. An end that cannot
// write (an Inbound pipe's server, an Outbound pipe's client) has written
// nothing to wait for, and Flush returns nil (FlushFileBuffers itself
// fails there with ERROR_ACCESS_DENIED: flushing a pipe needs
// FILE_WRITE_DATA); so does a client opened for reading only.
func (c *Conn) Flush() error {
	// What this end has written that the peer has not read yet: the quota
	// of the buffer this end writes into less what of it is free. Both
	// ends report the quotas as the server sees them, so a client writes
	// into the inbound one (Wine's dlls/ntdll/tests/pipe.c expects so of
	// Windows). A read pending at the peer takes its size out of the free
	// quota with no data waiting, so the count is then too high; it
	// matters only if the peer, with that read pending, closes just as
	// Flush begins: FlushFileBuffers returns at once when nothing waits,
	// so only then does it report a broken pipe with nothing lost.
	queued := 0
	if info, err := c.localInfo(); err == nil {
		quota := info.OutboundQuota
		if info.NamedPipeEnd == windows.FILE_PIPE_CLIENT_END {
			quota = info.InboundQuota
		}
		if quota > info.WriteQuotaAvailable {
			queued = int(quota - info.WriteQuotaAvailable)
		}
	}
	err := c.f.Blocking(windows.FlushFileBuffers)
	switch {
	case isEOF(err) && queued > 0:
		// FlushFileBuffers returns once the peer has read everything,
		// so a peer that left before that left data unread: Windows
		// discards what the peer's end had not read when it closes.
		err = &unreadError{n: queued, err: err}
	case isEOF(err):
		// The peer left with nothing of ours to read.
		err = nil
	case err == windows.ERROR_ACCESS_DENIED && !c.canWrite():
		err = nil
	}
	return c.opError("flush", err)
}

// unreadError is Flush's error when the peer closed its end while data
// this end wrote was still waiting for it: the data is lost.
type unreadError struct {
	n   int
	err error
}

func (e *unreadError) Error() string {
	return fmt.Sprintf("the peer closed its end with %d bytes written to it unread: %v", e.n, e.err)
}

func (e *unreadError) Unwrap() error { return e.err }

// canWrite reports whether this end may write: whether its handle was
// granted FILE_WRITE_DATA (a read-only client of a duplex pipe was not:
// Dial's read-only fallback, or a handle opened GENERIC_READ and given to
// NewConn), and the pipe's direction as its server set it
// (FilePipeLocalInformation); true if it cannot tell.
func (c *Conn) canWrite() bool {
	var granted uint32
	if err := c.withHandle("access", func(h windows.Handle) (err error) {
		granted, err = nt.GrantedAccess(h)
		return err
	}); err == nil && granted&windows.FILE_WRITE_DATA == 0 {
		return false
	}
	info, err := c.localInfo()
	if err != nil {
		return true
	}
	switch info.NamedPipeConfiguration {
	case windows.FILE_PIPE_INBOUND: // clients write, the server reads
		return info.NamedPipeEnd == windows.FILE_PIPE_CLIENT_END
	case windows.FILE_PIPE_OUTBOUND: // the server writes, clients read
		return info.NamedPipeEnd == windows.FILE_PIPE_SERVER_END
	}
	return true
}

// Close closes the connection. It unblocks pending Reads and Writes, which
// return net.ErrClosed. The peer reads what was written before Close, then
// io.EOF. A second Close returns an error wrapping net.ErrClosed.
func (c *Conn) Close() error {
	err := net.ErrClosed
	c.closeOnce.Do(func() {
		if c.listener != nil {
			err = c.listener.closeConn(c)
		} else {
			err = c.f.Close()
		}
	})
	return c.opError("close", err)
}

// LocalAddr returns the pipe's address.
func (c *Conn) LocalAddr() net.Addr { return c.addr }

// RemoteAddr returns the pipe's address: both ends of a pipe share it.
func (c *Conn) RemoteAddr() net.Addr { return c.addr }

// SetDeadline sets the read and write deadlines.
func (c *Conn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.SetWriteDeadline(t)
}

// SetReadDeadline sets the deadline for pending and future Reads; when it
// passes they fail with an error wrapping os.ErrDeadlineExceeded, and the
// connection stays usable. The zero time means none.
func (c *Conn) SetReadDeadline(t time.Time) error {
	if c.f.Closed() {
		return c.opError("set", net.ErrClosed)
	}
	c.f.SetReadDeadline(t)
	return nil
}

// SetWriteDeadline sets the deadline for pending and future Writes, like
// SetReadDeadline. A write that times out may have sent part of its data.
func (c *Conn) SetWriteDeadline(t time.Time) error {
	if c.f.Closed() {
		return c.opError("set", net.ErrClosed)
	}
	c.f.SetWriteDeadline(t)
	return nil
}

// peerGone reports whether the client has already closed a connected
// instance without leaving data to read.
func (c *Conn) peerGone() bool {
	pb, err := c.peek()
	return err == iocp.ErrClosed || isEOF(err) && pb.ReadDataAvailable == 0
}

// localInfo returns FILE_PIPE_LOCAL_INFORMATION for this end.
func (c *Conn) localInfo() (nt.FILE_PIPE_LOCAL_INFORMATION, error) {
	if err := c.f.Acquire(); err != nil {
		return nt.FILE_PIPE_LOCAL_INFORMATION{}, err
	}
	defer c.f.Release()
	return nt.QueryInformationFile[nt.FILE_PIPE_LOCAL_INFORMATION](c.f.Handle(), nt.FilePipeLocalInformation)
}

var _ net.Conn = (*Conn)(nil)
