package namedpipe

import (
	"errors"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

// threadCount counts this process's threads.
func threadCount(t *testing.T) int {
	t.Helper()
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer windows.CloseHandle(snap)
	pid := windows.GetCurrentProcessId()
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	n := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID == pid {
			n++
		}
	}
	return n
}

// waitParked waits until n goroutines wait for a completion packet on the
// process's completion port (parked in iocp's await), which is where a read
// ends up once it outlasts the wait on its own thread.
func waitParked(t *testing.T, n int) {
	t.Helper()
	buf := make([]byte, 4<<20)
	deadline := time.Now().Add(20 * time.Second)
	for {
		k := runtime.Stack(buf, true)
		if strings.Count(string(buf[:k]), "iocp.(*Op).await(") >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d goroutines parked on the port:\n%s", n, buf[:k])
		}
		runtime.Gosched()
	}
}

// 64 reads pending on 64 connections park their goroutines and hold no OS
// thread each; each still gets its data, although it was issued again
// through the port after the brief wait on its own thread.
func TestPendingReadsAddNoThreads(t *testing.T) {
	const n = 64
	l, name := listen(t, &ListenConfig{Backlog: 8})
	accepted := acceptAll(l)
	var servers, clients []*Conn
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
	waitParked(t, n)
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
