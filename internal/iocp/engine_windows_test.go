package iocp

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/stacktest"
	"golang.org/x/sys/windows"
)

func onWine() bool { return nt.Wine() }

// A read into a buffer on the caller's stack, parked on the port while the
// collector moves that stack, gets its data in the buffer the caller sees.
// It fails when nothing pins the buffer (which then stays on the stack);
// pinning also moves it to the heap.
func TestStackBufferRead(t *testing.T) {
	s, c := pair(t)
	want := [64]byte{}
	for i := range want {
		want[i] = byte(i*7 + 3)
	}
	done := make(chan error, 1)
	go func() {
		stacktest.Grow(256)
		var buf [64]byte // on this goroutine's stack
		n, err := read(s, buf[:])
		if got := buf; err == nil && (n != len(want) || got != want) {
			err = fmt.Errorf("read %d bytes %x, want %x", n, got[:n], want)
		}
		done <- err
	}()
	stacktest.WaitParked(t, 1, "iocp.(*File).Read(", "iocp.(*Op).await(")
	runtime.GC()
	runtime.GC()
	if _, err := write(c, want[:]); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitOpsFree waits until every Op is back on the free list: no operation
// is in flight and every marker has been dequeued.
func waitOpsFree(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; runtime.Gosched() {
		ops.mu.Lock()
		free, all := len(ops.free), len(ops.all)
		ops.mu.Unlock()
		if free == all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d Ops never came back to the free list", all-free, all)
		}
	}
}

// setHook sets the test hook *p to fn for one test. Call it before making
// the files the test uses: cleanups run last in, first out, so the files are
// closed, and every operation that could read the hook is over, before the
// hook is cleared.
func setHook[T any](t *testing.T, p *T, fn T) {
	*p = fn
	t.Cleanup(func() {
		var zero T
		*p = zero
	})
}

// noFastPath turns the fast path off for one test: every pending operation
// waits on the port, and every call carries no event.
func noFastPath(t *testing.T) {
	fast.disabled.Store(true)
	t.Cleanup(func() { fast.disabled.Store(false) })
}

