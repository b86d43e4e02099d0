package interop

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"testing"
	"time"

	winio "github.com/Microsoft/go-winio"
	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

// The behaviours that docs/migrating-from-go-winio.md says differ, each
// asserted for both libraries side by side.

// TestDialWaits: a missing pipe fails at once for both; a busy pipe makes
// go-winio's DialPipe give up after its default 2 seconds with ErrTimeout,
// DialPipeContext return the context's bare error, and conduit's Dial wait
// until its context ends and return a *net.OpError wrapping that error.
func TestDialWaits(t *testing.T) {
	missing := pipePath(t)
	_, err := winio.DialPipe(missing, nil)
	var pe *os.PathError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &pe) {
		t.Errorf("go-winio DialPipe of a missing pipe = %v, want an *os.PathError matching fs.ErrNotExist", err)
	}
	_, err = namedpipe.Dial(context.Background(), missing)
	var oe *net.OpError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &oe) {
		t.Errorf("conduit Dial of a missing pipe = %v, want a *net.OpError matching fs.ErrNotExist", err)
	}

	// One instance, taken: every dial finds the pipe busy.
	l, path := listen(t, namedpipe.ListenConfig{MaxInstances: 1})
	ch := acceptOne(l)
	taker, err := namedpipe.Dial(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer taker.Close()
	if a := <-ch; a.err != nil {
		t.Fatal(a.err)
	} else {
		defer a.c.Close()
	}

	// The three dials run at once: the test waits for the longest, 2 s.
	type result struct {
		err     error
		elapsed time.Duration
	}
	dial := func(f func() error) <-chan result {
		out := make(chan result, 1)
		go func() {
			start := time.Now()
			err := f()
			out <- result{err, time.Since(start)}
		}()
		return out
	}
	short := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(context.Background(), 300*time.Millisecond)
	}
	winioDefault := dial(func() error {
		c, err := winio.DialPipe(path, nil)
		if err == nil {
			c.Close()
		}
		return err
	})
	winioCtx := dial(func() error {
		ctx, cancel := short()
		defer cancel()
		c, err := winio.DialPipeContext(ctx, path)
		if err == nil {
			c.Close()
		}
		return err
	})
	conduitCtx := dial(func() error {
		ctx, cancel := short()
		defer cancel()
		c, err := namedpipe.Dial(ctx, path)
		if err == nil {
			c.Close()
		}
		return err
	})

	r := <-winioDefault
	// Go's clock under Wine moves in coarse steps: allow 100 ms.
	if r.err != winio.ErrTimeout || r.elapsed < 1900*time.Millisecond {
		t.Errorf("go-winio DialPipe(busy, nil) = %v after %v, want ErrTimeout after 2 s", r.err, r.elapsed)
	}
	if !errors.Is(r.err, context.DeadlineExceeded) || !errors.Is(r.err, os.ErrDeadlineExceeded) {
		t.Errorf("go-winio v0.6.4's ErrTimeout matches context.DeadlineExceeded: %v, os.ErrDeadlineExceeded: %v; want both",
			errors.Is(r.err, context.DeadlineExceeded), errors.Is(r.err, os.ErrDeadlineExceeded))
	}
	if r := <-winioCtx; r.err != context.DeadlineExceeded {
		t.Errorf("go-winio DialPipeContext(busy) = %v (%T), want the bare context.DeadlineExceeded", r.err, r.err)
	}
	r = <-conduitCtx
	if !errors.Is(r.err, context.DeadlineExceeded) || !errors.As(r.err, &oe) {
		t.Errorf("conduit Dial(busy) = %v, want a *net.OpError matching context.DeadlineExceeded", r.err)
	}
	if r.elapsed < 250*time.Millisecond {
		t.Errorf("conduit Dial(busy) gave up after %v, before its context's 300 ms", r.elapsed)
	}
}

