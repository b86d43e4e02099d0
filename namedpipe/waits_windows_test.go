package namedpipe

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/stacktest"
)

// threadCount counts this process's threads.
func threadCount(t *testing.T) int {
	t.Helper()
	n, err := nt.ThreadCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// conns returns n connected pairs on one listener, closed when the test ends.
func conns(t *testing.T, n int) (servers, clients []*Conn) {
	t.Helper()
	l, name := listen(t, &ListenConfig{Backlog: 8})
	accepted := acceptAll(l)
	for range n {
		c, err := Dial(t.Context(), name)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
		servers = append(servers, <-accepted)
	}
	t.Cleanup(func() {
		for i := range servers {
			servers[i].Close()
			clients[i].Close()
		}
	})
	return servers, clients
}

// 64 reads pending on 64 connections park their goroutines and hold no OS
// thread each; each still gets its data, although it was issued again
// through the port after the brief wait on its own thread.
func TestPendingReadsAddNoThreads(t *testing.T) {
	const n = 64
	servers, clients := conns(t, n)
	before := threadCount(t)
	var wg sync.WaitGroup
	for i, c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b := make([]byte, 1)
			if _, err := c.Read(b); err != nil || b[0] != byte(i) {
				t.Errorf("read %d: %v %v", i, b, err)
			}
		}()
	}
	// Parked on the completion port, which is where a read ends up once it
	// outlasts the wait on its own thread.
	stacktest.WaitParked(t, n, "namedpipe.(*Conn).Read(", "iocp.(*Op).await(")
	during := threadCount(t)
	for i, s := range servers {
		if _, err := s.Write([]byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	t.Logf("OS threads: %d before, %d with %d reads pending", before, during, n)
	if during-before >= 8 {
		t.Fatalf("%d pending reads added %d OS threads", n, during-before)
	}
}

// A deadline shorter than the wait on the reader's own thread, a Close
// during that wait, and a write deadline in the same window all end the
// operation with their own error.
func TestShortDeadlines(t *testing.T) {
	server, client := pair(t, nil)
	buf := make([]byte, 8)
	for range 20 {
		server.SetReadDeadline(time.Now().Add(200 * time.Microsecond))
		if _, err := server.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Read = %v, want ErrDeadlineExceeded", err)
		}
	}
	server.SetReadDeadline(time.Time{})
	go client.Write([]byte("after"))
	if n, err := server.Read(buf); err != nil || string(buf[:n]) != "after" {
		t.Fatalf("Read after short deadlines = %q, %v", buf[:n], err)
	}

	errc := make(chan error, 1)
	go func() {
		_, err := client.Read(buf)
		errc <- err
	}()
	client.Close()
	if err := <-errc; !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read during Close = %v, want net.ErrClosed", err)
	}
}

// Writes that a slow reader holds up past the wait on their own thread give
// that thread back (they wait in the system thread pool, 63 to a thread)
// and deliver all their data, in order, once the reader reads.
func TestStuckWritesAddNoThreads(t *testing.T) {
	const n = 16
	const size = 256 << 10 // four times the default quota
	servers, clients := conns(t, n)
	before := threadCount(t)
	errs := make(chan error, n)
	for i, c := range clients {
		go func() {
			data := bytes.Repeat([]byte{byte(i)}, size)
			_, err := c.Write(data)
			errs <- err
		}()
	}
	// Parked on the completion port: a held-up write holds no thread.
	stacktest.WaitParked(t, n, "namedpipe.(*Conn).Write(", "iocp.(*Op).await(")
	during := threadCount(t)
	for i, s := range servers {
		got, err := io.ReadAll(io.LimitReader(s, size))
		if err != nil || len(got) != size || bytes.Count(got, []byte{byte(i)}) != size {
			t.Fatalf("conn %d: read %d bytes, %v", i, len(got), err)
		}
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("OS threads: %d before, %d with %d writes held up", before, during, n)
	if during-before >= 8 {
		t.Fatalf("%d held-up writes added %d OS threads", n, during-before)
	}
}
