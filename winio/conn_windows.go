package winio

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

// wrapConn makes go-winio's connection of a namedpipe.Conn: a *pipe, or,
// on a message pipe (messageType), a *messagePipe, which adds CloseWrite.
// When c reads in message mode (messageRead), its handle is switched to byte
// read mode, as go-winio reads message pipes: its server instances are
// created in byte read mode and its clients never switch. On failure c is
// closed.
//
// The namedpipe.Conn stays a message-mode Conn with its handle in byte read
// mode. What that rests on, from namedpipe's Conn: Write sends each buffer
// with one WriteFile (a message, whatever the read mode), CloseWrite flushes
// and sends a zero-length message, and Read returns what one ReadFile
// returns, a 0-byte read as io.EOF; a byte-mode read never answers
// ERROR_MORE_DATA, which is all that a message-mode Read does differently.
// TestMessagePipeReadsBytes and go-winio's own TestEchoWithMessaging and
// TestCloseWriteEOF check it.
func wrapConn(c *namedpipe.Conn, path string, messageType, messageRead bool) (net.Conn, error) {
	p := &pipe{c: c, path: pipeAddress(path)}
	if !messageType {
		return p, nil
	}
	if messageRead {
		var serr error
		err := p.withHandle(func(h windows.Handle) {
			mode := uint32(windows.PIPE_READMODE_BYTE)
			serr = windows.SetNamedPipeHandleState(h, &mode, nil, nil)
		})
		if err == nil {
			err = serr
		}
		if err != nil {
			c.Close()
			return nil, connErr(err)
		}
	}
	return &messagePipe{pipe: p}, nil
}

// pipe is a connection of a byte pipe, with go-winio's methods and errors:
// a net.Conn and PipeConn, plus Fd and IsClosed.
type pipe struct {
	c      *namedpipe.Conn
	path   pipeAddress
	closed atomic.Bool
}

var _ PipeConn = (*pipe)(nil)

// connErr turns namedpipe's errors into go-winio's values: io.EOF;
// ErrTimeout for a deadline; ErrFileClosed (os.ErrClosed) after Close; else
// the Windows error itself, not wrapped.
func connErr(err error) error {
	switch {
	case err == nil, err == io.EOF:
		return err
	case errors.Is(err, os.ErrDeadlineExceeded):
		return ErrTimeout
	case errors.Is(err, net.ErrClosed):
		return ErrFileClosed
	}
	return cause(err)
}

// Read reads from the pipe; a closed peer reads as io.EOF.
func (p *pipe) Read(b []byte) (int, error) {
	n, err := p.c.Read(b)
	return n, connErr(err)
}

// Write writes b.
func (p *pipe) Write(b []byte) (int, error) {
	n, err := p.c.Write(b)
	return n, connErr(err)
}

// Close closes the connection; pending reads and writes fail with
// ErrFileClosed. It returns nil, the second time too, as go-winio's.
func (p *pipe) Close() error {
	p.closed.Store(true)
	if err := p.c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return connErr(err)
	}
	return nil
}

// IsClosed reports whether Close (or Disconnect) was called.
func (p *pipe) IsClosed() bool { return p.closed.Load() }

// Disconnect ends a server connection at once (FSCTL_PIPE_DISCONNECT):
// what the client has not read is dropped, and its next read or write
// fails. The connection is closed afterwards, and its instance goes back to
// the listener for the next client. On a client end it fails.
func (p *pipe) Disconnect() error {
	err := p.c.Disconnect()
	if err == nil || errors.Is(err, net.ErrClosed) {
		p.closed.Store(true)
	}
	return connErr(err)
}

// Flush waits until the peer has read everything written so far.
func (p *pipe) Flush() error { return connErr(p.c.Flush()) }

// LocalAddr returns the pipe's path as given to ListenPipe or DialPipe.
func (p *pipe) LocalAddr() net.Addr { return p.path }

// RemoteAddr returns the pipe's path, as LocalAddr does.
func (p *pipe) RemoteAddr() net.Addr { return p.path }

// SetDeadline sets the read and write deadlines. It returns nil, as
// go-winio's does, even after Close.
func (p *pipe) SetDeadline(t time.Time) error {
	p.c.SetDeadline(t)
	return nil
}

// SetReadDeadline sets the deadline for pending and future reads, which
// then fail with ErrTimeout; the connection stays usable. It returns nil.
func (p *pipe) SetReadDeadline(t time.Time) error {
	p.c.SetReadDeadline(t)
	return nil
}

// SetWriteDeadline sets the deadline for pending and future writes, as
// SetReadDeadline does for reads. It returns nil.
func (p *pipe) SetWriteDeadline(t time.Time) error {
	p.c.SetWriteDeadline(t)
	return nil
}

// Fd returns the pipe's handle, valid until Close. It stays on conduit's
// I/O completion port: query it and set its state, but issue no overlapped
// I/O on it and do not close it. After Close it returns 0 (go-winio returns
// the closed handle's old value).
func (p *pipe) Fd() uintptr {
	var fd uintptr
	p.withHandle(func(h windows.Handle) { fd = uintptr(h) })
	return fd
}

// withHandle runs fn with the connection's handle, kept open meanwhile.
func (p *pipe) withHandle(fn func(h windows.Handle)) error {
	rc, err := p.c.SyscallConn()
	if err != nil {
		return err
	}
	return rc.Control(func(fd uintptr) { fn(windows.Handle(fd)) })
}

// messagePipe is a connection of a message pipe: a byte stream to read, one
// message per Write, and CloseWrite, as go-winio's win32MessageBytePipe.
type messagePipe struct {
	*pipe
	wmu         sync.Mutex // serialises CloseWrite with Write's check
	writeClosed atomic.Bool
	readEOF     atomic.Bool
}

// Read reads a byte stream: as many queued messages' bytes as fit in b. A
// zero-length message (the peer's CloseWrite) reads as io.EOF, and so does
// every Read after it, as go-winio's.
func (p *messagePipe) Read(b []byte) (int, error) {
	if p.readEOF.Load() {
		return 0, io.EOF
	}
	if len(b) == 0 {
		return 0, nil
	}
	n, err := p.c.Read(b)
	if err == io.EOF {
		p.readEOF.Store(true)
	}
	return n, connErr(err)
}

// Write sends b as one message. An empty b sends nothing: the zero-length
// message is CloseWrite's. After CloseWrite it fails with io.ErrClosedPipe.
func (p *messagePipe) Write(b []byte) (int, error) {
	if p.writeClosed.Load() {
		return 0, io.ErrClosedPipe
	}
	if len(b) == 0 {
		return 0, nil
	}
	n, err := p.c.Write(b)
	if err != nil && p.writeClosed.Load() {
		return n, io.ErrClosedPipe
	}
	return n, connErr(err)
}

// CloseWrite ends this side's stream: it waits until the peer has read
// everything written so far (as Flush; Close interrupts it), then sends the
// zero-length message that the peer's Read returns as io.EOF. Reads go on.
// A second call returns io.ErrClosedPipe, as go-winio's.
func (p *messagePipe) CloseWrite() error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	if p.writeClosed.Load() {
		return io.ErrClosedPipe
	}
	if err := p.c.CloseWrite(); err != nil {
		return connErr(err)
	}
	p.writeClosed.Store(true)
	return nil
}
