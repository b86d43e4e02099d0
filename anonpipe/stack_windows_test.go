package anonpipe

import (
	"fmt"
	"runtime"
	"testing"

	"github.com/conduit-ipc/conduit/internal/stacktest"
)

// Anonymous pipes' asynchronous ends are *os.File on Go's runtime poller,
// which pins a read's buffer until the read completes. This checks that
// path as the other packages' are checked: a read into a buffer on a
// goroutine's stack, parked while the collector moves that stack, gets its
// data.
func TestStackBufferRead(t *testing.T) {
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var want [64]byte
	for i := range want {
		want[i] = byte(i*7 + 3)
	}
	done := make(chan error, 1)
	go func() {
		stacktest.Grow(256)
		var buf [64]byte // on this goroutine's stack, unless the poller pins it
		n, err := r.Read(buf[:])
		if got := buf; err == nil && (n != len(want) || got != want) {
			err = fmt.Errorf("read %d bytes %x, want %x", n, got[:n], want)
		}
		done <- err
	}()
	stacktest.WaitParked(t, 1, "os.(*File).Read(", "internal/poll.runtime_pollWait(")
	runtime.GC()
	runtime.GC()
	if _, err := w.Write(want[:]); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
