// Package hangcheck bounds operations in tests that must not hang: past its
// bound, a hang ends the test binary with every goroutine's stack rather
// than leaving it to go test's timeout. Only tests import it.
package hangcheck

import (
	"fmt"
	"os"
	"runtime"
	"testing"
	"time"
)

// Within runs fn on a goroutine of its own and, unless fn returns within d,
// fails the test as hung (see Hung). fn reports failures with t.Error, not
// t.Fatal, which must run on the test's goroutine.
func Within(t testing.TB, d time.Duration, what string, fn func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn()
	}()
	select {
	case <-done:
	case <-time.After(d):
		Hung(t, "%s: still running after %v", what, d)
	}
}

// Hung fails the test for a hang: it writes every goroutine's stack and
// ends the test binary with a panic. A hang may hold what the test's
// cleanups need, so only ending the process is sure to report it; and the
// panic is raised on a goroutine of its own, because raised on the test's
// it would be recovered by the testing package, which runs the cleanups
// first, and those may wait for the very operation that hangs (a Close
// waits for its pending operations).
func Hung(t testing.TB, format string, args ...any) {
	msg := fmt.Sprintf("%s: %s", t.Name(), fmt.Sprintf(format, args...))
	fmt.Fprintf(os.Stderr, "%s; goroutines:\n%s\n", msg, Stacks())
	go panic(msg)
	select {}
}

// Stacks returns every goroutine's stack.
func Stacks() []byte {
	buf := make([]byte, 8<<20)
	return buf[:runtime.Stack(buf, true)]
}
