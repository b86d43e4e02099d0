package ipc

import (
	"errors"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// A peer that writes its last records and closes at once: every record
// arrives before io.EOF. Linux's recvmsg on a SOCK_SEQPACKET socket looks
// at the queue, then at the peer's shutdown, so a read between the peer's
// write and its close could return 0 with the record still queued, which
// the Conn took for the end and so lost the peer's last message: a race
// (about 1 read in 100,000-200,000 here), found by FuzzPacketRead. The run
// below is long enough to meet it now and then in make test and in every
// stress run; make soak runs it 400,000 times (3 lost of 1,200,000 before
// the fix, 0 after).
func TestPacketLastRecordBeforeClose(t *testing.T) {
	n := 20_000
	if soak() {
		n = 400_000
	}
	for i := range n {
		c, peer := packetPair(t)
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

// packetPair is rawPeer without the cleanup, for loops of many: the caller
// closes the Conn, and the peer's descriptor is the caller's.
func packetPair(t *testing.T) (*Conn, int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_SEQPACKET|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fds[0]), "packet")
	fc, err := net.FileConn(f)
	f.Close()
	if err != nil {
		syscall.Close(fds[1])
		t.Fatal(err)
	}
	c, err := newConn(fc.(*net.UnixConn), packet, Addr{packet.net(), "packet"}, false, fuzzMax, nil)
	if err != nil {
		fc.Close()
		syscall.Close(fds[1])
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(watchdog))
	return c, fds[1]
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
	if err == nil || errors.Is(err, io.EOF) || !errors.As(err, &oe) {
		t.Fatalf("an empty record with a descriptor: ReadMessage = %v; want an error of the Conn's own", err)
	}
	// The descriptor received was closed: the pipe has no reader left.
	if _, err := w.Write([]byte("x")); !errors.Is(err, syscall.EPIPE) {
		t.Fatalf("writing to the pipe whose read end was sent: %v; want EPIPE (the received end closed)", err)
	}
}