// TestClientIdentity: go-winio's DialPipe connects with
// SECURITY_SQOS_PRESENT|SECURITY_ANONYMOUS (DialPipeAccess passes
// PipeImpLevelAnonymous), so a conduit server cannot tell who the client
// is; DialPipeAccessImpLevel with PipeImpLevelIdentification lets it. The
// client's PID is not subject to the impersonation level.
func TestClientIdentity(t *testing.T) {
	me, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		t.Fatal(err)
	}
	connect := func(t *testing.T, dial func(ctx context.Context, path string) (net.Conn, error)) *namedpipe.Conn {
		l, path := listen(t, namedpipe.ListenConfig{})
		ch := acceptOne(l)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, err := dial(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		a := <-ch
		if a.err != nil {
			t.Fatal(a.err)
		}
		t.Cleanup(func() { a.c.Close() })
		// Windows impersonates a client only once it has written.
		c.Write([]byte("x"))
		if _, err := io.ReadFull(a.c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		return a.c
	}

	t.Run("Identification", func(t *testing.T) {
		s := connect(t, func(ctx context.Context, path string) (net.Conn, error) {
			return winio.DialPipeAccessImpLevel(ctx, path, windows.GENERIC_READ|windows.GENERIC_WRITE, winio.PipeImpLevelIdentification)
		})
		if pid, err := s.ClientProcessID(); err != nil || int(pid) != os.Getpid() {
			t.Errorf("ClientProcessID = %d, %v; want %d", pid, err, os.Getpid())
		}
		sid, err := s.ClientUser()
		if err != nil || !sid.Equals(me.User.Sid) {
			t.Errorf("ClientUser of an Identification client = %v, %v; want %v", sid, err, me.User.Sid)
		}
	})

	t.Run("default Anonymous", func(t *testing.T) {
		skipOnWine(t, "the impersonation level a client asks for (SECURITY_SQOS_PRESENT) is ignored: every client yields an impersonation-level token")
		s := connect(t, func(ctx context.Context, path string) (net.Conn, error) {
			return winio.DialPipeContext(ctx, path)
		})
		if pid, err := s.ClientProcessID(); err != nil || int(pid) != os.Getpid() {
			t.Errorf("ClientProcessID = %d, %v; want %d", pid, err, os.Getpid())
		}
		if sid, err := s.ClientUser(); err == nil && sid.Equals(me.User.Sid) {
			t.Errorf("ClientUser of go-winio's default (Anonymous) client = %v, want no user: the client did not allow identification", sid)
		}
	})
}

// TestConnErrorsCompared: deadlines, Close and the peer's Close, as each
// library reports them.
func TestConnErrorsCompared(t *testing.T) {
	server, client := pair(t, namedpipe.ListenConfig{})
	buf := make([]byte, 16)

	// A passed deadline: go-winio's ErrTimeout matches os.ErrDeadlineExceeded
	// (and context.DeadlineExceeded) since v0.6.4; conduit's error is a
	// *net.OpError wrapping os.ErrDeadlineExceeded, and not
	// context.DeadlineExceeded.
	past := time.Now().Add(-time.Second)
	client.SetReadDeadline(past)
	server.SetReadDeadline(past)
	_, werr := client.Read(buf)
	_, cerr := server.Read(buf)
	var ne net.Error
	if werr != winio.ErrTimeout || !errors.Is(werr, os.ErrDeadlineExceeded) || !errors.As(werr, &ne) || !ne.Timeout() {
		t.Errorf("go-winio Read past its deadline = %v, want ErrTimeout, a timeout matching os.ErrDeadlineExceeded", werr)
	}
	var oe *net.OpError
	if !errors.As(cerr, &oe) || !errors.Is(cerr, os.ErrDeadlineExceeded) || !oe.Timeout() || errors.Is(cerr, context.DeadlineExceeded) {
		t.Errorf("conduit Read past its deadline = %v, want a *net.OpError timeout matching os.ErrDeadlineExceeded only", cerr)
	}
	// Both stay usable once the deadline is lifted.
	client.SetReadDeadline(time.Time{})
	server.SetReadDeadline(time.Time{})
	client.Write([]byte("a"))
	server.Write([]byte("b"))
	if n, err := server.Read(buf); err != nil || string(buf[:n]) != "a" {
		t.Fatalf("conduit Read after its deadline = %q, %v", buf[:n], err)
	}
	if n, err := client.Read(buf); err != nil || string(buf[:n]) != "b" {
		t.Fatalf("go-winio Read after its deadline = %q, %v", buf[:n], err)
	}

	// Close ends a pending Read: with os.ErrClosed for go-winio (its
	// win32File), net.ErrClosed for conduit.
	pending := func(c net.Conn) <-chan error {
		out := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 16))
			out <- err
		}()
		return out
	}
	s2, c2 := pair(t, namedpipe.ListenConfig{})
	wread, cread := pending(client), pending(s2)
	if err := client.Close(); err != nil {
		t.Errorf("go-winio Close = %v", err)
	}
	if err := s2.Close(); err != nil {
		t.Errorf("conduit Close = %v", err)
	}
	if err := <-wread; !errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed) {
		t.Errorf("go-winio Read ended by Close = %v, want os.ErrClosed (not net.ErrClosed)", err)
	}
	if err := <-cread; !errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		t.Errorf("conduit Read ended by Close = %v, want net.ErrClosed (not os.ErrClosed)", err)
	}
	// A second Close: nil from go-winio, net.ErrClosed from conduit.
	if err := client.Close(); err != nil {
		t.Errorf("go-winio's second Close = %v, want nil", err)
	}
	if err := s2.Close(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("conduit's second Close = %v, want net.ErrClosed", err)
	}
	// Each peer reads the other's Close as io.EOF.
	if n, err := server.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("conduit Read after go-winio's Close = %d, %v; want io.EOF", n, err)
	}
	if n, err := c2.Read(buf); n != 0 || err != io.EOF {
		t.Errorf("go-winio Read after conduit's Close = %d, %v; want io.EOF", n, err)
	}
}

