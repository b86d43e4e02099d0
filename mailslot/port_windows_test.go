package mailslot

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/stacktest"
	"golang.org/x/sys/windows"
)

// The gap that keeps the tests of the overlapped path off Wine.
const wineSynchronous = "mailslot handles are synchronous: a read never parks on the completion port"

// readAsync starts s.Read into a buffer of size bytes on a goroutine and
// returns the channel of its result.
func readAsync(s *Slot, size int) <-chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := s.Read(make([]byte, size))
		errc <- err
	}()
	return errc
}

// within waits at most d for errc's error.
func within(t *testing.T, errc <-chan error, d time.Duration, what string) error {
	t.Helper()
	select {
	case err := <-errc:
		return err
	case <-time.After(d):
		t.Fatalf("%s: the read still waits after %v", what, d)
		return nil
	}
}

// On Windows a slot's handle is overlapped and on the completion port: a
// waiting read parks there, SetReadDeadline and Close end it, and the slot
// reads on after a deadline.
func TestOverlappedOnPort(t *testing.T) {
	skipOnWine(t, wineSynchronous)
	s, name := create(t, nil)
	if isSync, err := nt.Synchronous(s.f.Handle()); err != nil || isSync || s.sync != nil {
		t.Fatalf("Synchronous = %v, %v (quirk reader %v); want an overlapped handle", isSync, err, s.sync != nil)
	}

	errc := readAsync(s, 64)
	stacktest.WaitParked(t, 1, "mailslot.(*Slot).", parkedFrame)
	if err := s.SetReadDeadline(time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := within(t, errc, 10*time.Second, "SetReadDeadline"); !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrTimeout) {
		t.Fatalf("parked read after SetReadDeadline = %v, want os.ErrDeadlineExceeded alone", err)
	}

	// A second read works once the deadline is cleared.
	s.SetReadDeadline(time.Time{})
	msgc := make(chan string, 1)
	go func() {
		msg, err := s.ReadMessage()
		msgc <- fmt.Sprint(string(msg), err)
	}()
	stacktest.WaitParked(t, 1, "mailslot.(*Slot).", parkedFrame)
	open(t, name).Write([]byte("after the deadline"))
	select {
	case got := <-msgc:
		if got != "after the deadline<nil>" {
			t.Fatalf("read after the deadline = %s", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the read after the deadline got no message")
	}

	errc = readAsync(s, 64)
	stacktest.WaitParked(t, 1, "mailslot.(*Slot).", parkedFrame)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := within(t, errc, 10*time.Second, "Close"); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("parked read after Close = %v, want os.ErrClosed", err)
	}
}

// The kernel writes a pending read's message after the call that issued the
// read has returned, so a buffer on the reader's stack must not move
// meanwhile; the collector moves a stack when it shrinks it. The read is
// parked on the port while the collector runs.
func TestStackBufferRead(t *testing.T) {
	skipOnWine(t, wineSynchronous)
	s, name := create(t, nil)
	var want [64]byte
	for i := range want {
		want[i] = byte(i*7 + 3)
	}
	done := make(chan error, 1)
	go func() {
		stacktest.Grow(256)
		var buf [64]byte // on this goroutine's stack
		n, err := s.Read(buf[:])
		if err != nil {
			done <- err
			return
		}
		if got := buf; n != len(want) || got != want {
			// got is a copy: buf itself must not escape.
			done <- fmt.Errorf("read %d bytes %x, want %x", n, got[:n], want)
			return
		}
		done <- nil
	}()
	stacktest.WaitParked(t, 1, "mailslot.(*Slot).", parkedFrame)
	runtime.GC()
	runtime.GC()
	if _, err := open(t, name).Write(want[:]); err != nil {
		t.Fatal(err)
	}
	if err := within(t, done, 10*time.Second, "stack buffer"); err != nil {
		t.Fatal(err)
	}
}

// ErrTimeout is a timeout by every test callers use: errors.Is with itself
// and with os.ErrDeadlineExceeded, and a Timeout method; a deadline is not
// ErrTimeout.
func TestErrTimeoutMatches(t *testing.T) {
	if !errors.Is(ErrTimeout, os.ErrDeadlineExceeded) {
		t.Error("ErrTimeout does not match os.ErrDeadlineExceeded")
	}
	if te, ok := ErrTimeout.(interface{ Timeout() bool }); !ok || !te.Timeout() {
		t.Error("ErrTimeout has no Timeout method that reports true")
	}

	s, _ := create(t, &Config{ReadTimeout: NoWait})
	_, err := s.ReadMessage()
	if !errors.Is(err, ErrTimeout) || !errors.Is(err, os.ErrDeadlineExceeded) || !os.IsTimeout(err) {
		t.Fatalf("read that the slot's timeout ended = %v: ErrTimeout %v, os.ErrDeadlineExceeded %v, os.IsTimeout %v",
			err, errors.Is(err, ErrTimeout), errors.Is(err, os.ErrDeadlineExceeded), os.IsTimeout(err))
	}

	s.SetReadTimeout(0)
	s.SetReadDeadline(time.Now())
	_, err = s.ReadMessage()
	if !errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, ErrTimeout) || !os.IsTimeout(err) {
		t.Fatalf("read past the deadline = %v: want os.ErrDeadlineExceeded and a timeout, not ErrTimeout", err)
	}
}

// A read timeout shorter than NtCreateMailslotFile's 100 ns unit is a
// millisecond, not forever: the kernel keeps whole milliseconds, as
// CreateMailslot passes them, and -1 means forever.
func TestTinyReadTimeout(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want int64
	}{
		{NoWait, 0},
		{0, -1},
		{1, -10000},
		{50 * time.Nanosecond, -10000},
		{time.Millisecond, -10000},
		{time.Millisecond + 1, -20000},
		{50 * time.Millisecond, -500000},
		{1 << 62, (nt.MAILSLOT_WAIT_FOREVER - 1) * -10000},
	} {
		if got := createTimeout(c.d); got != c.want {
			t.Errorf("createTimeout(%v) = %d, want %d", c.d, got, c.want)
		}
	}

	// What the kernel keeps, in GetMailslotInfo's milliseconds.
	for _, c := range []struct {
		d    time.Duration
		want uint32
	}{
		{50 * time.Nanosecond, 1},
		{50 * time.Millisecond, 50},
		{NoWait, 0},
		{0, nt.MAILSLOT_WAIT_FOREVER},
	} {
		if c.d == 0 && onWine() {
			continue // NtCreateMailslotFile reads -1, Windows' forever, as no wait
		}
		s, _ := create(t, &Config{ReadTimeout: c.d})
		var ms uint32
		if err := s.control(func(h windows.Handle) error { return nt.GetMailslotInfo(h, nil, nil, nil, &ms) }); err != nil {
			t.Fatal(err)
		}
		if ms != c.want {
			t.Errorf("ReadTimeout %v: the slot's kernel timeout is %d ms, want %d", c.d, ms, c.want)
		}
	}

	s, _ := create(t, &Config{ReadTimeout: 50 * time.Nanosecond})
	errc := make(chan error, 1)
	go func() {
		_, err := s.ReadMessage()
		errc <- err
	}()
	// Close, at cleanup, ends a read that waits forever.
	if err := within(t, errc, 10*time.Second, "ReadTimeout 50ns"); !errors.Is(err, ErrTimeout) {
		t.Fatalf("read with a 50 ns timeout = %v, want ErrTimeout", err)
	}
}
