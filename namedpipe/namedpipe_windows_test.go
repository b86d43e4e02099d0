package namedpipe

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
)

func TestEcho1MiB(t *testing.T) {
	server, client := pair(t, nil)
	go func() {
		io.Copy(server, server)
		server.Close()
	}()
	data := make([]byte, 1<<20)
	rand.Read(data)
	errc := make(chan error, 1)
	go func() {
		_, err := client.Write(data)
		errc <- err
	}()
	got := make([]byte, len(data))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatalf("ReadFull: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("Write: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("echoed data differs")
	}
}

func TestMessageBoundaries(t *testing.T) {
	server, client := pair(t, &ListenConfig{MessageMode: true})
	big := make([]byte, 200_000) // over the 64 KiB quota
	rand.Read(big)
	msgs := [][]byte{{}, []byte("0123456789"), big, []byte("after")}
	go func() {
		for _, m := range msgs {
			if err := client.WriteMessage(m); err != nil {
				t.Errorf("Write(%d bytes): %v", len(m), err)
				return
			}
		}
	}()
	for i, want := range msgs {
		got, err := server.ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage %d: %v", i, err)
		}
		if got == nil || !bytes.Equal(got, want) {
			t.Fatalf("message %d: got %d bytes, want %d", i, len(got), len(want))
		}
	}

	// Read returns a long message in pieces, each from that message only.
	go func() {
		client.Write([]byte("abcdefgh"))
		client.Write([]byte("xy"))
	}()
	buf := make([]byte, 3)
	var parts []string
	for _, want := range []string{"abc", "def", "gh", "xy"} {
		n, err := server.Read(buf)
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		parts = append(parts, string(buf[:n]))
		if string(buf[:n]) != want {
			t.Fatalf("reads %q, want %q next", parts, want)
		}
	}
}

func TestMessageCloseWriteIsEOF(t *testing.T) {
	server, client := pair(t, &ListenConfig{MessageMode: true})
	go func() {
		client.Write([]byte("last"))
		if err := client.CloseWrite(); err != nil {
			t.Errorf("CloseWrite: %v", err)
		}
	}()
	got, err := io.ReadAll(server)
	if err != nil || string(got) != "last" {
		t.Fatalf("ReadAll = %q, %v; want \"last\", nil", got, err)
	}
	if _, err := client.Write([]byte("more")); err == nil {
		t.Fatal("Write after CloseWrite succeeded")
	}
	// The other direction still works.
	go server.Write([]byte("reply"))
	if m, err := client.ReadMessage(); err != nil || string(m) != "reply" {
		t.Fatalf("ReadMessage after CloseWrite = %q, %v", m, err)
	}
}

// CloseWrite sends its end-of-stream mark only once the peer has read what
// came before it: a byte-mode reader (go-winio's) would otherwise read the
// data and the zero-length mark in one go on Windows and lose the mark.
func TestCloseWriteWaitsForReader(t *testing.T) {
	server, client := pair(t, &ListenConfig{MessageMode: true})
	if _, err := server.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	flushing := make(chan struct{})
	testHookCloseWriteFlush = func() { close(flushing) }
	defer func() { testHookCloseWriteFlush = nil }()
	unread := make(chan uint32, 1)
	go func() {
		err := server.CloseWrite()
		if err != nil {
			t.Errorf("CloseWrite: %v", err)
		}
		// What the client has yet to read, as CloseWrite returns.
		var avail uint32
		if err := nt.PeekNamedPipe(client.f.Handle(), nil, 0, nil, &avail, nil); err != nil {
			t.Errorf("PeekNamedPipe: %v", err)
		}
		unread <- avail
	}()
	// The client reads once CloseWrite waits for it; a CloseWrite that
	// returns first has sent its mark behind unread data.
	select {
	case <-flushing:
	case n := <-unread:
		t.Fatalf("CloseWrite returned with %d bytes before its mark unread", n)
	}
	if m, err := client.ReadMessage(); err != nil || string(m) != "data" {
		t.Fatalf("ReadMessage = %q, %v", m, err)
	}
	if n := <-unread; n != 0 {
		t.Fatalf("CloseWrite returned with %d bytes before its mark unread", n)
	}
	if n, err := client.Read(make([]byte, 8)); n != 0 || err != io.EOF {
		t.Fatalf("Read after CloseWrite = %d, %v; want 0, io.EOF", n, err)
	}
}

