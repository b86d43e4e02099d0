package interop

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	winio "github.com/Microsoft/go-winio"
	"github.com/conduit-ipc/conduit/namedpipe"
)

// winioListenerGap is why a client cannot use go-winio's listener under
// Wine: ListenPipe's first instance is made with SYNCHRONIZE access only
// (pipe.go, makeServerPipeHandle: "the named pipe file system will put this
// pipe into an initially disconnected state"), which Windows never lets a
// client connect to, and which go-winio never accepts on. Wine 8 connects
// clients to it, so the client lands on an instance nobody serves (measured:
// Accept never returns, reads wait forever; go-winio's own DialPipe too).
const winioListenerGap = "a pipe instance created with SYNCHRONIZE access only (go-winio's placeholder first instance) " +
	"accepts clients under Wine 8, so the client connects to an instance that go-winio never accepts"

// winioServe listens with go-winio on a fresh pipe and serves one client
// with serve in the background; its error comes on the channel.
func winioServe(t *testing.T, cfg *winio.PipeConfig, serve func(net.Conn) error) (string, <-chan error) {
	t.Helper()
	path := pipePath(t)
	l, err := winio.ListenPipe(path, cfg)
	if err != nil {
		t.Fatalf("go-winio ListenPipe: %v", err)
	}
	t.Cleanup(func() { l.Close() })
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- fmt.Errorf("go-winio Accept: %w", err)
			return
		}
		defer c.Close()
		done <- serve(c)
	}()
	return path, done
}

func dialConduit(t *testing.T, path string) *namedpipe.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := namedpipe.Dial(ctx, path)
	if err != nil {
		t.Fatalf("conduit Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(time.Minute))
	return c
}

// TestConduitClientWinioListenerBytes: a conduit client and a go-winio
// server echo a megabyte each way on a byte pipe. go-winio's listener has
// an instance listening only while Accept runs; conduit's Dial waits for it.
func TestConduitClientWinioListenerBytes(t *testing.T) {
	skipOnWine(t, winioListenerGap)
	server := make(chan net.Conn, 1)
	release := make(chan struct{})
	path, done := winioServe(t, nil, func(c net.Conn) error {
		server <- c
		<-release
		return nil
	})
	c := dialConduit(t, path)
	var s net.Conn
	select {
	case s = <-server:
	case err := <-done:
		t.Fatal(err)
	}
	defer close(release)
	for _, dir := range []struct {
		name           string
		sender, echoer net.Conn
		seed           int
	}{
		{"conduit sends, go-winio echoes", c, s, 1},
		{"go-winio sends, conduit echoes", s, c, 2},
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

// TestConduitClientWinioListenerMessages: on a go-winio message pipe,
// conduit's Dial switches its end to message read mode, so ReadMessage
// returns each of go-winio's Writes whole, larger than the quota too, and
// go-winio's CloseWrite as io.EOF; conduit's messages and CloseWrite reach
// go-winio's byte-mode reads, then io.EOF.
func TestConduitClientWinioListenerMessages(t *testing.T) {
	skipOnWine(t, winioListenerGap)
	sizes := []int{70000, 5, 4097}
	release := make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	defer free() // should the test fail first
	path, done := winioServe(t, &winio.PipeConfig{MessageMode: true, InputBufferSize: 4096, OutputBufferSize: 4096},
		func(s net.Conn) error {
			var want []byte
			for i, n := range sizes {
				want = append(want, pattern(n, 10+i)...)
			}
			got, err := io.ReadAll(s)
			if err != nil {
				return fmt.Errorf("go-winio ReadAll: %w", err)
			}
			if !bytes.Equal(got, want) {
				return fmt.Errorf("go-winio read %d bytes, differing from the %d conduit sent", len(got), len(want))
			}
			for i, n := range sizes {
				if m, err := s.Write(pattern(n, 20+i)); err != nil || m != n {
					return fmt.Errorf("go-winio Write of %d bytes = %d, %w", n, m, err)
				}
			}
			if err := s.(closeWriter).CloseWrite(); err != nil {
				return err
			}
			// Stay open until conduit has read the end of the stream,
			// so that it reads CloseWrite's, not Close's.
			<-release
			return nil
		})
	c := dialConduit(t, path)
	if info, err := c.Info(); err != nil || !info.MessageType || !info.MessageReadMode {
		t.Fatalf("conduit client Info = %+v, %v; want a message pipe read in message mode", info, err)
	}
	for i, n := range sizes {
		if err := c.WriteMessage(pattern(n, 10+i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	for i, n := range sizes {
		m, err := c.ReadMessage()
		if err != nil || !bytes.Equal(m, pattern(n, 20+i)) {
			t.Fatalf("conduit ReadMessage %d = %d bytes, %v; want go-winio's message of %d bytes", i, len(m), err, n)
		}
	}
	if n, err := c.Read(make([]byte, 16)); n != 0 || err != io.EOF {
		t.Fatalf("conduit Read after go-winio's CloseWrite = %d, %v; want 0, io.EOF", n, err)
	}
	free()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
