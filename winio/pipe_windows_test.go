package winio

import (
	"fmt"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/hangcheck"
	"github.com/conduit-ipc/conduit/internal/nt"
)

// hangBound is how long an operation that must not hang may take before
// the test binary is ended as hung: far beyond any wait under load.
const hangBound = 60 * time.Second

var pipeSeq atomic.Int64

func testPipe(t testing.TB) string {
	return fmt.Sprintf(`\\.\pipe\conduit-winio-%d-%s-%d`, os.Getpid(),
		strings.ReplaceAll(t.Name(), "/", "-"), pipeSeq.Add(1))
}

func skipOnWine(t testing.TB, gap string) {
	t.Helper()
	if nt.Wine() {
		t.Skip("wine: " + gap)
	}
}

// listenPipe listens on a fresh pipe, closed when t ends.
func listenPipe(t testing.TB, c *PipeConfig) (net.Listener, string) {
	t.Helper()
	path := testPipe(t)
	l, err := ListenPipe(path, c)
	if err != nil {
		t.Fatalf("ListenPipe(%q): %v", path, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

// connPair returns both ends of a new connection on a fresh pipe.
func connPair(t testing.TB, c *PipeConfig) (client, server net.Conn) {
	t.Helper()
	l, path := listenPipe(t, c)
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	timeout := 20 * time.Second
	client, err := DialPipe(path, &timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() { r.c.Close() })
	return client, r.c
}

// go-winio #281: Close hung when no Accept was pending (it sent on a
// channel only Accept read; releases before v0.6.4). Here Close returns
// with no Accept ever called, and with clients waiting for the busy pipe
// (the listener takes clients only while an Accept waits), who then fail
// rather than connect.
func TestCloseWithoutAccept(t *testing.T) {
	l, path := listenPipe(t, nil)
	dialed := make(chan error, 3)
	for range 3 {
		go func() {
			timeout := 20 * time.Second
			c, err := DialPipe(path, &timeout)
			if err == nil {
				c.Close()
			}
			dialed <- err
		}()
	}
	hangcheck.Within(t, hangBound, "Close with no Accept", func() {
		if err := l.Close(); err != nil {
			t.Errorf("Close = %v, want nil", err)
		}
	})
	hangcheck.Within(t, hangBound, "the waiting Dials", func() {
		for i := range 3 {
			if err := <-dialed; err == nil {
				t.Errorf("client %d connected to a listener that never accepted", i)
			}
		}
	})
	if err := l.Close(); err != nil {
		t.Errorf("second Close = %v, want nil (go-winio's Close always returns nil)", err)
	}
}

// go-winio #85: a client that connects and leaves while the listener
// closes made go-winio's listener take the close signal, see the connect
// end in ERROR_NO_DATA, listen again and wait forever for a close that had
// been spent; Close then hung (before v0.6.4, which adopted #369). Here
// clients dial and close at once, over and over, while Close races them
// and an Accept loop; Close must return and Accept must report
// ErrPipeListenerClosed, every time.
func TestCloseRacesConnectingClients(t *testing.T) {
	rounds := 100
	if testing.Short() {
		rounds = 20
	}
	for i := range rounds {
		l, err := ListenPipe(testPipe(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		path := l.Addr().String()
		acceptErr := make(chan error, 1)
		go func() {
			for {
				c, err := l.Accept()
				if err != nil {
					acceptErr <- err
					return
				}
				c.Close()
			}
		}()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 3 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					d := 50 * time.Millisecond
					if c, err := DialPipe(path, &d); err == nil {
						c.Close() // leaves before, or while, the server listens
					}
				}
			}()
		}
		// Let some clients come and go before the close; the round's
		// number varies how many.
		for range i%5 + 1 {
			d := 50 * time.Millisecond
			if c, err := DialPipe(path, &d); err == nil {
				c.Close()
			}
		}
		hangcheck.Within(t, hangBound, fmt.Sprintf("round %d: Close racing connecting clients", i), func() {
			if err := l.Close(); err != nil {
				t.Errorf("round %d: Close = %v", i, err)
			}
		})
		hangcheck.Within(t, hangBound, fmt.Sprintf("round %d: Accept after Close", i), func() {
			if err := <-acceptErr; err != ErrPipeListenerClosed {
				t.Errorf("round %d: Accept after Close = %v, want ErrPipeListenerClosed itself", i, err)
			}
		})
		close(stop)
		wg.Wait()
		if t.Failed() {
			return
		}
	}
}

// go-winio #357: Close waited for the listener's goroutine, which waited
// for an overlapped ConnectNamedPipe whose completion did not come; v0.6.4's
// Close still waits for the cancelled connect to complete. Here Close
// returns while Accepts wait with no client in sight (even rounds) or while
// a client connects (odd rounds), and every Accept, pending or later,
// returns ErrPipeListenerClosed.
func TestCloseWithPendingAccepts(t *testing.T) {
	for i := range 20 {
		l, err := ListenPipe(testPipe(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		const n = 4
		errs := make(chan error, n)
		var started sync.WaitGroup
		for range n {
			started.Add(1)
			go func() {
				started.Done()
				for {
					c, err := l.Accept()
					if err != nil {
						errs <- err
						return
					}
					c.Close()
				}
			}()
		}
		started.Wait()
		dialed := make(chan struct{})
		if i%2 == 1 {
			go func() {
				defer close(dialed)
				d := time.Second
				if c, err := DialPipe(l.Addr().String(), &d); err == nil {
					c.Close()
				}
			}()
		} else {
			close(dialed)
		}
		hangcheck.Within(t, hangBound, fmt.Sprintf("round %d: Close with Accepts pending", i), func() {
			if err := l.Close(); err != nil {
				t.Errorf("round %d: Close = %v", i, err)
			}
			for range n {
				if err := <-errs; err != ErrPipeListenerClosed {
					t.Errorf("round %d: pending Accept after Close = %v, want ErrPipeListenerClosed", i, err)
				}
			}
			<-dialed
		})
		if _, err := l.Accept(); err != ErrPipeListenerClosed {
			t.Errorf("round %d: Accept after Close = %v, want ErrPipeListenerClosed", i, err)
		}
	}
}
