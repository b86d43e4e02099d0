//go:build linux || darwin || freebsd

package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"os"
	"os/user"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Wire formats of message mode.
//
// SOCK_SEQPACKET (Linux; listen_unix.go's seqpacket): a record holds one piece of a message,
// after a one-byte header: pieceLast for a message's last (or only) piece,
// pieceMore when more follow, pieceFile for a record that carries a file
// (SCM_RIGHTS) and no data. A message is cut into pieces of at most maxPiece
// bytes, so that messages larger than the socket's buffer, which one record
// cannot exceed, still go through. An empty message is one record holding
// the header alone; a record of no bytes at all (ipc sends none) is skipped:
// the stream ends where the peer closes or calls CloseWrite.
//
// The framing (macOS, which has no SOCK_SEQPACKET for Unix sockets): each
// message is a 4-byte big-endian length and that many bytes, lengths up to
// maxFramed; the length fileMarker stands for a file, carried by SCM_RIGHTS
// with those 4 bytes.
//
// A peer that breaks these rules (a record with a bad header, more
// descriptors than one where a file goes, descriptors with a message's
// bytes, a message longer than Config.MaxMessageSize) fails the read that
// meets it, and every read after: what it sends next cannot be trusted to
// begin a message. Other connections are not affected.
const (
	pieceLast = 0
	pieceMore = 1
	pieceFile = 2

	maxPiece = 64 << 10

	maxFramed  = 0xFFFFFFFE
	fileMarker = 0xFFFFFFFF

	// maxHeldFiles bounds the descriptors a framed connection holds that
	// came ahead of their markers (a sender's file items arrive one per
	// recvmsg; more waiting is a peer filling this process's table).
	maxHeldFiles = 16
)

// Conn is a connection to a peer. It implements net.Conn; in message mode
// every Write sends one message and ReadMessage returns one.
type Conn struct {
	uc     *net.UnixConn
	rc     syscall.RawConn // uc's, asked for once
	kind   kind
	addr   Addr
	credMu sync.Mutex  // guards peer and groups: reads may hold rmu for long
	peer   Credentials // as the kernel recorded it at connect time

	max int // Config.MaxMessageSize, resolved

	rmu     sync.Mutex
	rerr    error    // message modes: the peer broke the protocol: every read fails so
	pend    []byte   // message modes: the unread rest of a piece, or bytes ReceiveFile put back
	parts   [][]byte // packet: pieces of a message ReadMessage began, each its own size, after pend
	mem     memory   // what parts and the framing's message hold of the listener's budget
	file    *os.File // a file that arrived where data was read
	last    bool     // packet: pend is the end of its message
	inMsg   bool     // packet: the last piece read said more follow
	msgSize int      // packet: the bytes of the message being read so far
	fr      frameReader
	rbuf    []byte // packet: the record buffer: the header, then up to maxPiece bytes
	oob     []byte // room for one descriptor's SCM_RIGHTS, in oobb
	oobb    [32]byte
	// stashed says that a stream's pend holds bytes (ReceiveFile put
	// them back), so that Read looks at pend only then.
	stashed atomic.Bool
	groups  bool       // peer.GroupIDs has been read; under credMu
	rr      *rawReader // where the OS has one: recvmsg without allocations

	wmu  sync.Mutex
	wbuf []byte // packet: a record being written, header and piece
	torn bool   // message modes: a message write stopped part-way (ErrMessageTorn)

	closed atomic.Bool
}

