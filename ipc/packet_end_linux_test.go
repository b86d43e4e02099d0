package ipc

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
)

// A peer that writes its last records and closes at once: every record
// arrives before io.EOF. Linux's recvmsg on a SOCK_SEQPACKET socket looks
// at the queue, then at the peer's shutdown, so a read between the peer's
// write and its close could return 0 with the record still queued, which
// the Conn took for the end and so lost the peer's last message: a race
// (1 read in 50,000-400,000 here, by load), found by FuzzPacketRead. This
// run meets it only now and then (make soak runs 400,000 rounds: before
// the fix it failed at round 48,473); TestPacketAtEnd checks the decision
// itself, deterministically.
func TestPacketLastRecordBeforeClose(t *testing.T) {
	n := 20_000
	if soak() {
		n = 400_000
	}
	for i := range n {
		c, peer := newRawPeer(t, packet)
		go func() {
			syscall.Write(peer, []byte{pieceLast, 'a'})
			syscall.Close(peer)
		}()
		m, err := c.ReadMessage()
		if err != nil || string(m) != "a" {
			m2, err2 := c.ReadMessage()
			t.Fatalf("round %d: ReadMessage = %q, %v (then %q, %v); want the record the peer wrote before it closed", i, m, err, m2, err2)
		}
		if m, err := c.ReadMessage(); err != io.EOF {
			t.Fatalf("round %d: after the last record, ReadMessage = %q, %v; want io.EOF", i, m, err)
		}
		c.Close()
	}
}

// What the Conn asks after a read of no bytes, in each state it can meet:
// a peer still connected (the read took a record of no bytes: not the
// end), a peer that wrote and closed with its record still queued (the
// race above: not the end), and a peer closed with nothing left (the end);
// CloseWrite is a shutdown, and ends the stream the same way.
func TestPacketAtEnd(t *testing.T) {
	for _, closeWrite := range []bool{false, true} {
		c, peer := newRawPeer(t, packet)
		end := func() bool {
			t.Helper()
			e, err := c.rr.atEnd()
			if err != nil {
				t.Fatal(err)
			}
			return e
		}
		if end() {
			t.Fatal("atEnd with the peer connected and nothing sent = true")
		}
		if _, err := syscall.Write(peer, []byte{pieceLast, 'a'}); err != nil {
			t.Fatal(err)
		}
		if closeWrite {
			syscall.Shutdown(peer, syscall.SHUT_WR)
		} else {
			syscall.Close(peer)
		}
		if end() {
			t.Fatalf("atEnd with the peer gone (CloseWrite %v) and a record queued = true", closeWrite)
		}
		if m, err := c.ReadMessage(); err != nil || string(m) != "a" {
			t.Fatalf("ReadMessage = %q, %v", m, err)
		}
		if !end() {
			t.Fatalf("atEnd with the peer gone (CloseWrite %v) and nothing queued = false", closeWrite)
		}
		if m, err := c.ReadMessage(); err != io.EOF {
			t.Fatalf("ReadMessage at the end = %q, %v; want io.EOF", m, err)
		}
		if closeWrite {
			syscall.Close(peer)
		}
		c.Close()
	}
}

// A record of no bytes is not the end of the stream (ipc sends none; the
// end is the peer's close or CloseWrite): it is skipped, with the peer
// still connected and after it has closed; one that carries descriptors
// breaks the connection, and the descriptors are closed.
func TestPacketEmptyRecord(t *testing.T) {
	c, peer := rawPeer(t, packet)
	for _, r := range [][]byte{{pieceLast, 'a'}, {}, {pieceLast, 'b'}} {
		if _, err := syscall.Write(peer, r); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"a", "b"} {
		if m, err := c.ReadMessage(); err != nil || string(m) != want {
			t.Fatalf("ReadMessage = %q, %v; want %q (an empty record between is skipped)", m, err, want)
		}
	}
	syscall.Write(peer, []byte{})
	syscall.Close(peer)
	if m, err := c.ReadMessage(); err != io.EOF {
		t.Fatalf("after an empty record and the peer's close, ReadMessage = %q, %v; want io.EOF", m, err)
	}

	c, peer = rawPeer(t, packet)
	defer syscall.Close(peer)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if err := syscall.Sendmsg(peer, nil, syscall.UnixRights(int(r.Fd())), nil, 0); err != nil {
		t.Fatal(err)
	}
	r.Close() // the only reader left is the one in flight
	_, err = c.ReadMessage()
	var oe *net.OpError
	if err == nil || errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) || !errors.As(err, &oe) {
		t.Fatalf("an empty record with a descriptor: ReadMessage = %v; want an error of the Conn's own", err)
	}
	// The descriptor received was closed: the pipe has no reader left.
	if _, err := w.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("writing to the pipe whose read end was sent: %v; want EPIPE (the received end closed)", err)
	}
}