// TestListenerCloseCompared: Close ends a pending Accept with net.ErrClosed
// (bare from go-winio, in a *net.OpError from conduit) and returns at once,
// with no Accept pending too (go-winio #281 in v0.6.2 and before); a second
// Close returns nil from go-winio and net.ErrClosed from conduit. No client
// connects, so go-winio's listener runs faithfully under Wine here.
func TestListenerCloseCompared(t *testing.T) {
	within := func(t *testing.T, what string, f func() error) error {
		t.Helper()
		out := make(chan error, 1)
		go func() { out <- f() }()
		select {
		case err := <-out:
			return err
		case <-time.After(10 * time.Second):
			t.Fatalf("%s has not returned after 10 s", what)
			return nil
		}
	}
	type listener interface {
		Accept() (net.Conn, error)
		Close() error
	}
	winioListen := func(t *testing.T) listener {
		l, err := winio.ListenPipe(pipePath(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	conduitListen := func(t *testing.T) listener {
		l, err := namedpipe.Listen(pipePath(t))
		if err != nil {
			t.Fatal(err)
		}
		return l
	}
	for _, lib := range []struct {
		name        string
		listen      func(t *testing.T) listener
		acceptErr   func(error) bool
		secondClose func(error) bool
	}{
		{"go-winio", winioListen,
			func(err error) bool { return err == net.ErrClosed },
			func(err error) bool { return err == nil }},
		{"conduit", conduitListen,
			func(err error) bool { var oe *net.OpError; return errors.As(err, &oe) && errors.Is(err, net.ErrClosed) },
			func(err error) bool { return errors.Is(err, net.ErrClosed) }},
	} {
		t.Run(lib.name, func(t *testing.T) {
			idle := lib.listen(t)
			if err := within(t, "Close with no Accept", idle.Close); err != nil {
				t.Errorf("Close with no Accept = %v", err)
			}
			if _, err := idle.Accept(); !lib.acceptErr(err) {
				t.Errorf("Accept after Close = %v (%T)", err, err)
			}

			l := lib.listen(t)
			accepted := make(chan error, 1)
			go func() {
				c, err := l.Accept()
				if err == nil {
					c.Close()
				}
				accepted <- err
			}()
			if err := within(t, "Close with an Accept", l.Close); err != nil {
				t.Errorf("Close with an Accept = %v", err)
			}
			if err := within(t, "Accept ended by Close", func() error { return <-accepted }); !lib.acceptErr(err) {
				t.Errorf("Accept ended by Close = %v (%T)", err, err)
			}
			if err := l.Close(); !lib.secondClose(err) {
				t.Errorf("second Close = %v", err)
			}
		})
	}
}