// newConn wraps a connected socket and reads its peer's credentials, with
// the peer's groups if groups; max bounds a message's size, and bud, if not
// nil, what the listener's connections hold together.
func newConn(uc *net.UnixConn, k kind, addr Addr, groups bool, max int, bud *budget) (*Conn, error) {
	rc, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	c := &Conn{uc: uc, rc: rc, kind: k, addr: addr, last: true, groups: groups, max: max, mem: memory{b: bud}}
	if n := unix.CmsgSpace(4); n <= len(c.oobb) {
		c.oob = c.oobb[:n]
	} else {
		c.oob = make([]byte, n)
	}
	c.fr.c = c
	if k != stream {
		c.rr = newRawReader(rc)
	}
	err = controlRaw(rc, func(fd int) error {
		var err error
		c.peer, err = peerCredentials(fd, groups)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("reading the peer's credentials: %w", err)
	}
	c.peer = peerOf(c.peer)
	return c, nil
}

// credentials returns the peer's credentials, with its groups and the
// user's name looked up if all.
func (c *Conn) credentials(all bool) Credentials {
	if all && !c.groups {
		controlRaw(c.rc, func(fd int) error {
			full, err := peerCredentials(fd, true)
			if err == nil && testHookPeer.Load() == nil {
				c.peer.GroupIDs = full.GroupIDs
			}
			return err
		})
		c.groups = true
	}
	if all && c.peer.UserName == "" {
		if u, err := user.LookupId(c.peer.UserID); err == nil {
			c.peer.UserName = u.Username
		}
	}
	return c.peer
}

// PeerCredentials returns who is on the other end, as the kernel recorded
// it when the connection was made: a server's client, or a client's server.
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
		// The socket's own addresses may be the temporary name the
		// listener was bound to: give the real one.
		op, err = oe.Op, oe.Err
	}
	return &net.OpError{Op: op, Net: c.addr.Net, Source: c.addr, Addr: c.addr, Err: err}
}