func TestByteModeUnsupported(t *testing.T) {
	server, _ := pair(t, nil)
	if err := server.CloseWrite(); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("CloseWrite on byte pipe = %v, want ErrUnsupported", err)
	}
	if _, err := server.ReadMessage(); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("ReadMessage on byte pipe = %v, want ErrUnsupported", err)
	}
}

func TestConcurrentDialers(t *testing.T) {
	l, name := listen(t, nil)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	const n = 64
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			c, err := Dial(ctx, name)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			msg := []byte{byte(i), 'x', byte(i)}
			if _, err := c.Write(msg); err != nil {
				errs <- err
				return
			}
			got := make([]byte, 3)
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
				errs <- errors.New("bad echo")
			}
		}(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestMaxInstancesBusy(t *testing.T) {
	l, name := listen(t, &ListenConfig{MaxInstances: 1})
	accepted := acceptAll(l)
	first, err := Dial(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	srv := <-accepted

	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if c, err := Dial(ctx, name); !errors.Is(err, context.DeadlineExceeded) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("second Dial while the only instance is busy = %v, want DeadlineExceeded", err)
	}
	var op *net.OpError
	if _, err := Dial(ctx, name); !errors.As(err, &op) {
		t.Fatalf("Dial error %T is not *net.OpError", err)
	}

	// Once the first connection closes, a waiting Dial gets through.
	dialed := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := Dial(ctx, name)
		if err == nil {
			c.Close()
		}
		dialed <- err
	}()
	first.Close()
	srv.Close()
	if err := <-dialed; err != nil {
		t.Fatalf("Dial after the first connection closed: %v", err)
	}
}

// With MaxInstances 1 the connected instance is the pipe's only one: once its
// client has gone, closing it must not let the name vanish, or a client
// waiting for the busy pipe fails with "not found". The listener disconnects
// the instance and listens on it again.
func TestMaxInstancesKeepsName(t *testing.T) {
	l, name := listen(t, &ListenConfig{MaxInstances: 1})
	for round := range 3 {
		accepted := make(chan *Conn, 1)
		go func() {
			c, err := l.AcceptPipe()
			if err != nil {
				t.Error(err)
			}
			accepted <- c
		}()
		client, err := Dial(context.Background(), name)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		srv := <-accepted
		if srv == nil {
			t.FailNow()
		}
		if _, err := client.Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		h := srv.f.Handle()
		client.Close()
		if err := srv.Close(); err != nil {
			t.Fatalf("server Close: %v", err)
		}
		l.mu.Lock()
		reused := false
		for f := range l.listening {
			reused = reused || f.Handle() == h
		}
		live := l.live
		l.mu.Unlock()
		if !reused || live != 1 {
			t.Fatalf("round %d: after the client left, Close did not put the instance back to listen (reused %v, live %d)", round, reused, live)
		}
		if err := srv.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close = %v", err)
		}
		if _, err := srv.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
		}
	}
}

func TestDialMissing(t *testing.T) {
	name := testPipe(t)
	_, err := Dial(context.Background(), name)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Dial of a missing pipe = %v, want fs.ErrNotExist", err)
	}
	// WaitForServer waits for the listener to appear.
	done := make(chan error, 1)
	go func() {
		d := DialConfig{WaitForServer: true}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := d.Dial(ctx, name)
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	l, err := Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go l.Accept()
	if err := <-done; err != nil {
		t.Fatalf("Dial with WaitForServer: %v", err)
	}
	// And gives up with its context.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	d := DialConfig{WaitForServer: true}
	if _, err := d.Dial(ctx, testPipe(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForServer past its context = %v", err)
	}
}

func TestListenNameInUse(t *testing.T) {
	_, name := listen(t, nil)
	l, err := Listen(name)
	if err == nil {
		l.Close()
		t.Fatal("second Listen on a name in use succeeded")
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("second Listen = %v, want fs.ErrExist", err)
	}
	var pe *os.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not *os.PathError", err)
	}
}

