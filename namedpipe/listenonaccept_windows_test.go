package namedpipe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/hangcheck"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// Under Wine the placeholder is a read/write instance occupied by a client
// end of the listener's own (quirks.ConnectPlaceholder): Wine connects
// clients to an instance made without read or write access, which Windows
// leaves disconnected. Everything else about ListenOnAccept takes the same
// path under Wine as on Windows, so these tests run on both; on Windows they
// exercise the disconnected placeholder itself.

// dialTimesOut asserts that a Dial finds no instance to connect to within
// d: it waits for the busy pipe, and its context ends it.
func dialTimesOut(t *testing.T, what, name string, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	c, err := Dial(ctx, name)
	if err == nil {
		c.Close()
		t.Fatalf("%s: Dial connected; want it to wait until its context ends", what)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%s: Dial = %v, want context.DeadlineExceeded", what, err)
	}
}

// With ListenOnAccept no client connects while no Accept waits: Dial waits
// for the busy pipe until its context ends. While an Accept waits, a Dial
// connects and is that Accept's; after it, clients wait again. Fails with
// the backlog (the first Dial connects at once).
func TestListenOnAcceptNoClientWithoutAccept(t *testing.T) {
	l, name := listen(t, &ListenConfig{ListenOnAccept: true})
	dialTimesOut(t, "no Accept yet", name, 200*time.Millisecond)
	s, c := connect(t, l, name)
	roundTrip(t, "accepted", s, c)
	dialTimesOut(t, "after the Accept returned", name, 200*time.Millisecond)
	// A Dial that waits is served by the next Accept.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	type dial struct {
		c   *Conn
		err error
	}
	dialed := make(chan dial, 1)
	go func() {
		// The client stays open until Accept returns it: Accept skips a
		// client that connected and left without writing.
		c, err := Dial(ctx, name)
		dialed <- dial{c, err}
	}()
	s2, err := l.AcceptPipe()
	if err != nil {
		t.Fatalf("Accept with a Dial waiting: %v", err)
	}
	d := <-dialed
	if d.err != nil {
		t.Fatalf("the waiting Dial: %v", d.err)
	}
	roundTrip(t, "the waiting Dial's connection", s2, d.c)
	closeBoth(s2, d.c)
	closeBoth(s, c)
}

// pipeInstances returns the pipe's instance count, asked on an instance
// made for the purpose (and counted), without read or write access.
func pipeInstances(t *testing.T, l *Listener) int {
	t.Helper()
	h, err := l.createHandle(windows.FILE_OPEN, windows.FILE_READ_ATTRIBUTES|windows.SYNCHRONIZE)
	if err != nil {
		t.Fatalf("making an instance to count with: %v", err)
	}
	defer windows.CloseHandle(h)
	info, err := nt.QueryInformationFile[nt.FILE_PIPE_LOCAL_INFORMATION](h, nt.FilePipeLocalInformation)
	if err != nil {
		t.Fatal(err)
	}
	return int(info.CurrentInstances) - 1
}

// waitInstances waits until the pipe has n instances.
func waitInstances(t *testing.T, l *Listener, n int, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := pipeInstances(t, l)
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: the pipe has %d instances, want %d", what, got, n)
		}
		time.Sleep(time.Millisecond) // polling a condition, not ordering events
	}
}

// The instance count: the placeholder alone while no Accept waits, one
// more for each waiting Accept, the accepted connections after, and none
// of the listener's once it is closed. MaxInstances counts the
// placeholder.
func TestListenOnAcceptInstances(t *testing.T) {
	l, name := listen(t, &ListenConfig{ListenOnAccept: true})
	if n := pipeInstances(t, l); n != 1 {
		t.Fatalf("with no Accept waiting the pipe has %d instances, want 1 (the placeholder)", n)
	}
	const accepts = 3
	accepted := make(chan *Conn, accepts)
	for range accepts {
		go func() {
			c, err := l.AcceptPipe()
			if err != nil {
				t.Error(err)
				c = nil
			}
			accepted <- c
		}()
	}
	waitInstances(t, l, 1+accepts, "with 3 Accepts waiting")
	var conns []*Conn
	for range accepts {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		c, err := Dial(ctx, name)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	var servers []*Conn
	for range accepts {
		if s := <-accepted; s != nil {
			servers = append(servers, s)
		}
	}
	if n := pipeInstances(t, l); n != 1+accepts {
		t.Fatalf("with 3 accepted and no Accept waiting the pipe has %d instances, want 4", n)
	}
	dialTimesOut(t, "every Accept served", name, 200*time.Millisecond)
	l.Close()
	if n := pipeInstances(t, l); n != accepts {
		t.Fatalf("after Close the pipe has %d instances, want the 3 accepted", n)
	}
	for i := range conns {
		closeBoth(servers[i], conns[i])
	}
	if _, err := Dial(context.Background(), name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Dial after every instance closed = %v, want fs.ErrNotExist", err)
	}
}

// MaxInstances counts the placeholder: with 2, one connection at a time
// is served, and the next Accept gets an instance once it closes.
func TestListenOnAcceptMaxInstances(t *testing.T) {
	l, name := listen(t, &ListenConfig{ListenOnAccept: true, MaxInstances: 2})
	for i := range 3 {
		s, c := connect(t, l, name)
		roundTrip(t, fmt.Sprint("connection ", i), s, c)
		closeBoth(s, c)
	}
}

// ListenOnAccept's configuration errors.
func TestListenOnAcceptConfig(t *testing.T) {
	for _, c := range []ListenConfig{{ListenOnAccept: true, Backlog: 2}, {ListenOnAccept: true, MaxInstances: 1}} {
		_, err := c.Listen(testPipe(t))
		wantPathError(t, fmt.Sprintf("Listen with %+v", c), err, ErrInvalidConfig)
	}
}

// Close races a client connecting to a waiting Accept's instance: the
// Accept returns the connection or net.ErrClosed, the client connects (and
// then reads io.EOF, or what the server wrote) or fails, nothing hangs,
// no handle leaks, and the name is gone after.
func TestListenOnAcceptCloseRacesClient(t *testing.T) {
	name := testPipe(t)
	round := func() {
		l, err := (&ListenConfig{ListenOnAccept: true}).Listen(name)
		if err != nil {
			t.Fatal(err)
		}
		acc := make(chan error, 1)
		go func() {
			c, err := l.AcceptPipe()
			if err == nil {
				c.Write([]byte("hi"))
				c.Close()
			}
			acc <- err
		}()
		dialed := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := Dial(ctx, name)
			if err == nil {
				var b []byte
				b, err = io.ReadAll(c)
				if err == nil && len(b) != 0 && string(b) != "hi" {
					err = fmt.Errorf("read %q", b)
				}
				c.Close()
			} else if errors.Is(err, fs.ErrNotExist) || errors.Is(err, context.DeadlineExceeded) {
				err = nil // the listener was gone, or going, before it connected
			}
			dialed <- err
		}()
		l.Close()
		if err := <-acc; err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept = %v, want a connection or net.ErrClosed", err)
		}
		if err := <-dialed; err != nil {
			t.Errorf("client: %v", err)
		}
	}
	hangcheck.Within(t, 120*time.Second, "the rounds", func() {
		for range 20 {
			round()
		}
		leakFree(t, "a round", round)
	})
	if _, err := Dial(context.Background(), name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Dial after Close = %v, want fs.ErrNotExist", err)
	}
}
