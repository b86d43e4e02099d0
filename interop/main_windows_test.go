package interop

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	winio "github.com/Microsoft/go-winio"
	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

// The test binary re-executes itself as a child process that plays a
// go-winio client; the child's role and pipe are in this variable.
const childEnv = "CONDUIT_INTEROP_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(m.Run())
}

// onWine reports whether the tests run under Wine: its ntdll exports
// wine_get_version, Windows' does not. Nothing is called.
func onWine() bool {
	return windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version").Find() == nil
}

func skipOnWine(t testing.TB, gap string) {
	t.Helper()
	if onWine() {
		t.Skip("wine: " + gap)
	}
}

var pipeSeq atomic.Int64

// pipePath returns a \\.\pipe\ path that no other test or process uses.
func pipePath(t testing.TB) string {
	r := strings.NewReplacer("/", "-", " ", "-")
	return fmt.Sprintf(`\\.\pipe\conduit-interop-%d-%s-%d`, os.Getpid(), r.Replace(t.Name()), pipeSeq.Add(1))
}

// listen starts a conduit listener on a fresh pipe, closed when t ends.
func listen(t testing.TB, cfg namedpipe.ListenConfig) (*namedpipe.Listener, string) {
	t.Helper()
	path := pipePath(t)
	l, err := cfg.Listen(path)
	if err != nil {
		t.Fatalf("conduit Listen(%q): %v", path, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, path
}

type accepted struct {
	c   *namedpipe.Conn
	err error
}

// acceptOne accepts one connection of l in the background.
func acceptOne(l *namedpipe.Listener) <-chan accepted {
	ch := make(chan accepted, 1)
	go func() {
		c, err := l.AcceptPipe()
		ch <- accepted{c, err}
	}()
	return ch
}

// winioDial connects a go-winio client to path, waiting up to 10 s for a
// busy pipe, closed when t ends.
func winioDial(t testing.TB, path string) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := winio.DialPipeContext(ctx, path)
	if err != nil {
		t.Fatalf("go-winio DialPipeContext(%q): %v", path, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// pair connects a go-winio client to a new conduit listener made with cfg
// and returns both ends.
func pair(t testing.TB, cfg namedpipe.ListenConfig) (server *namedpipe.Conn, client net.Conn) {
	t.Helper()
	l, path := listen(t, cfg)
	ch := acceptOne(l)
	client = winioDial(t, path)
	a := <-ch
	if a.err != nil {
		t.Fatalf("conduit Accept: %v", a.err)
	}
	t.Cleanup(func() { a.c.Close() })
	// A read or write that waits for what never comes fails the test
	// rather than hanging it.
	deadline := time.Now().Add(time.Minute)
	a.c.SetDeadline(deadline)
	client.SetDeadline(deadline)
	return a.c, client
}

// pattern returns n bytes that differ from those of any other seed at
// almost every offset, so that a message cut, merged or swapped is seen.
func pattern(n, seed int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(seed*131 + i*7 + i>>8)
	}
	return b
}

// closeWriter is what go-winio's message-pipe connections and conduit's
// Conn offer to end their side of the stream.
type closeWriter interface{ CloseWrite() error }

// handleOf returns the pipe handle of a go-winio connection (its Fd).
func handleOf(t testing.TB, c net.Conn) windows.Handle {
	t.Helper()
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		t.Fatalf("go-winio connection %T has no Fd", c)
	}
	return windows.Handle(f.Fd())
}

// peek returns what PeekNamedPipe says of the data waiting at h: bytes
// available in all messages, and bytes left in the message at the head.
func peek(t testing.TB, h windows.Handle) (avail, left int) {
	t.Helper()
	var a, l uint32
	if err := peekNamedPipe(h, nil, 0, nil, &a, &l); err != nil {
		t.Fatalf("PeekNamedPipe: %v", err)
	}
	return int(a), int(l)
}

// child is a go-winio client running in another process.
type child struct {
	cmd    *exec.Cmd
	stderr bytes.Buffer
}

// startChild runs this test binary as a go-winio client of path in role.
func startChild(t testing.TB, role, path string) *child {
	t.Helper()
	ch := &child{cmd: exec.Command(os.Args[0], "-test.run=^$")}
	ch.cmd.Env = append(os.Environ(), childEnv+"="+role+" "+path)
	ch.cmd.Stderr = &ch.stderr
	if err := ch.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A child that a failed test left waiting must not outlive it.
		if ch.cmd.ProcessState == nil {
			ch.cmd.Process.Kill()
			ch.cmd.Wait()
		}
	})
	return ch
}

// wait waits for the child and fails t unless it exited with status 0.
func (ch *child) wait(t testing.TB) {
	t.Helper()
	if err := ch.cmd.Wait(); err != nil {
		t.Fatalf("go-winio child: %v; its stderr: %s", err, ch.stderr.String())
	}
}

// runChild is the child process: "message PATH" and "bytes PATH" (see
// childMessage and childBytes). It returns the exit status; what went wrong
// goes to stderr, which the parent shows.
func runChild(role string) int {
	verb, path, _ := strings.Cut(role, " ")
	var err error
	switch verb {
	case "message":
		err = childMessage(path)
	case "bytes":
		err = childBytes(path)
	default:
		err = fmt.Errorf("unknown child role %q", role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-winio child:", err)
		return 1
	}
	return 0
}
