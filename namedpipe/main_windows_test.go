package namedpipe

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// The test binary re-executes itself as a child process; the child's role
// is in this variable.
const childEnv = "CONDUIT_NAMEDPIPE_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role))
	}
	os.Exit(m.Run())
}

// runChild is the child process: "echo NAME" dials NAME and echoes one line
// back in upper case, then exits; "adopt HANDLE" does the same on an
// inherited pipe handle.
func runChild(role string) int {
	verb, name, _ := strings.Cut(role, " ")
	switch verb {
	case "echo":
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := Dial(ctx, name)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child dial:", err)
			return 2
		}
		return answer(c)
	case "adopt":
		// name is an inherited handle's value: adopt it and answer one
		// message.
		h, err := strconv.ParseUint(name, 10, 64)
		if err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			return 2
		}
		c, err := NewConn(windows.Handle(h))
		if err != nil {
			fmt.Fprintln(os.Stderr, "child NewConn:", err)
			return 2
		}
		return answer(c)
	case "join":
		// name is a pipe's: add an instance of it, as another server
		// would, and hold it until stdin closes.
		return joinChild(name)
	}
	fmt.Fprintln(os.Stderr, "unknown child role", role)
	return 1
}

// answer reads one message, answers it in upper case with the child's PID,
// then waits for the parent to close, so that the reply is read before the
// pipe breaks. It returns the child's exit code.
func answer(c *Conn) int {
	defer c.Close()
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child read:", err)
		return 3
	}
	// The server's PID as the engine asks it (FSCTL_PIPE_GET_PIPE_ATTRIBUTE
	// "ServerProcessId") and as kernel32 does, for TestChildProcessID.
	spid, _ := c.ServerProcessID()
	var kpid uint32
	c.withHandle("serverpid", func(h windows.Handle) error { return windows.GetNamedPipeServerProcessId(h, &kpid) })
	if _, err := fmt.Fprintf(c, "%s from %d server %d kernel32 %d", strings.ToUpper(string(buf[:n])), os.Getpid(), spid, kpid); err != nil {
		fmt.Fprintln(os.Stderr, "child write:", err)
		return 4
	}
	io.Copy(io.Discard, c)
	return 0
}

var pipeSeq atomic.Int64

// testPipe returns a pipe name no other test or process uses.
func testPipe(t testing.TB) string {
	r := strings.NewReplacer("/", "-", " ", "-")
	return fmt.Sprintf("conduit-test-%d-%s-%d", os.Getpid(), r.Replace(t.Name()), pipeSeq.Add(1))
}

func onWine() bool { return nt.Wine() }

func skipOnWine(t testing.TB, gap string) {
	t.Helper()
	if onWine() {
		t.Skip("wine: " + gap)
	}
}

func listen(t testing.TB, c *ListenConfig) (*Listener, string) {
	t.Helper()
	name := testPipe(t)
	if c == nil {
		c = &ListenConfig{}
	}
	l, err := c.Listen(name)
	if err != nil {
		t.Fatalf("Listen(%q): %v", name, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, name
}

// acceptAll accepts every connection of l until it closes and delivers
// them on the channel it returns.
func acceptAll(l *Listener) <-chan *Conn {
	accepted := make(chan *Conn, 2)
	go func() {
		for {
			c, err := l.AcceptPipe()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	return accepted
}

// pair returns a connected server and client end.
func pair(t testing.TB, c *ListenConfig) (server, client *Conn) {
	t.Helper()
	l, name := listen(t, c)
	server, client = connect(t, l, name)
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}