// Read reads data. In message mode it returns bytes of one message at a
// time (the rest of a long message on the next calls) and skips empty
// messages; a file where data was expected fails it with ErrFileNext.
func (c *Conn) Read(b []byte) (int, error) {
	if c.kind == stream {
		if c.stashed.Load() {
			c.rmu.Lock()
			n := copy(b, c.pend)
			if c.pend = c.pend[n:]; len(c.pend) == 0 {
				c.pend = nil
				c.stashed.Store(false)
			}
			c.rmu.Unlock()
			return n, nil
		}
		n, err := c.uc.Read(b)
		return n, c.opError("read", err)
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	for len(c.pend) == 0 {
		if len(c.parts) > 0 {
			// The pieces of a message that a ReadMessage began and a
			// deadline ended, in order.
			c.pend, c.parts = c.parts[0], c.parts[1:]
			if len(c.parts) == 0 {
				c.parts = nil
				c.mem.release()
			}
			if len(c.pend) == 0 {
				c.pend = nil
			}
			continue
		}
		if c.file != nil {
			return 0, c.opError("read", ErrFileNext)
		}
		msg, last, err := c.piece()
		if err != nil {
			return 0, c.opError("read", err)
		}
		c.pend, c.last = msg, last
		if len(msg) == 0 {
			// An empty message, or an empty piece of one, is skipped:
			// it must not stay pending, or ReceiveFile would take it
			// for data before a file that follows, and ReadMessage
			// would return it after that file.
			c.pend = nil
		}
	}
	n := copy(b, c.pend)
	if c.pend = c.pend[n:]; len(c.pend) == 0 {
		c.pend = nil // nil: nothing pending; empty: an empty message
	}
	return n, nil
}

// ReadMessage reads one whole message, of any length, empty ones included
// (as an empty, non-nil slice); after the peer's CloseWrite or Close it
// returns io.EOF. Where a file comes first it fails with ErrFileNext and
// the file waits for ReceiveFile. A message partly read by Read is returned
// from where Read stopped. In byte-stream mode it fails with
// errors.ErrUnsupported.
func (c *Conn) ReadMessage() ([]byte, error) {
	if c.kind == stream {
		return nil, c.opError("read", fmt.Errorf("ReadMessage on a byte stream: %w", errors.ErrUnsupported))
	}
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.file != nil {
		return nil, c.opError("read", ErrFileNext)
	}
	// pend may be the record buffer's: copy it out. An empty, non-nil
	// pend is an empty message.
	var first []byte
	if c.pend != nil {
		first = append(make([]byte, 0, len(c.pend)), c.pend...)
	}
	c.pend = nil
	if c.kind == framed {
		if first != nil {
			return first, nil // a framed message is read whole
		}
		m, _, err := c.piece()
		if err != nil {
			return nil, c.opError("read", err)
		}
		return m, nil
	}
	if first != nil {
		if c.last && len(c.parts) == 0 {
			return first, nil
		}
		c.parts = append([][]byte{first}, c.parts...)
	}
	// The pieces are kept each in its own slice of its own size and
	// joined once at the end: growing one slice by append would hold up
	// to twice the message for long. Each piece after the first is held
	// against the listener's budget before it is read.
	for {
		reserved := 0
		if len(c.parts) > 0 {
			if err := c.mem.take(maxPiece); err != nil {
				return nil, c.opError("read", err) // nothing read: a later read goes on
			}
			reserved = maxPiece
		}
		piece, last, err := c.piece()
		if err != nil {
			c.mem.give(reserved)
			if (len(c.parts) > 0 || !c.last) && err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			// A deadline, say, in the middle of the message: the parts
			// read stay, and the next read goes on from there, never
			// returning the rest as a message of its own. (broken has
			// dropped them if the peer broke the protocol.)
			return nil, c.opError("read", err)
		}
		c.mem.give(reserved - len(piece))
		if last && len(c.parts) == 0 {
			c.last = true                                             // a message that Read began is over too
			return append(make([]byte, 0, len(piece)), piece...), nil // out of the record buffer
		}
		c.parts = append(c.parts, append(make([]byte, 0, len(piece)), piece...))
		c.last = false
		if last {
			c.last = true
			n := 0
			for _, p := range c.parts {
				n += len(p)
			}
			msg := make([]byte, 0, n)
			for _, p := range c.parts {
				msg = append(msg, p...)
			}
			c.parts = nil
			c.mem.release()
			return msg, nil
		}
	}
}

// piece reads the next piece of a message: a record (packet), valid until
// the next piece, or a whole message (framed); and whether it ends its
// message. A file that comes instead is kept for ReceiveFile and reported
// as ErrFileNext. Called with rmu held.
func (c *Conn) piece() ([]byte, bool, error) {
	if c.rerr != nil {
		return nil, false, c.rerr
	}
	if c.kind == framed {
		m, err := c.fr.message()
		return m, true, err
	}
	if c.rbuf == nil {
		c.rbuf = make([]byte, 1+maxPiece)
	}
	n, oobn, err := c.recvmsg(c.rbuf, c.oob)
	for err == nil && n == 0 {
		// The end of the stream, or a record of no bytes, or neither:
		// Linux's recvmsg looks at the queue, then at the peer's
		// shutdown, so a peer that writes and closes in between has
		// its records reported as the end (recvmsg_linux.go).
		if fds := rights(c.oob[:oobn]); len(fds) > 0 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, false, c.broken(fmt.Errorf("a record of no bytes with %d descriptors: the peer does not speak ipc's protocol", len(fds)))
		}
		var end bool
		if end, err = c.rr.atEnd(); err != nil {
			return nil, false, err
		}
		if end {
			return nil, false, io.EOF
		}
		n, oobn, err = c.recvmsg(c.rbuf, c.oob)
	}
	if err != nil {
		return nil, false, err
	}
	hdr := c.rbuf[0]
	if fds := rights(c.oob[:oobn]); len(fds) > 0 || hdr == pieceFile {
		if len(fds) > 1 || (len(fds) == 1 && (hdr != pieceFile || n != 1)) {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, false, c.broken(fmt.Errorf("a record of %d bytes with %d descriptors: the peer does not speak ipc's protocol", n, len(fds)))
		}
		c.file = fileOf(fds)
		if c.file == nil {
			return nil, false, c.broken(errors.New("a file record without a file: the peer does not speak ipc's protocol"))
		}
		return nil, false, ErrFileNext
	}
	if hdr != pieceLast && hdr != pieceMore {
		return nil, false, c.broken(fmt.Errorf("bad record header %#x: the peer does not speak ipc's protocol", hdr))
	}
	if !c.inMsg {
		c.msgSize = 0
	}
	// Counted here, for Read and ReadMessage alike, before the piece is
	// kept: maxPiece bounds what one piece can add.
	if c.msgSize += n - 1; c.msgSize > c.max {
		return nil, false, c.tooLarge(c.msgSize, "at least ")
	}
	c.inMsg = hdr == pieceMore
	return c.rbuf[1:n:n], hdr == pieceLast, nil
}

