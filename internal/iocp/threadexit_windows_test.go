package iocp

import (
	"bytes"
	"context"
	"fmt"
	"runtime"
	"sync"
	"testing"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/stacktest"
	"golang.org/x/sys/windows"
)

// mainThread is the thread package initialisation runs on: the runtime's
// first thread, which Go never ends (a goroutine that returns while locked
// to it wedges it instead).
var mainThread = windows.GetCurrentThreadId()

// fromEndingThread wraps submit so that the call is issued on an OS thread
// that ends as soon as the call returns: Go ends a thread when a goroutine
// returns while locked to it, and the requests still tied to a thread are
// cancelled when it ends. Each thread's handle goes to ended, which is
// signalled once the thread has gone.
func fromEndingThread(submit func(op *Op) error, ended chan<- windows.Handle) func(op *Op) error {
	return func(op *Op) error {
		type result struct {
			err error
			th  windows.Handle
		}
		for {
			r := make(chan result, 1)
			go func() {
				runtime.LockOSThread()
				if windows.GetCurrentThreadId() == mainThread {
					r <- result{}
					return // wedges the main thread, which is never used again
				}
				th, err := windows.OpenThread(windows.SYNCHRONIZE, false, windows.GetCurrentThreadId())
				if err != nil {
					panic(err)
				}
				r <- result{submit(op), th}
				// Returns locked: the thread ends.
			}()
			res := <-r
			if res.th == 0 {
				continue // on the main thread: try another
			}
			ended <- res.th
			return res.err
		}
	}
}

// waitEnded waits until the first thread sent to ended has ended.
func waitEnded(t *testing.T, ended <-chan windows.Handle) {
	t.Helper()
	th := <-ended
	defer windows.CloseHandle(th)
	if ev, err := windows.WaitForSingleObject(th, 20_000); ev != windows.WAIT_OBJECT_0 {
		t.Fatalf("the issuing thread did not end: %d, %v", ev, err)
	}
}

