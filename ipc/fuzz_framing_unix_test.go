//go:build linux || darwin || freebsd

package ipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// The fuzz targets of message mode's wire formats (conn_unix.go) play a
// peer that writes anything at all, as one that does not speak ipc's
// protocol, or means harm, would. The Conn that reads it must never panic,
// hang or allocate more than arrives, and what it returns must be what the
// format says: each target checks the Conn against a model of the format
// written out here.

// fuzzMax is the MaxMessageSize of the fuzzed Conns: small, so that the
// fuzzer reaches it.
const fuzzMax = 300

// rawPeer returns a Conn of kind k on one end of a socket pair and the
// other end's descriptor, which the test writes raw bytes or records to.
// Its messages may be fuzzMax bytes long. The Conn is closed when the test
// ends.
func rawPeer(t testing.TB, k kind) (*Conn, int) {
	t.Helper()
	c, peer := newRawPeer(t, k)
	t.Cleanup(func() { c.Close() })
	return c, peer
}

// newRawPeer is rawPeer without the cleanup, for loops of many rounds: the
// caller closes the Conn. The peer's descriptor is the caller's either way.
func newRawPeer(t testing.TB, k kind) (*Conn, int) {
	t.Helper()
	typ := syscall.SOCK_STREAM
	if k == packet {
		typ = syscall.SOCK_SEQPACKET
	}
	fds, err := syscall.Socketpair(syscall.AF_UNIX, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	syscall.CloseOnExec(fds[0])
	syscall.CloseOnExec(fds[1])
	f := os.NewFile(uintptr(fds[0]), "fuzzed")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		syscall.Close(fds[1])
		t.Fatal(err)
	}
	c, err := newConn(fc.(*net.UnixConn), k, Addr{k.net(), "fuzzed"}, false, fuzzMax, nil)
	if err != nil {
		fc.Close()
		syscall.Close(fds[1])
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(watchdog))
	return c, fds[1]
}

// send writes each record with one write(2), one record each on a
// SOCK_SEQPACKET socket, on a goroutine, then closes fd: the end of the
// reader's stream. It stops early if a write fails (the reader gave up).
func send(fd int, records [][]byte) {
	go func() {
		defer syscall.Close(fd)
		for _, r := range records {
			for {
				n, err := syscall.Write(fd, r)
				if err == syscall.EINTR {
					continue
				}
				if err != nil {
					return
				}
				if r = r[n:]; len(r) == 0 {
					break
				}
			}
		}
	}()
}

// item is one thing read from a stream: a message (or, for Read, the bytes
// between two files), a file, or the error that ends the stream: io.EOF,
// io.ErrUnexpectedEOF, or errOther for an error of the Conn's own, which
// it reports as a *net.OpError.
type item struct {
	msg  []byte
	file bool
	err  error
}

func (it item) String() string {
	switch {
	case it.err != nil:
		return "error " + it.err.Error()
	case it.file:
		return "file"
	}
	return fmt.Sprintf("%q", it.msg)
}

var errOther = errors.New("an error of the Conn's own")

// readItems reads c to its first error, with ReadMessage, or with Read
// through a small buffer if bytewise. Where a file comes, it calls
// ReceiveFile, which must fail (the fuzzer sends no descriptors), and reads
// on. Every item the model reads takes at least a byte of the size sent:
// more items than that is a Conn that makes no progress.
func readItems(t *testing.T, c *Conn, bytewise bool, size int) []item {
	var items []item
	var chunk []byte
	buf := make([]byte, 7)
	for {
		if len(items) > size+2 {
			t.Fatalf("%d items read from %d bytes, the last %v: the Conn makes no progress", len(items), size, items[len(items)-1])
		}
		var m []byte
		var err error
		if bytewise {
			var n int
			n, err = c.Read(buf)
			chunk = append(chunk, buf[:n]...)
		} else {
			m, err = c.ReadMessage()
		}
		if err == nil && !bytewise {
			if m == nil {
				t.Fatal("ReadMessage returned a nil message")
			}
			items = append(items, item{msg: m})
			continue
		}
		if err == nil {
			continue
		}
		if bytewise {
			items = append(items, item{msg: chunk})
			chunk = nil
		}
		if !errors.Is(err, ErrFileNext) {
			return append(items, item{err: err})
		}
		if f, err := c.ReceiveFile(); err == nil {
			f.Close()
			t.Fatal("ReceiveFile returned a file that no one sent")
		}
		items = append(items, item{file: true})
	}
}