// broken makes err the error of every read from now on: the peer broke the
// protocol, and what it sends next cannot be trusted to begin a message.
// Called with rmu held.
func (c *Conn) broken(err error) error {
	c.rerr = err
	c.fr.closeFiles() // no read will reach their markers now
	c.dropHeld()
	return err
}

// dropHeld lets go of the unfinished message's bytes, and of their part of
// the budget. Called with rmu held.
func (c *Conn) dropHeld() {
	c.parts = nil
	c.fr.body, c.fr.msg = false, nil
	c.mem.release()
}

// tooLarge breaks the connection's reads for a message of size bytes, more
// than the Config allows.
func (c *Conn) tooLarge(size int, atLeast string) error {
	return c.broken(fmt.Errorf("%w: a message of %s%d bytes, more than %d", ErrMessageTooLarge, atLeast, size, c.max))
}

// recvmsg reads into b, and descriptors into oob, on the runtime poller,
// honouring the read deadline. n is 0 at the end of a stream socket; on a
// SOCK_SEQPACKET one, 0 may also be a record of no bytes or a peer that
// closed with records still queued (piece decides).
func (c *Conn) recvmsg(b, oob []byte) (n, oobn int, err error) {
	var flags int
	if c.rr != nil {
		n, oobn, flags, err = c.rr.recvmsg(b, oob)
	} else {
		// Package net sets MSG_CMSG_CLOEXEC where the OS has it.
		n, oobn, flags, _, err = c.uc.ReadMsgUnix(b, oob)
		if errors.Is(err, io.EOF) {
			err = nil
		}
	}
	if err == nil && flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		// A record longer than a piece, or more descriptors than one:
		// not a peer that speaks this protocol. What was cut is lost.
		for _, fd := range rights(oob[:oobn]) {
			unix.Close(fd)
		}
		return 0, 0, c.broken(fmt.Errorf("a record or its descriptors did not fit (flags %#x): the peer does not speak ipc's protocol", flags))
	}
	return n, oobn, err
}

// sendmsg writes b, with oob, on the runtime poller: one record on a
// SOCK_SEQPACKET socket.
func (c *Conn) sendmsg(b, oob []byte) error {
	_, _, err := c.uc.WriteMsgUnix(b, oob, nil)
	return err
}

// rights returns the descriptors an SCM_RIGHTS message in oob carries.
func rights(oob []byte) []int {
	if len(oob) == 0 {
		return nil
	}
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

// fileOf makes a file of the first descriptor and closes the others (one is
// sent at a time; more is a peer's mistake, never leaked).
func fileOf(fds []int) *os.File {
	if len(fds) == 0 {
		return nil
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), "ipc-received")
}

