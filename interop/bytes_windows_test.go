package interop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"testing"
	"time"

	winio "github.com/Microsoft/go-winio"
	"github.com/conduit-ipc/conduit/namedpipe"
)

// echoSize is how much each byte-mode echo sends: sixteen times conduit's
// default 64 KiB quotas, so that writers wait for readers in both ways.
const echoSize = 1 << 20

// echoBoth runs the byte-mode echo both ways between a conduit server and
// a client c of any kind: c sends and the server echoes, then the server
// sends and c echoes.
func echoBoth(t *testing.T, server *namedpipe.Conn, c net.Conn) {
	t.Helper()
	for _, dir := range []struct {
		name           string
		sender, echoer net.Conn
		seed           int
	}{
		{"client sends, conduit echoes", c, server, 1},
		{"conduit sends, client echoes", server, c, 2},
	} {
		want := pattern(echoSize, dir.seed)
		errs := make(chan error, 2)
		go func() {
			_, err := io.CopyN(dir.echoer, dir.echoer, echoSize)
			errs <- err
		}()
		go func() {
			_, err := dir.sender.Write(want)
			errs <- err
		}()
		got := make([]byte, echoSize)
		if _, err := io.ReadFull(dir.sender, got); err != nil {
			t.Fatalf("%s: reading the echo: %v", dir.name, err)
		}
		for range 2 {
			if err := <-errs; err != nil {
				t.Fatalf("%s: %v", dir.name, err)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("%s: the echo differs from what was sent", dir.name)
		}
	}
}

// TestByteModeEcho: on a byte pipe a go-winio client and a conduit server
// echo a megabyte each way; neither end offers CloseWrite there (go-winio's
// byte connection has no such method; conduit's fails with
// errors.ErrUnsupported); an empty go-winio Write sends nothing; and the
// client's Close reads as io.EOF.
func TestByteModeEcho(t *testing.T) {
	server, client := pair(t, namedpipe.ListenConfig{})
	echoBoth(t, server, client)

	if _, ok := client.(closeWriter); ok {
		t.Errorf("go-winio's byte-pipe connection %T has CloseWrite", client)
	}
	if err := server.CloseWrite(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("conduit CloseWrite on a byte pipe = %v, want errors.ErrUnsupported", err)
	}

	// go-winio passes an empty Write to WriteFile, which on a byte pipe
	// queues nothing (NPFS's NpWriteDataQueue queues a zero-length entry
	// on message pipes only): conduit's Read finds nothing and lasts until
	// its deadline, where a 0-byte read would have been io.EOF.
	if n, err := client.Write(nil); n != 0 || err != nil {
		t.Fatalf("go-winio Write(nil) = %d, %v; want 0, nil", n, err)
	}
	buf := make([]byte, 16)
	server.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := server.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("conduit Read after go-winio's empty Write = %q, %v; want a deadline error (something was sent)", buf[:n], err)
	}
	server.SetReadDeadline(time.Now().Add(time.Minute))
	client.Write([]byte("x"))
	if n, err := server.Read(buf); err != nil || string(buf[:n]) != "x" {
		t.Fatalf("conduit Read = %q, %v; want \"x\"", buf[:n], err)
	}

	client.Close()
	if n, err := server.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("conduit Read after go-winio's Close = %d, %v; want 0, io.EOF", n, err)
	}
}

// TestCrossProcessByteEcho: the echo of TestByteModeEcho with the go-winio
// client in another process.
func TestCrossProcessByteEcho(t *testing.T) {
	l, path := listen(t, namedpipe.ListenConfig{})
	ch := startChild(t, "bytes", path)
	c, err := l.AcceptPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Minute))
	// The child echoes what it reads until io.EOF; the server sends, reads
	// the echo back and closes.
	want := pattern(echoSize, 3)
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(want)
		sent <- err
	}()
	got := make([]byte, echoSize)
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("reading the child's echo: %v (child stderr: %s)", err, ch.stderr.String())
	}
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("the child's echo differs from what was sent")
	}
	c.Close()
	ch.wait(t)
}

// childBytes is the child of TestCrossProcessByteEcho: it echoes until the
// server closes, which it reads as io.EOF.
func childBytes(path string) error {
	c, err := dialChild(path)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	n, err := io.Copy(c, c)
	if err != nil {
		return fmt.Errorf("echo: %w after %d bytes", err, n)
	}
	if n != echoSize {
		return fmt.Errorf("echoed %d bytes, want %d", n, echoSize)
	}
	return nil
}

// dialChild connects the child's go-winio client.
func dialChild(path string) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := winio.DialPipeContext(ctx, path)
	if err != nil {
		return nil, fmt.Errorf("DialPipeContext: %w", err)
	}
	return c, nil
}