func TestDeadlines(t *testing.T) {
	server, client := pair(t, nil)
	server.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 10)
	if _, err := server.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read past deadline = %v, want ErrDeadlineExceeded", err)
	}
	// Still usable once the deadline is cleared.
	server.SetReadDeadline(time.Time{})
	go client.Write([]byte("hello"))
	if n, err := server.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("Read after deadline = %q, %v", buf[:n], err)
	}

	// A deadline in the past fails at once; one set during a Read ends it.
	server.SetReadDeadline(time.Now().Add(-time.Second))
	if _, err := server.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Read with a past deadline = %v", err)
	}
	server.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := server.Read(buf)
		errc <- err
	}()
	server.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	if err := <-errc; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("pending Read after SetReadDeadline = %v", err)
	}

	// Writes: fill the quota while no one reads.
	server.SetReadDeadline(time.Time{})
	client.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	chunk := make([]byte, 64<<10)
	var werr error
	for i := 0; i < 64 && werr == nil; i++ {
		_, werr = client.Write(chunk)
	}
	if !errors.Is(werr, os.ErrDeadlineExceeded) {
		t.Fatalf("Write into a full pipe = %v, want ErrDeadlineExceeded", werr)
	}
	client.SetWriteDeadline(time.Time{})
	go io.Copy(io.Discard, server)
	if _, err := client.Write([]byte("more")); err != nil {
		t.Fatalf("Write after write deadline: %v", err)
	}
}

func TestCloseUnblocksAccept(t *testing.T) {
	l, _ := listen(t, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := l.Accept()
		errc <- err
	}()
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("pending Accept after Close = %v, want net.ErrClosed", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
	if err := l.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v, want net.ErrClosed", err)
	}
}

func TestCloseWithClientsMidConnect(t *testing.T) {
	l, name := listen(t, &ListenConfig{Backlog: 2})
	// Clients connect while no one accepts: some fill the backlog's queue,
	// others wait for an instance.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if c, err := Dial(ctx, name); err == nil {
				c.Close()
			}
		}()
	}
	if err := l.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v", err)
	}
	wg.Wait()
	// The name is gone with the listener: it can be listened on again.
	l2, err := Listen(name)
	if err != nil {
		t.Fatalf("Listen after Close: %v", err)
	}
	l2.Close()
}

func TestConnCloseUnblocks(t *testing.T) {
	server, client := pair(t, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := server.Read(make([]byte, 10))
		errc <- err
	}()
	go func() {
		// A write that cannot finish: 1 MiB into a 64 KiB quota.
		_, err := server.Write(make([]byte, 1<<20))
		errc <- err
	}()
	server.Close()
	for i := 0; i < 2; i++ {
		if err := <-errc; !errors.Is(err, net.ErrClosed) {
			t.Fatalf("pending op after Close = %v, want net.ErrClosed", err)
		}
	}
	// The peer reads what arrived, then EOF.
	if _, err := io.Copy(io.Discard, client); err != nil {
		t.Fatalf("client read after server close: %v", err)
	}
	if _, err := server.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v", err)
	}
}

func TestPeerCloseIsEOF(t *testing.T) {
	for _, msg := range []bool{false, true} {
		server, client := pair(t, &ListenConfig{MessageMode: msg})
		client.Write([]byte("bye"))
		client.Close()
		got, err := io.ReadAll(server)
		if err != nil || string(got) != "bye" {
			t.Fatalf("message=%v: ReadAll after peer close = %q, %v", msg, got, err)
		}
		if msg {
			if _, err := server.ReadMessage(); err != io.EOF {
				t.Fatalf("ReadMessage after peer close = %v, want io.EOF", err)
			}
		}
		if _, err := server.Write([]byte("x")); err == nil {
			t.Fatal("Write to a closed peer succeeded")
		}
	}
}

