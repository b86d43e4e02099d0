package interop

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	winio "github.com/Microsoft/go-winio"
	"github.com/conduit-ipc/conduit/namedpipe"
)

// Message pipes with a go-winio client on a conduit listener. go-winio
// reads every pipe in byte read mode (it never changes the client's read
// mode, and creates its own server instances with read mode 0), so it sees
// message boundaries only where a zero-length message ends the stream;
// conduit reads message pipes in message read mode on both ends.

var messagePipe = namedpipe.ListenConfig{MessageMode: true}

// TestWinioCloseWriteReadByConduit: go-winio's CloseWrite (a zero-length
// message, after FlushFileBuffers) reads as io.EOF through conduit's Read,
// after every message before it; the other direction stays open.
func TestWinioCloseWriteReadByConduit(t *testing.T) {
	server, client := pair(t, messagePipe)
	cw, ok := client.(closeWriter)
	if !ok {
		t.Fatalf("go-winio's message-pipe connection %T has no CloseWrite", client)
	}
	done := make(chan error, 1)
	go func() {
		// CloseWrite flushes first, so it returns once the server has
		// read both messages: it runs beside the server's reads.
		for _, m := range []string{"request, part 1", "part 2"} {
			if _, err := client.Write([]byte(m)); err != nil {
				done <- err
				return
			}
		}
		done <- cw.CloseWrite()
	}()
	for _, want := range []string{"request, part 1", "part 2"} {
		m, err := server.ReadMessage()
		if err != nil || string(m) != want {
			t.Fatalf("conduit ReadMessage = %q, %v; want %q", m, err, want)
		}
	}
	buf := make([]byte, 64)
	if n, err := server.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("conduit Read after go-winio's CloseWrite = %d, %v; want 0, io.EOF", n, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("go-winio Write/CloseWrite: %v", err)
	}
	// go-winio refuses to write or close the write side again.
	if err := cw.CloseWrite(); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("go-winio's second CloseWrite = %v, want io.ErrClosedPipe", err)
	}
	if _, err := client.Write([]byte("late")); !errors.Is(err, io.ErrClosedPipe) {
		t.Errorf("go-winio Write after CloseWrite = %v, want io.ErrClosedPipe", err)
	}
	// Half-closed: the server still writes and the client still reads.
	if err := server.WriteMessage([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Read(buf); err != nil || string(buf[:n]) != "reply" {
		t.Fatalf("go-winio Read after its CloseWrite = %q, %v; want \"reply\"", buf[:n], err)
	}
}

// TestConduitCloseWriteReadByWinio: conduit's CloseWrite reads as io.EOF
// through go-winio's Read, after every message before it (CloseWrite waits
// for the data before it to be read first: see
// TestConduitCloseWriteUnreadByWinio for why that matters to go-winio).
func TestConduitCloseWriteReadByWinio(t *testing.T) {
	server, client := pair(t, messagePipe)
	done := make(chan error, 1)
	go func() {
		for _, m := range []string{"reply, part 1", "part 2"} {
			if err := server.WriteMessage([]byte(m)); err != nil {
				done <- err
				return
			}
		}
		done <- server.CloseWrite()
	}()
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "reply, part 1part 2" {
		t.Fatalf("go-winio ReadAll = %q, %v; want the two messages, then io.EOF", got, err)
	}
	if err := <-done; err != nil {
		t.Fatalf("conduit WriteMessage/CloseWrite: %v", err)
	}
	// conduit: a second CloseWrite is a no-op; writes after it fail.
	if err := server.CloseWrite(); err != nil {
		t.Errorf("conduit's second CloseWrite = %v, want nil", err)
	}
	if _, err := server.Write([]byte("late")); err == nil {
		t.Error("conduit Write after CloseWrite succeeded")
	}
	// Half-closed: the client still writes and the server still reads.
	if _, err := client.Write([]byte("more")); err != nil {
		t.Fatal(err)
	}
	if m, err := server.ReadMessage(); err != nil || string(m) != "more" {
		t.Fatalf("conduit ReadMessage after its CloseWrite = %q, %v; want \"more\"", m, err)
	}
}

// TestConduitCloseWriteUnreadByWinio: conduit's CloseWrite must reach a
// go-winio reader as io.EOF even when the messages before it are still
// unread. On Windows a byte-mode read copies every queued message that fits
// its buffer and consumes a zero-length message among them without a trace
// (NPFS's NpReadDataQueue loops while the buffer has room; go-winio #42,
// where Docker's stdin never ended), so a zero-length message sent behind
// unread data is lost to go-winio, whose reads are all byte-mode. go-winio's
// own CloseWrite calls FlushFileBuffers first for that reason (#43, pipe.go
// win32MessageBytePipe.CloseWrite), and so does conduit's
// (namedpipe/conn_windows.go, Conn.CloseWrite); without it this test fails
// on Windows. (namedpipe's TestCloseWriteWaitsForReader checks the waiting
// under Wine too.)
func TestConduitCloseWriteUnreadByWinio(t *testing.T) {
	skipOnWine(t, "Wine 8 leaves a zero-length message that comes last, after the data a byte-mode read took, queued "+
		"for the next read (one between data it drops, as Windows does), so the loss this test guards against "+
		"cannot happen here and the test could not fail")
	server, client := pair(t, messagePipe)
	// Both messages fit the quota: once WriteMessage returns they are
	// queued, unread, and CloseWrite's zero-length message goes behind them.
	for _, m := range []string{"reply, part 1", "part 2"} {
		if err := server.WriteMessage([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- server.CloseWrite() }()
	client.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(client)
	if err != nil || string(got) != "reply, part 1part 2" {
		t.Fatalf("go-winio ReadAll = %q, %v; want the two messages, then io.EOF "+
			"(a deadline error means the zero-length message was read past and lost)", got, err)
	}
	if err := <-closed; err != nil {
		t.Fatalf("conduit CloseWrite: %v", err)
	}
}

// quotaPipe is a message pipe whose quotas are far smaller than the
// messages sent through it, so that every large write waits for its reader.
var quotaPipe = namedpipe.ListenConfig{MessageMode: true, InputBufferSize: 4096, OutputBufferSize: 4096}

// largeSizes are the message sizes sent both ways: larger than the quota
// by far, just over it, and small ones between. None is below 2 bytes: the
// go-winio side reads a message's first byte before it peeks at the rest.
var largeSizes = []int{1 << 20, 3*4096 + 1, 2, 65537, 5}

// TestMessagesLargerThanQuota: messages of up to 256 times the pipe's quota
// pass intact, one message per write, in both directions. go-winio's Write
// is one WriteFile, so one message; conduit's ReadMessage shows where each
// ends. go-winio's reads merge messages, so on its side PeekNamedPipe shows
// where each ends: after a message's first byte is read, the message at the
// head of the pipe must have exactly the rest of it left.
func TestMessagesLargerThanQuota(t *testing.T) {
	server, client := pair(t, quotaPipe)

	t.Run("go-winio to conduit", func(t *testing.T) {
		sent := make(chan error, 1)
		go func() {
			for i, n := range largeSizes {
				if m, err := client.Write(pattern(n, i)); err != nil || m != n {
					sent <- fmt.Errorf("go-winio Write of %d bytes = %d, %v", n, m, err)
					return
				}
			}
			sent <- nil
		}()
		for i, n := range largeSizes {
			m, err := server.ReadMessage()
			if err != nil {
				t.Fatalf("conduit ReadMessage %d: %v", i, err)
			}
			if !bytes.Equal(m, pattern(n, i)) {
				t.Fatalf("conduit ReadMessage %d: %d bytes, want the %d bytes sent as one message", i, len(m), n)
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	})

	t.Run("conduit to go-winio", func(t *testing.T) {
		sent := make(chan error, 1)
		go func() {
			for i, n := range largeSizes {
				if err := server.WriteMessage(pattern(n, 50+i)); err != nil {
					sent <- fmt.Errorf("conduit WriteMessage of %d bytes: %v", n, err)
					return
				}
			}
			sent <- nil
		}()
		h := handleOf(t, client)
		for i, n := range largeSizes {
			got := make([]byte, n)
			if _, err := io.ReadFull(client, got[:1]); err != nil {
				t.Fatalf("go-winio Read, message %d: %v", i, err)
			}
			// The byte read came from this message and the message is
			// still at the head: the rest of it is left.
			if _, left := peek(t, h); left != n-1 {
				t.Fatalf("message %d: PeekNamedPipe says %d bytes left in the message, want %d (the message of %d bytes was cut or merged)", i, left, n-1, n)
			}
			if _, err := io.ReadFull(client, got[1:]); err != nil {
				t.Fatalf("go-winio Read, message %d: %v", i, err)
			}
			if !bytes.Equal(got, pattern(n, 50+i)) {
				t.Fatalf("message %d: the %d bytes read differ from those sent", i, n)
			}
		}
		if err := <-sent; err != nil {
			t.Fatal(err)
		}
	})
}

// TestZeroLengthWritesMessage: what an empty write sends on a message pipe.
// go-winio's Write ignores an empty b (pipe.go,
// win32MessageBytePipe.Write: zero-byte writes are its CloseWrite), and so
// does conduit's Write; conduit's WriteMessage sends a zero-length message,
// which go-winio reads as io.EOF, and keeps reading as io.EOF whatever
// follows (win32MessageBytePipe.Read's readEOF).
func TestZeroLengthWritesMessage(t *testing.T) {
	server, client := pair(t, messagePipe)
	buf := make([]byte, 64)

	if n, err := client.Write(nil); n != 0 || err != nil {
		t.Fatalf("go-winio Write(nil) = %d, %v; want 0, nil", n, err)
	}
	client.Write([]byte("x"))
	if m, err := server.ReadMessage(); err != nil || string(m) != "x" {
		t.Fatalf("conduit ReadMessage after go-winio's empty Write = %q, %v; want \"x\" (the empty Write sent a message)", m, err)
	}

	if n, err := server.Write(nil); n != 0 || err != nil {
		t.Fatalf("conduit Write(nil) = %d, %v; want 0, nil", n, err)
	}
	// Had it sent a zero-length message, it would be waiting alone, and
	// go-winio's Read would return it at once as io.EOF; nothing waits, so
	// the Read lasts until its deadline. (Read with data queued behind it,
	// a zero-length message vanishes: see TestConduitCloseWriteUnreadByWinio.)
	client.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := client.Read(buf); err != winio.ErrTimeout {
		t.Fatalf("go-winio Read after conduit's empty Write = %q, %v; want ErrTimeout (the empty Write sent a message)", buf[:n], err)
	}
	client.SetReadDeadline(time.Now().Add(time.Minute))
	server.WriteMessage([]byte("y"))
	if n, err := client.Read(buf); err != nil || string(buf[:n]) != "y" {
		t.Fatalf("go-winio Read = %q, %v; want \"y\"", buf[:n], err)
	}

	if err := server.WriteMessage(nil); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("go-winio Read of conduit's empty WriteMessage = %d, %v; want 0, io.EOF", n, err)
	}
	if err := server.WriteMessage([]byte("z")); err != nil {
		t.Fatal(err)
	}
	if avail, _ := peek(t, handleOf(t, client)); avail != 1 {
		t.Fatalf("PeekNamedPipe: %d bytes waiting, want the 1 of \"z\"", avail)
	}
	if n, err := client.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("go-winio Read with \"z\" waiting, after an empty message = %q, %v; want io.EOF again", buf[:n], err)
	}
}

// crossSizes and replySizes are the messages of TestCrossProcessMessages:
// the child sends crossSizes, the parent answers with replySizes, each
// larger than quotaPipe's quota but for one.
var (
	crossSizes = []int{300 << 10, 7, 4097}
	replySizes = []int{200 << 10, 9000, 3}
)

// TestCrossProcessMessages: a go-winio client in another process sends
// messages larger than the quota and ends with CloseWrite; conduit reads
// each whole, then io.EOF, and answers with its own messages and
// CloseWrite, which the child reads to io.EOF.
func TestCrossProcessMessages(t *testing.T) {
	l, path := listen(t, quotaPipe)
	ch := startChild(t, "message", path)
	c, err := l.AcceptPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	if pid, err := c.ClientProcessID(); err != nil || int(pid) != ch.cmd.Process.Pid {
		t.Fatalf("ClientProcessID = %d, %v; want the child's %d", pid, err, ch.cmd.Process.Pid)
	}
	for i, n := range crossSizes {
		m, err := c.ReadMessage()
		if err != nil || !bytes.Equal(m, pattern(n, i)) {
			t.Fatalf("conduit ReadMessage %d = %d bytes, %v; want the child's message of %d bytes (child stderr: %s)", i, len(m), err, n, ch.stderr.String())
		}
	}
	if n, err := c.Read(make([]byte, 16)); n != 0 || err != io.EOF {
		t.Fatalf("conduit Read after the child's CloseWrite = %d, %v; want 0, io.EOF", n, err)
	}
	for i, n := range replySizes {
		if err := c.WriteMessage(pattern(n, 100+i)); err != nil {
			t.Fatalf("conduit WriteMessage: %v (child stderr: %s)", err, ch.stderr.String())
		}
	}
	// CloseWrite waits for the child to read the messages before its mark:
	// go-winio's byte-mode reads would lose a zero-length message queued
	// behind unread data (TestConduitCloseWriteUnreadByWinio).
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	ch.wait(t)
}

// childMessage is the child of TestCrossProcessMessages.
func childMessage(path string) error {
	c, err := dialChild(path)
	if err != nil {
		return err
	}
	defer c.Close()
	for i, n := range crossSizes {
		if m, err := c.Write(pattern(n, i)); err != nil || m != n {
			return fmt.Errorf("Write of %d bytes = %d, %v", n, m, err)
		}
	}
	cw, ok := c.(closeWriter)
	if !ok {
		return fmt.Errorf("%T has no CloseWrite", c)
	}
	if err := cw.CloseWrite(); err != nil {
		return fmt.Errorf("CloseWrite: %w", err)
	}
	var want []byte
	for i, n := range replySizes {
		want = append(want, pattern(n, 100+i)...)
	}
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		return fmt.Errorf("reading the reply to io.EOF: %w (after %d bytes)", err, len(got))
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("reply of %d bytes differs from the %d sent", len(got), len(want))
	}
	return nil
}
