package namedpipe

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/windows"
)

// setCreateHook installs testHookCreate for one test. Call it before the
// test's Listen: cleanups run last in, first out, so the listener is closed,
// and nothing reads the hook any more, before it is cleared.
func setCreateHook(t *testing.T, hook func(disposition uint32) error) {
	testHookCreate = hook
	t.Cleanup(func() { testHookCreate = nil })
}

// A server that closes its end first, at MaxInstances 1 (an HTTP server's
// keep-alive time-out): Windows keeps the closed instance in the pipe's
// count until the client closes too, and refuses a new instance meanwhile
// with ERROR_PIPE_BUSY. The listener must try again by itself, so that once
// the client leaves the next one is served and Accept returns it.
//
// Wine drops the instance from the count at once; there the refusal is
// simulated with testHookCreate for as long as the client holds its end, so
// that the retry is exercised too. On Windows the test runs as it is.
func TestServerClosesFirstAtLimit(t *testing.T) {
	var clientOpen, refused atomic.Int32
	if onWine() {
		setCreateHook(t, func(uint32) error {
			if clientOpen.Load() != 0 {
				refused.Add(1)
				return windows.ERROR_PIPE_BUSY
			}
			return nil
		})
	}
	l, name := listen(t, &ListenConfig{MaxInstances: 1})
	accepted := acceptAll(l)
	for round := range 3 {
		clientOpen.Store(1)
		client, err := Dial(t.Context(), name)
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		srv := <-accepted
		if _, err := srv.Write([]byte("bye")); err != nil {
			t.Fatal(err)
		}
		if err := srv.Close(); err != nil { // the server leaves first
			t.Fatal(err)
		}
		got, err := io.ReadAll(client)
		if err != nil || string(got) != "bye" {
			t.Fatalf("round %d: the client read %q, %v; want what the server wrote, then EOF", round, got, err)
		}
		// Another client waits meanwhile; it must get in once the first
		// leaves.
		dialed := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			d := DialConfig{WaitForServer: true}
			c, err := d.Dial(ctx, name)
			if err == nil {
				_, err = c.Write([]byte("hello"))
				c.Close()
			}
			dialed <- err
		}()
		clientOpen.Store(0)
		client.Close()
		if err := <-dialed; err != nil {
			t.Fatalf("round %d: the next client: %v", round, err)
		}
		srv = <-accepted
		if got, err := io.ReadAll(srv); err != nil || string(got) != "hello" {
			t.Fatalf("round %d: the next client's connection read %q, %v", round, got, err)
		}
		srv.Close()
	}
	if onWine() && refused.Load() == 0 {
		t.Fatal("no creation was refused, so the retry was not tested")
	}
}

// Backlog bounds the clients that connect before Accept takes them: with
// Backlog 2 and nobody accepting, two clients get in and a third waits,
// busy, until Accept makes room.
func TestBacklogBoundsQueue(t *testing.T) {
	l, name := listen(t, &ListenConfig{Backlog: 2})
	for i := range 2 {
		c, err := Dial(t.Context(), name)
		if err != nil {
			t.Fatalf("client %d: %v", i, err)
		}
		defer c.Close()
	}
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Millisecond)
	defer cancel()
	if c, err := Dial(ctx, name); !errors.Is(err, context.DeadlineExceeded) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("a third client with two waiting for Accept and Backlog 2: Dial = %v, want it to wait (busy)", err)
	}
	l.mu.Lock()
	queued, listening, live := len(l.queue), len(l.listening), l.live
	l.mu.Unlock()
	if queued != 2 || listening != 0 || live != 2 {
		t.Fatalf("%d queued, %d listening, %d instances; want 2, 0, 2", queued, listening, live)
	}
	dialed := make(chan error, 1)
	go func() {
		c, err := Dial(t.Context(), name)
		if err == nil {
			c.Close()
		}
		dialed <- err
	}()
	for range 2 {
		c, err := l.AcceptPipe()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	if err := <-dialed; err != nil {
		t.Fatalf("the third client after Accept made room: %v", err)
	}
}

// An instance that cannot be created reaches Accept as a *net.OpError (the
// Listener's documented error type), once, and the listener recovers.
func TestAcceptReportsCreateError(t *testing.T) {
	var fail atomic.Bool
	setCreateHook(t, func(uint32) error {
		if fail.Load() {
			return windows.ERROR_NOT_ENOUGH_MEMORY
		}
		return nil
	})
	l, name := listen(t, &ListenConfig{Backlog: 1})
	fail.Store(true)
	c, err := Dial(t.Context(), name) // takes the only instance; its replacement fails
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	srv, err := l.AcceptPipe()
	if err != nil {
		t.Fatalf("Accept of the connected client: %v", err)
	}
	defer srv.Close()
	_, err = l.AcceptPipe()
	var oe *net.OpError
	var pe *os.PathError
	if !errors.As(err, &oe) || oe.Op != "accept" || errors.As(err, &pe) || !errors.Is(err, windows.ERROR_NOT_ENOUGH_MEMORY) {
		t.Fatalf("Accept after a failed creation = %#v, want a *net.OpError accept wrapping the cause", err)
	}
	fail.Store(false)
	accepted := make(chan error, 1)
	go func() {
		c, err := l.AcceptPipe()
		if err == nil {
			c.Close()
		}
		accepted <- err
	}()
	c2, err := Dial(t.Context(), name)
	if err != nil {
		t.Fatalf("Dial once creation works again: %v", err)
	}
	c2.Write([]byte("y"))
	c2.Close()
	if err := <-accepted; err != nil {
		t.Fatalf("Accept once creation works again: %v", err)
	}
}

// A Listener's SyscallConn gives a listening instance's handle, which
// answers for the pipe.
func TestListenerSyscallConn(t *testing.T) {
	l, _ := listen(t, &ListenConfig{MessageMode: true})
	rc, err := l.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	checkRawConn(t, rc, l.Close, true)
}

// A client may connect to a new instance before the server's listen
// request reaches it, write, and close its end: the listen request then
// fails with ERROR_NO_DATA, and what the client wrote is still in the
// instance. Accept returns that connection, which reads the data and then
// io.EOF. The listener dropped such instances, losing the data: found by a
// hung TestServerClosesFirstAtLimit under load (its second client wrote
// "hello" into an instance that was then dropped).
func TestClientLeavesBeforeListen(t *testing.T) {
	gate := make(chan struct{})
	var first sync.Once
	testHookBeforeListen = func() { first.Do(func() { <-gate }) }
	t.Cleanup(func() { testHookBeforeListen = nil })
	l, name := listen(t, &ListenConfig{MaxInstances: 1})
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, name)
	if err != nil {
		close(gate)
		t.Fatalf("Dial of an instance not yet listened on: %v", err)
	}
	if _, err := c.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	c.Close()
	close(gate) // now the listen request: ERROR_NO_DATA
	type result struct {
		c   *Conn
		err error
	}
	accepted := make(chan result, 1)
	go func() {
		s, err := l.AcceptPipe()
		accepted <- result{s, err}
	}()
	select {
	case r := <-accepted:
		if r.err != nil {
			t.Fatalf("Accept of a client that left before the listen request: %v", r.err)
		}
		s := r.c
		defer s.Close()
		s.SetReadDeadline(time.Now().Add(10 * time.Second))
		got, err := io.ReadAll(s)
		if err != nil || string(got) != "hello" {
			t.Fatalf("the connection of a client that left before the listen read %q, %v; want \"hello\", then EOF", got, err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no Accept of a client that wrote and left before the listen request: its data is lost")
	}
}
