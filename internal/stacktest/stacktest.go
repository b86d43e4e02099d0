// Package stacktest helps tests of memory that the kernel holds while an
// operation is in flight: it grows a goroutine's stack so that the next
// collection moves it, and waits until goroutines are parked in a given
// call. Only tests import it.
package stacktest

import (
	"runtime"
	"strings"
	"testing"
	"time"
)

// Grow uses about depth KiB of stack and returns, leaving the calling
// goroutine with a large stack that it no longer uses: the next collection
// shrinks it, copying every frame to a new place.
//
//go:noinline
func Grow(depth int) byte {
	var pad [1024]byte
	pad[depth%len(pad)] = byte(depth)
	if depth == 0 {
		return pad[0]
	}
	return Grow(depth-1) + pad[(depth+1)%len(pad)]
}

// WaitParked waits until n goroutines are in the function call (a frame
// such as "namedpipe.(*Conn).Read(", or "" for any) and, deeper, in one of
// frames (such as "iocp.(*Op).await("), and returns every goroutine's stack.
// Naming the call keeps other parked operations from counting. It fails the
// test after 20 s.
func WaitParked(t testing.TB, n int, call string, frames ...string) string {
	t.Helper()
	buf := make([]byte, 4<<20)
	deadline := time.Now().Add(20 * time.Second)
	for {
		k := runtime.Stack(buf, true)
		found := 0
		for _, g := range strings.Split(string(buf[:k]), "\n\n") {
			if !strings.Contains(g, call) {
				continue
			}
			for _, f := range frames {
				if strings.Contains(g, f) {
					found++
					break
				}
			}
		}
		if found >= n {
			return string(buf[:k])
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d goroutines in %s then %v:\n%s", n, call, frames, buf[:k])
		}
		runtime.Gosched()
	}
}