// Write writes b. In message mode it sends b as one message; an empty b
// sends nothing (WriteMessage sends an empty message).
func (c *Conn) Write(b []byte) (int, error) {
	if c.kind == stream {
		n, err := c.uc.Write(b)
		return n, c.opError("write", err)
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
	if c.kind == stream {
		return c.opError("write", fmt.Errorf("WriteMessage on a byte stream: %w", errors.ErrUnsupported))
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.torn {
		return c.opError("write", c.tornError())
	}
	if len(b) > c.max {
		return c.opError("write", fmt.Errorf("%w: a message of %d bytes, more than %d", ErrMessageTooLarge, len(b), c.max))
	}
	if c.kind == framed {
		if uint64(len(b)) > maxFramed {
			return c.opError("write", fmt.Errorf("%w: a message of %d bytes exceeds the framing's %d-byte limit", ErrMessageTooLarge, len(b), uint64(maxFramed)))
		}
		var hdr [4]byte
		binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
		bufs := net.Buffers{hdr[:], b}
		n, err := bufs.WriteTo(c.uc)
		if err != nil && n > 0 {
			// The peer has a length it will wait out: no message can
			// follow. (Zero-padding it would hand over a message never
			// sent.)
			c.torn = true
		}
		return c.opError("write", err)
	}
	if c.wbuf == nil {
		c.wbuf = make([]byte, 1+maxPiece)
	}
	for sent := false; ; sent = true {
		// One record, header and piece: a copy costs less than the
		// iovecs of a sendmsg with two buffers.
		n := copy(c.wbuf[1:], b)
		c.wbuf[0] = pieceLast
		if n < len(b) {
			c.wbuf[0] = pieceMore
		}
		// A write(2) to a SOCK_SEQPACKET socket sends one record, whole
		// or not at all.
		if _, err := c.uc.Write(c.wbuf[:1+n]); err != nil {
			// After a piece saying more follow, the next message's
			// pieces would be read as this one's rest.
			c.torn = sent
			return c.opError("write", err)
		}
		b = b[n:]
		if len(b) == 0 {
			return nil
		}
	}
}

// SendFile passes f to the peer process, which gets it from ReceiveFile: a
// new descriptor for the same open file, pipe or socket (SCM_RIGHTS). f
// stays open here. A privileged process can hand an unprivileged one a file
// it could not open itself.
//
// Ordering: a file travels in order with the data. The receiver must call
// ReceiveFile where the file comes: after reading everything written before
// SendFile, before reading anything written after. In message mode a file
// is an item of its own between messages, and Read or ReadMessage that
// reaches it fails with ErrFileNext, leaving it for ReceiveFile. In
// byte-stream mode it travels with one marker byte: ReceiveFile reads that
// byte, and a Read that reaches it first returns the byte as data and the
// file is closed, never leaked. A file that is never received is closed
// with the connection.
func (c *Conn) SendFile(f *os.File) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.torn {
		return c.opError("sendfile", c.tornError())
	}
	return c.opError("sendfile", control(f, func(fd int) error {
		oob := unix.UnixRights(fd)
		switch c.kind {
		case packet:
			return c.sendmsg([]byte{pieceFile}, oob)
		case framed:
			var hdr [4]byte
			binary.BigEndian.PutUint32(hdr[:], fileMarker)
			return c.sendmsg(hdr[:], oob) // 4 bytes: never written short
		}
		return c.sendmsg([]byte{0}, oob)
	}))
}

// ReceiveFile returns the file the peer sent with SendFile next. Where data
// comes first it fails with an error wrapping ErrNoFile and leaves the data
// for Read (see SendFile's ordering rule). The caller owns the file.
func (c *Conn) ReceiveFile() (*os.File, error) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if f := c.file; f != nil {
		c.file = nil
		return f, nil
	}
	if c.pend != nil || !c.last {
		return nil, c.opError("receivefile", ErrNoFile)
	}
	if c.rerr != nil && c.kind != stream {
		return nil, c.opError("receivefile", c.rerr)
	}
	switch c.kind {
	case framed:
		f, err := c.fr.file()
		return f, c.opError("receivefile", err)
	case packet:
		msg, last, err := c.piece()
		if err == ErrFileNext {
			f := c.file
			c.file = nil
			return f, nil
		}
		if err != nil {
			return nil, c.opError("receivefile", err)
		}
		c.pend, c.last = append([]byte{}, msg...), last // out of the record buffer; empty is a message
		return nil, c.opError("receivefile", ErrNoFile)
	}
	var b [1]byte
	n, oobn, err := c.recvmsg(b[:], c.oob)
	if err != nil {
		return nil, c.opError("receivefile", err)
	}
	if n == 0 {
		return nil, io.EOF
	}
	if f := fileOf(rights(c.oob[:oobn])); f != nil {
		return f, nil
	}
	c.pend = append(c.pend, b[0]) // data: Read returns it
	c.stashed.Store(true)
	return nil, c.opError("receivefile", ErrNoFile)
}

