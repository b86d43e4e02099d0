package interop

import (
	"errors"
	"testing"
	"time"

	winio "github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// go-winio's TestDialAccessDeniedWithRestrictedSD listens with
// D:P(A;;0x1200FF;;;WD), which grants no FILE_WRITE_ATTRIBUTES and so not
// GENERIC_WRITE: go-winio's ListenPipe succeeds (its first instance asks
// for SYNCHRONIZE only), but every instance after it asks for read and
// write access, which the pipe's descriptor is checked against, so
// go-winio's first Accept fails. conduit's winio refuses the descriptor in
// ListenPipe instead (winio's TestListenPipeRefusesServerlessSD); this is
// why the go-winio test is skipped in TestGoWinioPipeSuite.
func TestWinioRestrictedSDCannotAccept(t *testing.T) {
	skipOnWine(t, "security descriptors are stored but never enforced: the instance is created")
	l, err := winio.ListenPipe(pipePath(t), &winio.PipeConfig{SecurityDescriptor: "D:P(A;;0x1200FF;;;WD)"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if c != nil {
			c.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, windows.ERROR_ACCESS_DENIED) {
			t.Fatalf("go-winio's Accept on a pipe whose descriptor denies it write access = %v, want ERROR_ACCESS_DENIED", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("go-winio's Accept is waiting for a client: it could create an instance with read and write access, which the descriptor does not grant")
	}
}
