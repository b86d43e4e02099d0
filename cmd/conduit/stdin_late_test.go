package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// stdinLateEnv makes the child hold stdin's reader back until the peer has
// closed (stdinHeld): what a goroutine starved under load did (stress,
// Windows -race: "the peer closed the connection before the end of stdin"
// from a dial whose stdin was empty and closed).
const stdinLateEnv = "CONDUIT_TEST_STDIN_LATE"

// A dial whose peer sends and closes entirely before the dial's stdin has
// been read at all: the exit status says what stdin held, not how far the
// reader got. Ended with nothing left (a pipe whose writers closed, an
// empty file, the null device): exit 0. Data left, or a pipe still open:
// exit 1, the peer closed before the end of stdin.
func TestPeerClosedBeforeStdinRead(t *testing.T) {
	t.Parallel()
	closedPipe := func(t *testing.T, data string) *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		w.WriteString(data)
		w.Close() // before the child starts: its stdin has ended
		return r
	}
	emptyFile := func(t *testing.T) *os.File {
		// Not t.TempDir: under Wine its removal fails once a child has
		// had a file of it (exampleDir); the removal here is best effort.
		f, err := os.CreateTemp("", "conduit-empty-stdin-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close(); os.Remove(f.Name()) })
		return f
	}
	for _, tc := range []struct {
		name  string
		stdin func(t *testing.T) *os.File // nil: the null device
		want  int
	}{
		{"closed empty pipe", func(t *testing.T) *os.File { return closedPipe(t, "") }, 0},
		{"empty file", emptyFile, 0},
		{"null device", nil, 0},
		{"closed pipe with data", func(t *testing.T) *os.File { return closedPipe(t, "unsent\n") }, 1},
		{"open empty pipe", func(t *testing.T) *os.File {
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { r.Close(); w.Close() }) // open until the dial has exited
			return r
		}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := name()
			wait := background(t, conduit("listen", n, "--close-on-eof"), []byte("hello\n"))
			cmd := conduit("dial", n, "--wait", "--timeout", "20s")
			cmd.Env = append(cmd.Env, stdinLateEnv+"=1")
			if tc.stdin != nil {
				cmd.Stdin = tc.stdin(t)
			}
			var o, e bytes.Buffer
			cmd.Stdout, cmd.Stderr = &o, &e
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.want || o.String() != "hello\n" {
				t.Fatalf("dial: exit %d, stdout %q, stderr %q; want exit %d and the server's hello", code, o.String(), e.String(), tc.want)
			}
			if tc.want == 1 && !strings.Contains(e.String(), "before the end of stdin") {
				t.Fatalf("dial's stderr %q: want the peer closed before the end of stdin", e.String())
			}
			wait()
		})
	}
}

// Once stdin has ended, an error in passing its end on decides the run even
// when the peer has gone: namedpipe's Flush meets a peer gone (a broken
// pipe) when the peer closed with data of ours unread, and that data is
// lost. (peerClosed once took any "peer gone" error here for a clean end,
// and a dial whose last bytes were discarded exited 0.)
func TestPeerClosedAfterEndLostData(t *testing.T) {
	lost := sendError(fmt.Errorf("the peer closed its end with 6 bytes written to it unread: %w", syscall.EPIPE))
	if !isPeerGone(lost) {
		t.Fatalf("isPeerGone(%v) = false: the case below would not be the one meant", lost)
	}
	for _, tc := range []struct {
		name string
		r    inResult
		want error
	}{
		{"end passed on", inResult{halfClosed: true}, nil},
		{"data left unread", inResult{err: lost}, lost},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ended atomic.Bool
			ended.Store(true)
			inc := make(chan inResult, 1)
			inc <- tc.r
			var early bool
			if err := peerClosed(transfer{}, &early, &ended, inc); err != tc.want {
				t.Fatalf("peerClosed: %v, want %v", err, tc.want)
			}
			if early {
				t.Fatal("peerClosed counted a stdin that had ended as cut short")
			}
		})
	}
}