// bytewise turns a model's messages into what Read returns: their bytes
// end to end, in one chunk between two files.
func bytewise(items []item) []item {
	var out []item
	var chunk []byte
	for _, it := range items {
		if it.msg != nil {
			chunk = append(chunk, it.msg...)
			continue
		}
		out = append(out, item{msg: chunk}, it)
		chunk = nil
	}
	return out
}

// check compares what a Conn read with what the model reads.
func check(t *testing.T, what string, got, want []item) {
	t.Helper()
	fail := func() { t.Fatalf("%s: the Conn read %v, the model %v", what, got, want) }
	if len(got) != len(want) {
		fail()
	}
	for i := range want {
		g, w := got[i], want[i]
		switch {
		case errors.Is(g.err, os.ErrDeadlineExceeded):
			t.Fatalf("%s: the read hung for %v; the model reads %v", what, watchdog, want)
		case g.file != w.file, !bytes.Equal(g.msg, w.msg), (g.err == nil) != (w.err == nil):
			fail()
		case w.err == errOther:
			var oe *net.OpError
			if !errors.As(g.err, &oe) || errors.Is(g.err, io.EOF) || errors.Is(g.err, io.ErrUnexpectedEOF) {
				fail()
			}
		case w.err != nil && !errors.Is(g.err, w.err):
			fail()
		}
	}
}

// framedModel reads the framing of macOS and FreeBSD: a 4-byte big-endian
// length and that many bytes; the length fileMarker stands for a file,
// which must come with a descriptor: without one (the fuzzer sends none)
// the Conn's reads fail from then on, as they do at a length over fuzzMax.
func framedModel(data []byte) []item {
	var items []item
	for {
		switch {
		case len(data) == 0:
			return append(items, item{err: io.EOF})
		case len(data) < 4:
			return append(items, item{err: io.ErrUnexpectedEOF})
		}
		size := binary.BigEndian.Uint32(data)
		switch {
		case size == fileMarker:
			return append(items, item{file: true}, item{err: errOther})
		case size > fuzzMax:
			return append(items, item{err: ErrMessageTooLarge})
		case uint64(len(data)-4) < uint64(size):
			return append(items, item{err: io.ErrUnexpectedEOF})
		}
		items = append(items, item{msg: append([]byte{}, data[4:4+size]...)})
		data = data[4+size:]
	}
}

// FuzzFramedRead writes any bytes to a Conn that reads the framing, and
// reads them with ReadMessage and with Read. A length announced but not
// sent costs only what arrives: a length up to MaxMessageSize followed by
// nothing is io.ErrUnexpectedEOF, not an allocation of that length; a
// larger one is ErrMessageTooLarge (and was a panic on 32-bit systems for
// lengths of 2 GiB and more: the target runs with GOARCH=386 too).
func FuzzFramedRead(f *testing.F) {
	frame := func(msgs ...string) []byte {
		var b []byte
		for _, m := range msgs {
			b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
			b = append(b, m...)
		}
		return b
	}
	f.Add([]byte{})
	f.Add(frame("hello", "", "world"))
	f.Add(frame("x")[:3])
	f.Add(append(frame("a"), 0xff, 0xff, 0xff, 0xfe))                                   // the largest length, then nothing
	f.Add(append(frame("a"), append([]byte{0xff, 0xff, 0xff, 0xff}, frame("b")...)...)) // a file marker, no file
	f.Add(append(frame("a"), 0, 0, 0, 9, 'p', 'a', 'r', 't'))
	f.Add(append(frame("a"), 0x80, 0, 0, 0, 'x'))                             // 2 GiB: int on 32-bit cannot hold it
	f.Add(append(frame("a", string(make([]byte, fuzzMax))), frame("b")...))   // the largest message allowed
	f.Add(append(frame("a", string(make([]byte, fuzzMax+1))), frame("b")...)) // one byte more
	// Found by the fuzzer: Read skipped the empty message but kept it
	// pending, so ReceiveFile at the marker after it said data came next,
	// for ever (TestReadEmptyMessageThenFile, fuzz_messages_test.go).
	f.Add([]byte("\x00\x00\x00\x00\xff\xff\xff\xff\xff\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		want := framedModel(data)
		for _, bw := range []bool{false, true} {
			c, peer := rawPeer(t, framed)
			send(peer, [][]byte{data})
			w := want
			if bw {
				w = bytewise(want)
			}
			check(t, fmt.Sprintf("framed, bytewise %v", bw), readItems(t, c, bw, len(data)), w)
		}
	})
}