// A message-mode read with a buffer shorter than a waiting message returns
// ERROR_MORE_DATA at once. Without an event in its OVERLAPPED, Windows does
// not document whether a completion packet follows; Wine queues none. The
// Op must come back for reuse either way, and no packet may reach the Op's
// next user. Run both ways: as the system does it, and with a packet queued
// by the call as the other reading of Windows would have it.
func TestImmediateWarning(t *testing.T) {
	for _, packet := range []bool{false, true} {
		t.Run(fmt.Sprint("packet=", packet), func(t *testing.T) {
			noFastPath(t)
			var posted atomic.Int32
			if packet {
				setHook(t, &testHookSubmitted, func(op *Op, err error) {
					if err == windows.ERROR_MORE_DATA {
						posted.Add(1)
						windows.PostQueuedCompletionStatus(port, uint32(op.o.InternalHigh), ioKey, &op.o)
					}
				})
			}
			s, c := pipePair(t, true)
			const n = 200
			go func() {
				for i := range n {
					if _, err := write(c, []byte(fmt.Sprintf("message %03d", i))); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			warnings := 0
			for i := range n {
				var got []byte
				buf := make([]byte, 4)
				for {
					k, err := read(s, buf)
					got = append(got, buf[:k]...)
					if err == windows.ERROR_MORE_DATA {
						warnings++
						continue
					}
					if err != nil {
						t.Fatalf("message %d: %v", i, err)
					}
					break
				}
				if want := fmt.Sprintf("message %03d", i); string(got) != want {
					t.Fatalf("read %q, want %q", got, want)
				}
			}
			if warnings < 2*n {
				t.Fatalf("%d reads ended ERROR_MORE_DATA, want at least %d", warnings, 2*n)
			}
			if packet && posted.Load() == 0 {
				if onWine() {
					t.Fatal("no warning came back at once under Wine, which returns one for a message waiting in full")
				}
				// Windows 8 and later return such a read pending, with a
				// packet, even when the message is there (Wine's own pipe
				// tests, test_completion, check for both).
				t.Skip("no read returned ERROR_MORE_DATA at once here: the marker is not reached")
			}
			waitOpsFree(t)
		})
	}
}

// More message-mode connections than fast-path slots, each echoing messages
// read in pieces: the reads that find no slot take the port's path, warnings
// included, and every message arrives whole and in order.
func TestMessagesBeyondSlots(t *testing.T) {
	const conns, msgs = 3 * fastSlots, 50
	errs := make(chan error, conns)
	for i := range conns {
		s, c := pipePair(t, true)
		go func() {
			for j := range msgs {
				if _, err := write(c, bytes.Repeat([]byte{byte(i), byte(j)}, 100+j)); err != nil {
					errs <- err
					return
				}
			}
		}()
		go func() {
			buf := make([]byte, 64) // shorter than every message
			for j := range msgs {
				var got []byte
				for {
					k, err := read(s, buf)
					got = append(got, buf[:k]...)
					if err == windows.ERROR_MORE_DATA {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					break
				}
				if !bytes.Equal(got, bytes.Repeat([]byte{byte(i), byte(j)}, 100+j)) {
					errs <- fmt.Errorf("conn %d message %d: %d bytes, not as sent", i, j, len(got))
					return
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	waitOpsFree(t)
}

// A read that completes while it is being cancelled, after outlasting the
// fast path, keeps its bytes: only a read that ends STATUS_CANCELLED is
// issued again.
func TestReadCompletesWhileCancelled(t *testing.T) {
	var s, c *File
	var hooked atomic.Bool
	setHook(t, &testHookBeforeReissue, func(op *Op) {
		if hooked.Swap(true) {
			return
		}
		// The data arrives, and the read completes, before the cancel.
		if _, err := write(c, []byte("kept")); err != nil {
			t.Error(err)
		}
		for op.status() == windows.STATUS_PENDING {
			runtime.Gosched()
		}
	})
	s, c = pair(t)
	buf := make([]byte, 16)
	n, err := read(s, buf)
	if !hooked.Load() {
		t.Fatal("the read never outlasted the fast path, so nothing was tested")
	}
	if err != nil || string(buf[:n]) != "kept" {
		t.Fatalf("read %q, %v; want the bytes that came while it was cancelled", buf[:n], err)
	}
}

// A deadline moved later while its timer is firing takes effect either
// before the timer cancels anything (then nothing is cancelled) or after;
// the timer never cancels an operation once the move has returned.
func TestDeadlineMovedWhileFiring(t *testing.T) {
	var s *File
	var moved, cancelledAfterMove atomic.Bool
	setHook(t, &testHookFire, func() {
		go func() {
			s.SetReadDeadline(time.Now().Add(time.Hour))
			moved.Store(true)
		}()
		// Give the move every chance to happen now.
		for i := 0; i < 1000 && !moved.Load(); i++ {
			runtime.Gosched()
		}
		cancelledAfterMove.Store(moved.Load())
	})
	s, _ = pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := read(s, make([]byte, 1))
		done <- err
	}()
	stacktest.WaitParked(t, 1, "iocp.(*File).Read(", "iocp.(*Op).await(")
	s.SetReadDeadline(time.Now().Add(time.Millisecond))
	err := <-done
	if cancelledAfterMove.Load() {
		t.Fatalf("the deadline's timer cancelled a read after the deadline was moved an hour later (read: %v)", err)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read = %v, want os.ErrDeadlineExceeded: the timer fired before the move", err)
	}
	// The move has taken effect now: a new read waits.
	for !moved.Load() {
		runtime.Gosched()
	}
	if s.rd.passed() {
		t.Fatal("the deadline an hour away reads as passed")
	}
}

// The fast path's waits end at a high-resolution waitable timer on Windows
// and at a plain time-out under Wine (quirks.PreciseTimeouts). Run the
// operations that outlast a wait, and ones that complete within it, with
// the timer wherever the tests run.
func TestFastPathTimer(t *testing.T) {
	if err := start(); err != nil {
		t.Fatal(err)
	}
	was := fast.plainTimeout.Swap(false)
	t.Cleanup(func() { fast.plainTimeout.Store(was) })
	t.Run("read outlasts", TestReadOutlastsFastPath)
	t.Run("write outlasts", TestWriteOutlastsFastPath)
	t.Run("completes while cancelled", TestReadCompletesWhileCancelled)
	t.Run("ping-pong", func(t *testing.T) {
		// Quick completions: each wait ends at the event, well before the
		// timer, which stays armed; the next wait arms it again and must
		// not end at once on the earlier arming.
		var pending, reissued atomic.Int32
		setHook(t, &testHookSubmitted, func(op *Op, err error) {
			if err == windows.ERROR_IO_PENDING && op.mode == Read {
				pending.Add(1)
			}
		})
		setHook(t, &testHookBeforeReissue, func(*Op) { reissued.Add(1) })
		s, c := pair(t)
		go func() {
			b := make([]byte, 1)
			for {
				if _, err := read(c, b); err != nil {
					return
				}
				if _, err := write(c, b); err != nil {
					return
				}
			}
		}()
		b := make([]byte, 1)
		for i := range 200 {
			b[0] = byte(i)
			if _, err := write(s, b); err != nil {
				t.Fatal(err)
			}
			if n, err := read(s, b); err != nil || n != 1 || b[0] != byte(i) {
				t.Fatalf("round %d: read %d bytes (%d), %v", i, n, b[0], err)
			}
		}
		t.Logf("%d reads went pending, %d outlasted the wait", pending.Load(), reissued.Load())
	})
	t.Run("arming resets", func(t *testing.T) {
		// The fact the timer's reuse rests on: an expired timer, still
		// signalled (it is manual-reset), is not signalled once armed
		// again, so the next wait does not end at once.
		s := takeSlot()
		if s == nil {
			t.Fatal("no free slot")
		}
		defer s.put()
		if err := s.arm(100 * time.Nanosecond); err != nil {
			t.Fatal(err)
		}
		if ev, err := windows.WaitForSingleObject(s.waits[1], 10_000); ev != windows.WAIT_OBJECT_0 {
			t.Fatalf("the timer did not expire: %d, %v", ev, err)
		}
		// Manual-reset: a wait does not consume the expiry. (Wine leaves an
		// auto-reset timer that expired unwaited for signalled when it is
		// armed again.)
		if ev, err := windows.WaitForSingleObject(s.waits[1], 0); ev != windows.WAIT_OBJECT_0 {
			t.Fatalf("the expired timer reads %d, %v after a wait; want still signalled (manual-reset)", ev, err)
		}
		if err := s.arm(time.Hour); err != nil {
			t.Fatal(err)
		}
		if ev, err := windows.WaitForSingleObject(s.waits[1], 0); ev != uint32(windows.WAIT_TIMEOUT) {
			t.Fatalf("the timer armed again reads %d, %v; want not signalled (WAIT_TIMEOUT)", ev, err)
		}
	})
}

// packetMayFollow errs towards a marker: only an untouched status (the
// I/O manager completed nothing) and plain success skip it.
func TestPacketMayFollow(t *testing.T) {
	for _, c := range []struct {
		status windows.NTStatus
		err    error
		want   bool
	}{
		{windows.STATUS_PENDING, windows.ERROR_BROKEN_PIPE, false},    // failed at once: IOSB untouched
		{windows.STATUS_PENDING, windows.ERROR_INVALID_HANDLE, false}, // refused before any request
		{windows.STATUS_SUCCESS, nil, false},
		{windows.STATUS_BUFFER_OVERFLOW, windows.ERROR_MORE_DATA, true}, // a warning
		{0x40000000, nil, true},                                         // informational (STATUS_OBJECT_NAME_EXISTS), returned as success
		{windows.STATUS_PIPE_BROKEN, windows.ERROR_BROKEN_PIPE, true},   // an error the I/O manager wrote after all
		{windows.STATUS_SUCCESS, windows.ERROR_MORE_DATA, true},         // status and result disagree: err towards the marker
	} {
		if got := packetMayFollow(c.status, c.err); got != c.want {
			t.Errorf("packetMayFollow(%#x, %v) = %v, want %v", uint32(c.status), c.err, got, c.want)
		}
	}
}
