package iocp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/stacktest"
	"golang.org/x/sys/windows"
)

var pipeSeq atomic.Int64

// pair returns both ends of a new byte pipe, each an overlapped File on the
// port, closed when the test ends.
func pair(t *testing.T) (server, client *File) { return pipePair(t, false) }

// pipePair returns both ends of a new byte or message pipe.
func pipePair(t *testing.T, message bool) (server, client *File) {
	t.Helper()
	return sizedPair(t, message, 64<<10)
}

// sizedPair returns both ends of a new pipe whose buffers hold size bytes
// each way.
func sizedPair(t *testing.T, message bool, size uint32) (server, client *File) {
	t.Helper()
	name, _ := windows.UTF16PtrFromString(fmt.Sprintf(`\\.\pipe\conduit-iocp-%d-%d`, os.Getpid(), pipeSeq.Add(1)))
	mode := uint32(windows.PIPE_TYPE_BYTE | windows.PIPE_READMODE_BYTE)
	if message {
		mode = windows.PIPE_TYPE_MESSAGE | windows.PIPE_READMODE_MESSAGE
	}
	sh, err := windows.CreateNamedPipe(name, windows.PIPE_ACCESS_DUPLEX|windows.FILE_FLAG_OVERLAPPED,
		mode|windows.PIPE_WAIT, 1, size, size, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	ch, err := windows.CreateFile(name, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OVERLAPPED, 0)
	if err != nil {
		windows.CloseHandle(sh)
		t.Fatal(err)
	}
	if message {
		m := uint32(windows.PIPE_READMODE_MESSAGE)
		if err := windows.SetNamedPipeHandleState(ch, &m, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	if server, err = NewFile(sh, Options{}); err != nil {
		windows.CloseHandle(sh)
		windows.CloseHandle(ch)
		t.Fatal(err)
	}
	if client, err = NewFile(ch, Options{}); err != nil {
		windows.CloseHandle(ch)
		server.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		server.Close()
		client.Close()
	})
	return server, client
}

func read(f *File, b []byte) (int, error)  { return f.Read(context.Background(), b) }
func write(f *File, b []byte) (int, error) { return f.Write(context.Background(), b) }

// A read that outlasts the fast path is issued again through the port and
// still gets its data; one that completes at once gets it too.
func TestReadOutlastsFastPath(t *testing.T) {
	s, c := pair(t)
	got := make(chan string, 1)
	go func() {
		b := make([]byte, 16)
		n, err := read(s, b)
		if err != nil {
			got <- err.Error()
			return
		}
		got <- string(b[:n])
	}()
	stacktest.WaitParked(t, 1, "iocp.(*File).Read(", "iocp.(*Op).await(")
	if _, err := write(c, []byte("late")); err != nil {
		t.Fatal(err)
	}
	if g := <-got; g != "late" {
		t.Fatalf("read %q, want late", g)
	}
	if _, err := write(c, []byte("early")); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 16)
	if n, err := read(s, b); err != nil || string(b[:n]) != "early" {
		t.Fatalf("read %q, %v", b[:n], err)
	}
}

// A write that a reader holds up past the fast path parks on its packet and
// completes, whole, once the reader reads.
func TestWriteOutlastsFastPath(t *testing.T) {
	s, c := pair(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB, four quotas
	done := make(chan error, 1)
	go func() {
		n, err := write(c, data)
		if err == nil && n != len(data) {
			err = fmt.Errorf("wrote %d of %d bytes", n, len(data))
		}
		done <- err
	}()
	stacktest.WaitParked(t, 1, "iocp.(*File).Write(", "iocp.(*Op).await(")
	got := make([]byte, 0, len(data))
	b := make([]byte, 64<<10)
	for len(got) < len(data) {
		n, err := read(s, b)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, b[:n]...)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("data differs")
	}
}

// Cancellers that come while the call is being issued, before it has
// returned pending, cannot reach it with CancelIoEx; the operation cancels
// itself once it is pending, with the canceller's reason.
func TestCancelWhileSubmitting(t *testing.T) {
	t.Run("deadline", func(t *testing.T) {
		s, _ := pair(t)
		_, err := s.do(context.Background(), Read, nil, nil, func(op *Op) error {
			s.SetReadDeadline(time.Now().Add(-time.Second)) // expires now, in this call
			var n uint32
			return windows.ReadFile(s.Handle(), make([]byte, 1), &n, &op.o)
		})
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("Do = %v, want os.ErrDeadlineExceeded", err)
		}
	})
	t.Run("context", func(t *testing.T) {
		s, _ := pair(t)
		ctx, cancel := context.WithCancel(context.Background())
		_, err := s.do(ctx, Control, nil, nil, func(op *Op) error {
			cancel()
			// The context's callback runs on its own goroutine: wait
			// until it has marked the operation.
			for {
				s.mu.Lock()
				why := op.why
				s.mu.Unlock()
				if why != nil {
					break
				}
				runtime.Gosched()
			}
			var n uint32
			return windows.ReadFile(s.Handle(), make([]byte, 1), &n, &op.o)
		})
		if !IsContextCancel(err) {
			t.Fatalf("Do = %v, want the context's cancel", err)
		}
	})
	t.Run("close", func(t *testing.T) {
		s, _ := pair(t)
		closed := make(chan error, 1)
		_, err := s.do(context.Background(), Read, nil, nil, func(op *Op) error {
			go func() { closed <- s.Close() }() // waits for this operation
			for !s.Closed() {
				runtime.Gosched()
			}
			var n uint32
			return windows.ReadFile(s.Handle(), make([]byte, 1), &n, &op.o)
		})
		if err != ErrClosed {
			t.Fatalf("Do = %v, want ErrClosed", err)
		}
		if err := <-closed; err != nil {
			t.Fatalf("Close = %v", err)
		}
	})
}

// More operations in flight than there are fast-path slots all complete,
// each with its own data.
func TestMoreOperationsThanSlots(t *testing.T) {
	const n = 4 * fastSlots
	type res struct {
		i   int
		got string
		err error
	}
	results := make(chan res, n)
	var clients []*File
	for i := range n {
		s, c := pair(t)
		clients = append(clients, c)
		go func() {
			b := make([]byte, 16)
			k, err := read(s, b)
			results <- res{i, string(b[:k]), err}
		}()
	}
	for i, c := range clients {
		if _, err := write(c, []byte(fmt.Sprint("msg", i))); err != nil {
			t.Fatal(err)
		}
	}
	for range n {
		r := <-results
		if r.err != nil || r.got != fmt.Sprint("msg", r.i) {
			t.Errorf("read %d: %q, %v", r.i, r.got, r.err)
		}
	}
}