// CloseWrite shuts the connection down for writing: the peer reads what was
// written, then io.EOF (from Read, and from ReadMessage in message mode).
// Reads go on.
func (c *Conn) CloseWrite() error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.opError("close", c.uc.CloseWrite())
}

// tornError is the error of a message write once one has stopped part-way:
// net.ErrClosed after Close, ErrMessageTorn before.
func (c *Conn) tornError() error {
	if c.closed.Load() {
		return net.ErrClosed
	}
	return ErrMessageTorn
}

// Close closes the connection; a file received but not taken is closed too.
func (c *Conn) Close() error {
	c.closed.Store(true)
	err := c.uc.Close()
	c.rmu.Lock()
	if c.file != nil {
		c.file.Close()
		c.file = nil
	}
	c.fr.closeFiles()
	c.dropHeld()
	c.rmu.Unlock()
	return err
}

// LocalAddr returns the socket's path.
func (c *Conn) LocalAddr() net.Addr { return c.addr }

// RemoteAddr returns the socket's path: both ends share it.
func (c *Conn) RemoteAddr() net.Addr { return c.addr }

// SetDeadline sets the read and write deadlines (net.Conn).
func (c *Conn) SetDeadline(t time.Time) error { return c.uc.SetDeadline(t) }

// SetReadDeadline sets the read deadline (net.Conn).
func (c *Conn) SetReadDeadline(t time.Time) error { return c.uc.SetReadDeadline(t) }

// SetWriteDeadline sets the write deadline (net.Conn).
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.uc.SetWriteDeadline(t) }

// SyscallConn returns the socket's raw connection (syscall.Conn). Reading
// or writing through it in message mode puts the connection out of step.
func (c *Conn) SyscallConn() (syscall.RawConn, error) { return c.uc.SyscallConn() }

// frameReader reads the framing off a stream socket, keeping the
// descriptors that arrive with the bytes until their markers are read.
type frameReader struct {
	c   *Conn
	buf []byte // read but not yet parsed: buf[r:w]
	r   int
	fds []int // received, waiting for their markers, in order

	// A message whose body is being read, kept when a deadline ends a read
	// in its middle so that the next read goes on with it.
	body bool
	msg  []byte // its bytes so far
	size int    // its length
}

// fill reads more bytes, and any descriptors with them.
func (f *frameReader) fill() error {
	if f.buf == nil {
		f.buf = make([]byte, 0, maxPiece)
	}
	if f.r > 0 {
		n := copy(f.buf, f.buf[f.r:])
		f.buf, f.r = f.buf[:n], 0
	}
	if len(f.buf) == cap(f.buf) {
		f.buf = append(f.buf, 0)[:len(f.buf)]
	}
	oob := make([]byte, unix.CmsgSpace(4*4))
	n, oobn, err := f.c.recvmsg(f.buf[len(f.buf):cap(f.buf)], oob)
	if err != nil {
		return err
	}
	f.fds = append(f.fds, rights(oob[:oobn])...)
	if len(f.fds) > maxHeldFiles {
		return f.c.broken(fmt.Errorf("more than %d descriptors sent ahead of their files: the peer does not speak ipc's protocol", maxHeldFiles))
	}
	if n == 0 {
		return io.EOF
	}
	f.buf = f.buf[:len(f.buf)+n]
	return nil
}