// packetModel reads records of SOCK_SEQPACKET as ipc writes them: a header
// byte, pieceMore or pieceLast, then a piece of the message; a record of
// no bytes is skipped, and the end of the records is the end of the
// stream. A file record without a descriptor, another header, or a record
// longer than a piece and its header is an error of the Conn's own; a
// message longer than fuzzMax is ErrMessageTooLarge, met at the record
// that makes it so. With pieces, it
// reads as Read does, which returns a message's pieces as they come: a
// message cut short still gave its first pieces, and its end is plain
// io.EOF.
func packetModel(records [][]byte, pieces bool) []item {
	var items []item
	var msg []byte
	started := false
	size := 0
	for _, r := range records {
		switch {
		case len(r) == 0:
			continue // skipped: the end is the sender's close
		case len(r) > 1+maxPiece, r[0] != pieceLast && r[0] != pieceMore:
			return append(items, item{err: errOther})
		}
		if size += len(r) - 1; size > fuzzMax {
			return append(items, item{err: ErrMessageTooLarge})
		}
		msg = append(msg, r[1:]...)
		started = true
		if r[0] == pieceLast || pieces {
			items = append(items, item{msg: append([]byte{}, msg...)})
			msg = nil
		}
		if r[0] == pieceLast {
			started, size = false, 0
		}
	}
	return append(items, item{err: eof(started && !pieces)})
}

func eof(midMessage bool) error {
	if midMessage {
		return io.ErrUnexpectedEOF
	}
	return io.EOF
}

// records cuts fuzz data into SOCK_SEQPACKET records: each is a length
// byte and that many bytes; the length 255 stands for a record one byte
// longer than ipc's largest (header and maxPiece), with the next byte as
// its header.
func records(data []byte) [][]byte {
	var rs [][]byte
	for len(data) > 0 {
		n := int(data[0])
		data = data[1:]
		if n == 255 {
			r := make([]byte, 2+maxPiece)
			if len(data) > 0 {
				r[0], data = data[0], data[1:]
			}
			rs = append(rs, r)
			continue
		}
		n = min(n, len(data))
		rs = append(rs, append([]byte{}, data[:n]...))
		data = data[n:]
	}
	return rs
}

// FuzzPacketRead sends any records to a Conn that reads SOCK_SEQPACKET
// (Linux's message mode), and reads them with ReadMessage and with Read,
// which returns a message's pieces as they come.
func FuzzPacketRead(f *testing.F) {
	rec := func(hdr byte, s string) []byte { return append([]byte{byte(1 + len(s)), hdr}, s...) }
	join := func(rs ...[]byte) []byte { return bytes.Join(rs, nil) }
	f.Add([]byte{})
	f.Add(join(rec(pieceLast, "hello"), rec(pieceLast, ""), rec(pieceMore, "wo"), rec(pieceLast, "rld")))
	f.Add(join(rec(pieceMore, "cut"), []byte{0}, rec(pieceLast, "after")))    // an empty record mid-message
	f.Add(join(rec(pieceLast, "a"), rec(pieceFile, ""), rec(pieceLast, "b"))) // a file record, no file
	f.Add(join(rec(pieceLast, "a"), rec(7, "bad header")))
	f.Add(join(rec(pieceMore, "a"), []byte{255, pieceLast}))
	long := string(make([]byte, 150))
	f.Add(join(rec(pieceMore, long), rec(pieceLast, long), rec(pieceLast, "b")))             // the largest message allowed
	f.Add(join(rec(pieceMore, long), rec(pieceMore, long), rec(pieceLast, "x"), rec(0, ""))) // one byte more
	f.Fuzz(func(t *testing.T, data []byte) {
		if !seqpacket {
			t.Skip("message mode uses SOCK_SEQPACKET on Linux only")
		}
		rs := records(data)
		want := packetModel(rs, false)
		for _, bw := range []bool{false, true} {
			c, peer := rawPeer(t, packet)
			send(peer, rs)
			w := want
			if bw {
				w = bytewise(packetModel(rs, true))
			}
			check(t, fmt.Sprintf("packet, bytewise %v", bw), readItems(t, c, bw, len(data)), w)
		}
	})
}