func TestClientLeavesBeforeAccept(t *testing.T) {
	l, name := listen(t, nil)
	gone, err := Dial(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	gone.Close()
	stays, err := Dial(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer stays.Close()
	stays.Write([]byte("here"))
	c, err := l.AcceptPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "here" {
		t.Fatalf("Accept returned the departed client: read %q, %v", buf, err)
	}
}

func TestDirection(t *testing.T) {
	in, inClient := pair(t, &ListenConfig{Direction: Inbound})
	go inClient.Write([]byte("up"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(in, buf); err != nil || string(buf) != "up" {
		t.Fatalf("Inbound: %q, %v", buf, err)
	}
	if _, err := in.Write([]byte("x")); err == nil {
		t.Fatal("server Write on an Inbound pipe succeeded")
	}
	out, outClient := pair(t, &ListenConfig{Direction: Outbound})
	go out.Write([]byte("dn"))
	if _, err := io.ReadFull(outClient, buf); err != nil || string(buf) != "dn" {
		t.Fatalf("Outbound: %q, %v", buf, err)
	}
	if _, err := outClient.Write([]byte("x")); err == nil {
		t.Fatal("client Write on an Outbound pipe succeeded")
	}
}

func TestFlush(t *testing.T) {
	server, client := pair(t, nil)
	server.Write([]byte("data"))
	flushed := make(chan error, 1)
	go func() { flushed <- server.Flush() }()
	buf := make([]byte, 4)
	if _, err := io.ReadFull(client, buf); err != nil {
		t.Fatal(err)
	}
	if err := <-flushed; err != nil {
		t.Fatalf("Flush: %v", err)
	}
}

func TestCloseInterruptsFlush(t *testing.T) {
	server, _ := pair(t, nil)
	server.Write([]byte("unread"))
	flushed := make(chan error, 1)
	go func() { flushed <- server.Flush() }()
	// Close must return although the client never reads.
	server.Close()
	if err := <-flushed; err == nil {
		t.Fatal("Flush of unread data returned nil after Close")
	}
}

func TestBadNames(t *testing.T) {
	for _, name := range []string{"", "a\x00b", `\\.\pipe\`, `\\.\mailslot\x`, string(make([]byte, 300))} {
		if _, err := Listen(name); !isPathError(err) {
			t.Errorf("Listen(%q) = %v, want *os.PathError", name, err)
		}
		if _, err := Dial(context.Background(), name); !isPathError(err) {
			t.Errorf("Dial(%q) = %v, want *os.PathError", name, err)
		}
	}
	if _, err := Listen(`\\otherhost\pipe\x`); !isPathError(err) {
		t.Errorf("Listen on a remote name = %v, want *os.PathError", err)
	}
}

func isPathError(err error) bool {
	var pe *os.PathError
	return errors.As(err, &pe)
}

func TestBadConfigs(t *testing.T) {
	bad := []ListenConfig{
		{MaxInstances: 255},
		{MaxInstances: -1},
		{MaxInstances: 2, Backlog: 3},
		{Backlog: -1},
		{InputBufferSize: -1},
		{OutputBufferSize: -5},
		{Direction: Direction(7)},
		{SecurityDescriptor: "this is not SDDL"},
	}
	for _, c := range bad {
		l, err := c.Listen(testPipe(t))
		if err == nil {
			l.Close()
			t.Errorf("Listen with %+v succeeded", c)
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) || !isPathError(err) {
			t.Errorf("Listen with %+v = %v, want *os.PathError matching ErrInvalidConfig", c, err)
		}
	}
	// MaxInstances with the default backlog is fine: the backlog shrinks.
	l, err := (&ListenConfig{MaxInstances: 2}).Listen(testPipe(t))
	if err != nil {
		t.Fatalf("MaxInstances 2 with default backlog: %v", err)
	}
	l.Close()
}