// need reads until n bytes are buffered. io.EOF before any is the end;
// after some, io.ErrUnexpectedEOF.
func (f *frameReader) need(n int) error {
	for len(f.buf)-f.r < n {
		had := len(f.buf) - f.r
		if err := f.fill(); err != nil {
			if err == io.EOF && had > 0 {
				err = io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// header returns the next frame's length without consuming it.
func (f *frameReader) header() (uint32, error) {
	if err := f.need(4); err != nil {
		return 0, err
	}
	return binary.BigEndian.Uint32(f.buf[f.r:]), nil
}

// message reads the next message, or the rest of one that an error ended
// part-way. A file marker is not consumed: it fails with ErrFileNext and
// stays for file.
func (f *frameReader) message() ([]byte, error) {
	if !f.body {
		size, err := f.header()
		if err != nil {
			return nil, err
		}
		if size == fileMarker {
			return nil, ErrFileNext
		}
		// Compared before it becomes an int, which on 32-bit systems
		// cannot hold every length.
		if uint64(size) > uint64(f.c.max) {
			return nil, f.c.tooLarge(int(min(uint64(size), math.MaxInt32)), "")
		}
		f.r += 4
		n := min(len(f.buf)-f.r, int(size))
		m := append(make([]byte, 0, n), f.buf[f.r:f.r+n]...)
		f.r += n
		if n == int(size) {
			return m, nil // whole in the buffer
		}
		f.body, f.size, f.msg = true, int(size), m
	}
	if cap(f.msg) < f.size {
		// The rest is read straight into the message, made once at its
		// size, once the listener's budget has room for it: a length the
		// peer announces costs nothing until then, and nothing is read
		// meanwhile, so a read that fails here can go on later.
		if err := f.c.mem.take(f.size - cap(f.msg)); err != nil {
			return nil, err
		}
		m := make([]byte, len(f.msg), f.size)
		copy(m, f.msg)
		f.msg = m
	}
	for len(f.msg) < f.size {
		// Straight into the message: a long one does not pass through
		// the buffer. It asks for no more than the message's rest, so
		// the next frame's marker and its descriptor are never read
		// here: a descriptor that comes is the peer's doing.
		c := f.c
		k, oobn, err := c.recvmsg(f.msg[len(f.msg):f.size], c.oob)
		if err != nil {
			return nil, err
		}
		if fds := rights(c.oob[:oobn]); len(fds) > 0 {
			for _, fd := range fds {
				unix.Close(fd)
			}
			return nil, c.broken(errors.New("descriptors with a message's bytes: the peer does not speak ipc's protocol"))
		}
		if k == 0 {
			return nil, io.ErrUnexpectedEOF
		}
		f.msg = f.msg[:len(f.msg)+k]
	}
	m := f.msg
	f.body, f.msg = false, nil
	f.c.mem.release()
	return m, nil
}

// file reads the next frame, which must be a file marker, and returns its
// file. Data that comes instead is left unread.
func (f *frameReader) file() (*os.File, error) {
	if f.body {
		return nil, ErrNoFile
	}
	size, err := f.header()
	if err != nil {
		return nil, err
	}
	if size != fileMarker {
		return nil, ErrNoFile
	}
	f.r += 4
	if len(f.fds) == 0 {
		return nil, f.c.broken(errors.New("a file marker without a file: the peer does not speak ipc's protocol"))
	}
	fd := f.fds[0]
	f.fds = f.fds[1:]
	unix.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "ipc-received"), nil
}

// closeFiles closes descriptors received but never taken.
func (f *frameReader) closeFiles() {
	for _, fd := range f.fds {
		unix.Close(fd)
	}
	f.fds = nil
}

var (
	_ net.Conn     = (*Conn)(nil)
	_ syscall.Conn = (*Conn)(nil)
)