// Every kind of operation survives the end of the thread that issued it:
// the fast path's writes and reads, the port's, and control codes. The
// thread ends while the operation is pending; then the operation is made
// to complete, and must complete with all its data. A fast-path write
// issued with a low-bit event (no packet) was cancelled by the thread's end
// after part of its data had gone (fails without the fix: "wrote 4096 of
// 1048576 bytes: The I/O operation has been aborted").
func TestOperationOutlivesItsThread(t *testing.T) {
	for _, fast := range []bool{true, false} {
		t.Run(fmt.Sprint("write/fast=", fast), func(t *testing.T) {
			if !fast {
				noFastPath(t)
			}
			for round := range 5 {
				s, c := sizedPair(t, false, 4096)
				data := bytes.Repeat([]byte(fmt.Sprintf("round %d ", round)), 128<<10)[:1<<20]
				ended := make(chan windows.Handle, 1)
				done := make(chan error, 1)
				go func() {
					n, err := c.do(context.Background(), Write, data, nil, fromEndingThread(func(op *Op) error {
						var k uint32
						return windows.WriteFile(c.Handle(), data, &k, &op.o)
					}, ended))
					if err == nil && n != len(data) {
						err = fmt.Errorf("wrote %d of %d bytes", n, len(data))
					} else if err != nil {
						err = fmt.Errorf("wrote %d of %d bytes: %w", n, len(data), err)
					}
					done <- err
				}()
				waitEnded(t, ended)
				checkDelivered(t, round, s, data, done)
			}
			waitOpsFree(t)
		})
		t.Run(fmt.Sprint("read/fast=", fast), func(t *testing.T) {
			if !fast {
				noFastPath(t)
			}
			s, c := pair(t)
			ended := make(chan windows.Handle, 2)
			done := make(chan string, 1)
			go func() {
				b := make([]byte, 16)
				n, err := s.do(context.Background(), Read, b, nil, fromEndingThread(func(op *Op) error {
					var k uint32
					return windows.ReadFile(s.Handle(), b, &k, &op.o)
				}, ended))
				if err != nil {
					done <- err.Error()
					return
				}
				done <- string(b[:n])
			}()
			waitEnded(t, ended)
			// A read cancelled by its thread's end is issued again,
			// from another thread that ends: wait until it is pending
			// and, if it was issued again, until that thread has ended
			// too (its handle was sent before the call parked), so that
			// here too the read completes after its thread's end.
			//
			// Completing it while that thread is still ending loses it
			// under Wine 8: the server queues the completion's APC to
			// the ending thread, which exits without running it, and
			// destroying the APC reports the read done (a packet, with
			// 0 bytes) without the IO_STATUS_BLOCK or the buffer ever
			// written (server/thread.c thread_apc_destroy). Seen as
			// "Overlapped I/O pending." here: 12 of 51 such reads, 0 of
			// 1,449 made after the thread had ended, 0 of 3,000 with
			// this wait. Windows completes port-bound I/O without the
			// issuing thread.
			stacktest.WaitParked(t, 1, "iocp.(*File).do(", "iocp.(*Op).await(")
			select {
			case th := <-ended:
				ended <- th
				waitEnded(t, ended)
			default:
			}
			if _, err := write(c, []byte("after")); err != nil {
				t.Fatal(err)
			}
			if got := <-done; got != "after" {
				t.Fatalf("read %q, want after", got)
			}
		})
	}
	t.Run("control", func(t *testing.T) {
		// FSCTL_PIPE_LISTEN on a server instance, issued from a thread
		// that ends before a client comes.
		name := fmt.Sprintf(`\\.\pipe\conduit-iocp-listen-%d`, pipeSeq.Add(1))
		name16, _ := windows.UTF16PtrFromString(name)
		sh, err := windows.CreateNamedPipe(name16, windows.PIPE_ACCESS_DUPLEX|windows.FILE_FLAG_OVERLAPPED,
			windows.PIPE_TYPE_BYTE|windows.PIPE_WAIT, 1, 4096, 4096, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		s, err := NewFile(sh, Options{})
		if err != nil {
			windows.CloseHandle(sh)
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		ended := make(chan windows.Handle, 1)
		done := make(chan error, 1)
		go func() {
			_, err := s.do(context.Background(), Control, nil, nil, fromEndingThread(func(op *Op) error {
				return nt.NtFsControlFile(s.Handle(), 0, 0, op.apcContext(), op.iosb(), nt.FSCTL_PIPE_LISTEN, nil, 0, nil, 0)
			}, ended))
			done <- err
		}()
		waitEnded(t, ended)
		ch, err := windows.CreateFile(name16, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OVERLAPPED, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer windows.CloseHandle(ch)
		if err := <-done; err != nil {
			t.Fatalf("listen = %v, want a connected client", err)
		}
	})
}

// checkDelivered reads from s, on a goroutine of its own, what the write
// whose result comes on done wrote, and fails the test unless the write
// succeeded and s read exactly data. A write that failed part-way is
// reported at once, not left to a reader waiting for bytes that never come.
func checkDelivered(t *testing.T, round int, s *File, data []byte, done <-chan error) {
	t.Helper()
	type result struct {
		got []byte
		err error
	}
	r := make(chan result, 1)
	go func() {
		got := make([]byte, 0, len(data))
		b := make([]byte, 64<<10)
		for len(got) < len(data) {
			k, err := read(s, b[:min(len(b), len(data)-len(got))])
			if err != nil {
				r <- result{got, err}
				return
			}
			got = append(got, b[:k]...)
		}
		r <- result{got, nil}
	}()
	if err := <-done; err != nil {
		t.Fatalf("round %d: %v", round, err)
	}
	res := <-r
	if res.err != nil || !bytes.Equal(res.got, data) {
		t.Fatalf("round %d: read %d of %d bytes (%v), not as written", round, len(res.got), len(data), res.err)
	}
}

// The scenario, through File.Write as callers use it: a 1 MiB write
// to a reader that does not read yet (4 KiB buffers), then goroutines that
// each lock their thread and return, ending threads, one of which may be the
// write's; then the reader reads. Every round must deliver every byte
// (failed in the fourth of ten rounds under Wine before the fix: "I/O
// operation aborted", 0 of 1,048,576 bytes read).
func TestWriteSurvivesLockedGoroutinesExiting(t *testing.T) {
	const rounds, exiting = 10, 64
	for round := range rounds {
		s, c := sizedPair(t, false, 4096)
		data := bytes.Repeat([]byte{byte(round), 0xa5, byte(round + 1), 0x5a}, 256<<10)
		done := make(chan error, 1)
		go func() {
			n, err := write(c, data)
			if err != nil || n != len(data) {
				err = fmt.Errorf("wrote %d of %d bytes: %v", n, len(data), err)
			}
			done <- err
		}()
		stacktest.WaitParked(t, 1, "iocp.(*File).Write(", "iocp.(*Op).await(", "iocp.waitPool(")
		var wg sync.WaitGroup
		for range exiting {
			wg.Add(1)
			go func() {
				defer wg.Done()
				runtime.LockOSThread() // and return locked: the thread ends
			}()
		}
		wg.Wait()
		checkDelivered(t, round, s, data, done)
		s.Close()
		c.Close()
	}
	waitOpsFree(t)
}
