//go:build linux || darwin || freebsd

package ipc

// Attacks on message mode's wire formats by a raw peer (issue 16, items 2,
// 3 and 5): deadlines in the middle of a message, descriptors sent to fill
// the reader's table, a message that never ends.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// writeAll writes b to the raw peer fd.
func writeAll(t *testing.T, fd int, b []byte) {
	t.Helper()
	for len(b) > 0 {
		n, err := syscall.Write(fd, b)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		b = b[n:]
	}
}

// A read deadline that passes in the middle of a message leaves the Conn
// where it was: the next ReadMessage returns the whole message, never its
// rest as a message of its own. Before the fix, packet mode returned the
// rest as a message, and the framing took the rest's bytes for a length.
func TestReadMessageDeadlineMidMessage(t *testing.T) {
	first, rest := bytes.Repeat([]byte("a"), 1000), []byte("the rest")
	want := append(append([]byte{}, first...), rest...)
	for _, k := range []kind{packet, framed} {
		if k == packet && !seqpacket {
			continue
		}
		t.Run(k.net()+map[kind]string{packet: "", framed: " framed"}[k], func(t *testing.T) {
			c, peer := rawPeer(t, k)
			c.max = DefaultMaxMessageSize
			defer syscall.Close(peer)
			var head, tail []byte
			if k == packet {
				head = append([]byte{pieceMore}, first...)
				tail = append([]byte{pieceLast}, rest...)
			} else {
				head = binary.BigEndian.AppendUint32(nil, uint32(len(want)))
				head = append(head, first...)
				tail = rest
			}
			writeAll(t, peer, head)
			c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			if m, err := c.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("ReadMessage of half a message = %d bytes, %v; want os.ErrDeadlineExceeded", len(m), err)
			}
			writeAll(t, peer, tail)
			writeAll(t, peer, next(k, "next"))
			c.SetReadDeadline(time.Now().Add(watchdog))
			if m, err := c.ReadMessage(); err != nil || !bytes.Equal(m, want) {
				t.Fatalf("ReadMessage after the deadline moved = %q, %v; want the whole message", m, err)
			}
			if m, err := c.ReadMessage(); err != nil || string(m) != "next" {
				t.Fatalf("then ReadMessage = %q, %v; want \"next\"", m, err)
			}
		})
	}
}

// next is a whole message "s" in kind k's wire format.
func next(k kind, s string) []byte {
	if k == packet {
		return append([]byte{pieceLast}, s...)
	}
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(s))), s...)
}

// A peer that sends pieces saying more follow, without end, fails
// ReadMessage with ErrMessageTooLarge once the message passes the default
// MaxMessageSize. Before the fix ReadMessage held all it was sent (the
// review saw 256 MiB); here the peer stops at 4 times the bound and ends
// the message, which main returned whole.
func TestEndlessMessage(t *testing.T) {
	for _, k := range []kind{packet, framed} {
		if k == packet && !seqpacket {
			continue
		}
		t.Run(k.net(), func(t *testing.T) {
			c, peer := rawPeer(t, k)
			c.max = DefaultMaxMessageSize
			done := make(chan struct{})
			go func() {
				defer close(done)
				defer syscall.Close(peer)
				piece := append([]byte{pieceMore}, make([]byte, maxPiece)...)
				if k == framed {
					syscall.Write(peer, binary.BigEndian.AppendUint32(nil, 4*DefaultMaxMessageSize))
					piece = piece[1:]
				}
				for sent := 0; sent < 4*DefaultMaxMessageSize; sent += maxPiece {
					if _, err := syscall.Write(peer, piece); err != nil {
						return // the reader gave up: that is the point
					}
				}
				syscall.Write(peer, []byte{pieceLast})
			}()
			m, err := c.ReadMessage()
			if !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("ReadMessage of an endless message = %d bytes, %v; want ErrMessageTooLarge", len(m), err)
			}
			if _, err := c.ReadMessage(); !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("the next ReadMessage = %v; want the same error: the stream is out of step", err)
			}
			c.Close()
			<-done
		})
	}
}

// sendRights sends b with n copies of fd as SCM_RIGHTS.
func sendRights(t *testing.T, peer int, b []byte, fd, n int) error {
	fds := make([]int, n)
	for i := range fds {
		fds[i] = fd
	}
	return unix.Sendmsg(peer, b, unix.UnixRights(fds...), nil, 0)
}

// A peer that sends descriptors with a message's bytes, or more of them
// than its file items need, fills the reader's descriptor table no more:
// the read fails, the descriptors are closed, and the Conn holds none.
// Before the fix the framing kept every one (a 2000-byte message with 4 per
// byte left 8000 open).
func TestDescriptorFlood(t *testing.T) {
	f, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd := int(f.Fd())
	cases := []struct {
		name string
		k    kind
		send func(t *testing.T, peer int)
	}{
		{"framed body", framed, func(t *testing.T, peer int) {
			writeAll(t, peer, binary.BigEndian.AppendUint32(nil, 2000))
			for range 2000 {
				if sendRights(t, peer, []byte{'x'}, fd, 4) != nil {
					return
				}
			}
		}},
		{"framed markers", framed, func(t *testing.T, peer int) {
			// Descriptors with bytes that the reader takes in before
			// it reaches a marker: many, then a message it must read.
			for range 2000 {
				if sendRights(t, peer, binary.BigEndian.AppendUint32(nil, fileMarker), fd, 4) != nil {
					return
				}
			}
		}},
		{"packet", packet, func(t *testing.T, peer int) {
			for range 2000 {
				if sendRights(t, peer, []byte{pieceFile}, fd, 4) != nil {
					return
				}
			}
		}},
	}
	for _, c := range cases {
		if c.k == packet && !seqpacket {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			before := openHandles(t)
			conn, peer := rawPeer(t, c.k)
			conn.max = DefaultMaxMessageSize
			done := make(chan struct{})
			go func() {
				defer close(done)
				c.send(t, peer)
			}()
			var err error
			for err == nil || errors.Is(err, ErrFileNext) {
				if errors.Is(err, ErrFileNext) {
					// A reader that takes each file as it comes,
					// as it should, holds but one at a time.
					var got *os.File
					if got, err = conn.ReceiveFile(); err != nil {
						break
					}
					got.Close()
				}
				_, err = conn.ReadMessage()
			}
			if errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("the reader ended with %v, not a protocol error", err)
			}
			held := openHandles(t) - before
			conn.Close() // the sender may be blocked: this ends it
			<-done
			syscall.Close(peer)
			t.Logf("the read failed with %v, holding %d descriptors more than before", err, held)
			if held > 2 { // the Conn's socket and the peer's
				t.Fatalf("the reader holds %d descriptors more than before the flood, the Conn's and the peer's sockets among them", held)
			}
		})
	}
}
