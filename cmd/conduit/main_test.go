package main

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The test binary is conduit itself when CONDUIT_E2E_MAIN is set: the tests
// run it as a user runs the command, in processes of its own.
const mainEnv = "CONDUIT_E2E_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(mainEnv) == "1" {
		if len(os.Args) > 1 && os.Args[1] == "__upper" {
			// A child for --exec: stdin to stdout, in upper case.
			b, _ := io.ReadAll(os.Stdin)
			os.Stdout.Write(bytes.ToUpper(b))
			os.Exit(0)
		}
		if len(os.Args) > 1 && os.Args[1] == "__echo" {
			// A child for --exec that answers each line at once, and
			// ends when its input does.
			r := bufio.NewReader(os.Stdin)
			for {
				line, err := r.ReadString('\n')
				os.Stdout.WriteString(line)
				if err != nil {
					os.Exit(0)
				}
			}
		}
		if len(os.Args) > 1 && os.Args[1] == "__bye" {
			// A child for --exec that says bye and leaves, reading
			// nothing: the connection ends from the server's side.
			os.Stdout.WriteString("bye\n")
			os.Exit(0)
		}
		if len(os.Args) > 1 && os.Args[1] == "__pidsleep" {
			// A child for --exec that says its process ID and then
			// waits, reading nothing: only its end can stop it.
			fmt.Printf("%d\n", os.Getpid())
			time.Sleep(10 * time.Minute)
			os.Exit(0)
		}
		if len(os.Args) > 2 && os.Args[1] == "__sigearly" && runtime.GOOS != "windows" {
			// A one-shot server that is signalled between making its
			// listener and handing it to the signal watcher.
			sigEarlyChild(os.Args[2])
		}
		if os.Getenv(stdinLateEnv) == "1" {
			stdinHeld = make(chan struct{}) // stdin_late_test.go
		}
		os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	// The conduits the tests start put their sockets and lock files in a
	// runtime directory of this run's own, removed at the end: servers the
	// tests kill cannot remove theirs, and in the user's real directory
	// they piled up (issue 17, item 7). Tests that set XDG_RUNTIME_DIR
	// themselves still do.
	dir, err := os.MkdirTemp("", "conduit-test-runtime-")
	if err == nil {
		os.Setenv("XDG_RUNTIME_DIR", dir)
	}
	code := m.Run()
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// conduit returns a command that runs conduit with args.
func conduit(args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	return cmd
}

// upperCommand is an --exec command that upper-cases its input.
func upperCommand() string { return selfCommand("__upper") }

// selfCommand is an --exec command line that runs this binary in role.
func selfCommand(role string) string {
	exe := os.Args[0]
	if strings.ContainsAny(exe, " \t") {
		if runtime.GOOS == "windows" {
			exe = `"` + exe + `"`
		} else {
			exe = "'" + exe + "'"
		}
	}
	return exe + " " + role
}

// runResult runs cmd with stdin and returns its output and exit status.
func runResult(t *testing.T, cmd *exec.Cmd, stdin []byte) (stdout, stderr string, code int) {
	t.Helper()
	setStdin(cmd, stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), 0
}

// background starts cmd with stdin and returns a function that waits for
// it and returns its stdout.
func background(t *testing.T, cmd *exec.Cmd, stdin []byte) func() string {
	t.Helper()
	setStdin(cmd, stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return func() string {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("%v: %v (stderr: %s)", cmd.Args[1:], err, e.String())
		}
		return o.String()
	}
}

// setStdin gives cmd stdin as its input. No input (nil) is the null
// device, which has ended before the command starts: a pipe that os/exec
// fills and closes from a goroutine of this process can still be open when
// a peer that sends and closes at once is done, and a command whose peer
// closed while its stdin was open rightly fails (seen under load: dial's
// "the peer closed the connection before the end of stdin").
func setStdin(cmd *exec.Cmd, stdin []byte) {
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
}

var seq atomic.Int64

func name() string { return fmt.Sprintf("conduit-e2e-%d-%d", os.Getpid(), seq.Add(1)) }

func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// One process listens, another dials, and 1 MiB of binary data arrives, in
// each direction.
func TestListenDial(t *testing.T) {
	t.Parallel() // its names are its own
	data := random(1 << 20)
	t.Run("dial to listen", func(t *testing.T) {
		n := name()
		wait := background(t, conduit("listen", n), nil)
		_, stderr, code := runResult(t, conduit("dial", n, "--wait", "--timeout", "20s", "--close-on-eof"), data)
		if code != 0 {
			t.Fatalf("dial: exit %d: %s", code, stderr)
		}
		if got := wait(); got != string(data) {
			t.Fatalf("listen printed %d bytes, want the %d dial sent", len(got), len(data))
		}
	})
	t.Run("listen to dial", func(t *testing.T) {
		n := name()
		wait := background(t, conduit("listen", "--close-on-eof", n), data) // flags before or after the name
		stdout, stderr, code := runResult(t, conduit("dial", "--timeout", "20s", n, "--wait"), nil)
		if code != 0 {
			t.Fatalf("dial: exit %d: %s", code, stderr)
		}
		if stdout != string(data) {
			t.Fatalf("dial printed %d bytes, want the %d listen sent", len(stdout), len(data))
		}
		wait()
	})
	t.Run("messages", func(t *testing.T) {
		n := name()
		wait := background(t, conduit("listen", n, "--message"), []byte("one\ntwo\n"))
		stdout, stderr, code := runResult(t, conduit("dial", n, "--message", "--wait", "--timeout", "20s"), []byte("three\n\nfour\n"))
		if code != 0 {
			t.Fatalf("dial: exit %d: %s", code, stderr)
		}
		if stdout != "one\ntwo\n" {
			t.Fatalf("dial printed %q", stdout)
		}
		if got := wait(); got != "three\nfour\n" { // empty lines are not sent
			t.Fatalf("listen printed %q", got)
		}
	})
}

// --exec makes each connection a command's stdin and stdout.
func TestExec(t *testing.T) {
	n := name()
	wait := background(t, conduit("listen", n, "--message", "--exec", upperCommand()), nil)
	stdout, stderr, code := runResult(t, conduit("dial", n, "--message", "--wait", "--timeout", "20s"), []byte("shout\nthis\n"))
	if code != 0 || stdout != "SHOUT\nTHIS\n" {
		t.Fatalf("dial: %q, exit %d: %s", stdout, code, stderr)
	}
	wait()
}

// relay carries stdio to a pipe whose server is a child (--exec), and
// passes the end of stdin on as a half-close, after which the child's
// answer comes back and the relay exits.
func TestRelay(t *testing.T) {
	n := name()
	background(t, conduit("listen", n, "--message", "--exec", upperCommand()), nil)
	stdout, stderr, code := runResult(t, conduit("relay", n, "--message", "--wait", "--timeout", "20s"), []byte("relayed\n"))
	if code != 0 || stdout != "RELAYED\n" {
		t.Fatalf("relay: %q, exit %d: %s", stdout, code, stderr)
	}
}

// When the server ends the connection, dial and relay end too, though their
// stdin is still open and gives nothing (a terminal no one types into):
// with exit status 1, since stdin had not ended (issue 17: only both sides
// ending is a clean end), and with -t, cleanly once stdin was idle that long.
func TestPeerEndsFirst(t *testing.T) {
	t.Parallel() // its names are its own
	for _, args := range [][]string{{"dial"}, {"relay"}, {"dial", "-t", "100ms"}} {
		cmd := args[0]
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			n := name()
			background(t, conduit("listen", n, "--exec", selfCommand("__bye")), nil)
			c := conduit(append(args, n, "--wait", "--timeout", "20s")...)
			// A pipe of the OS's, not an io.Reader, so that exec copies
			// nothing and Wait waits for the process alone.
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close() // stdin stays open until the test ends
			c.Stdin = r
			var out, errb bytes.Buffer
			c.Stdout, c.Stderr = &out, &errb
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			r.Close()
			exited := make(chan error, 1)
			go func() { exited <- c.Wait() }()
			select {
			case <-exited:
				code, want := c.ProcessState.ExitCode(), 1
				if len(args) > 1 {
					want = 0
				}
				if code != want || out.String() != "bye\n" {
					t.Fatalf("%s: %q, exit %d (%q); want bye and exit %d", args, out.String(), code, errb.String(), want)
				}
				if want == 1 && !strings.Contains(errb.String(), "before the end of stdin") {
					t.Fatalf("%s: stderr %q", args, errb.String())
				}
			case <-time.After(20 * time.Second):
				c.Process.Kill()
				t.Fatalf("%s went on after the server had ended the connection", cmd)
			}
		})
	}
}

// info's look at a socket is not a client: a server that serves one client
// still serves the next one that dials. (On Windows it cannot be so.)
func TestInfoIsNoClient(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("windows: a pipe's security can be read only by opening it: info is a client for a moment there (its help says so)")
	}
	n := name()
	wait := background(t, conduit("listen", n), []byte("for the real client"))
	// The server exists once info can describe it.
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, _, code := runResult(t, conduit("info", n), nil); code == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("info never found the server")
		}
	}
	stdout, stderr, code := runResult(t, conduit("dial", n, "--timeout", "20s"), nil)
	if code != 0 || stdout != "for the real client" {
		t.Fatalf("the client after info: %q, exit %d: %s", stdout, code, stderr)
	}
	wait()
}

// bridge joins stdio, or a socket of its own, to a pipe whose server is a
// child, half-close included.
func TestBridge(t *testing.T) {
	n := name()
	if runtime.GOOS == "windows" {
		// stdio to a message pipe (a byte pipe has no half-close). The
		// bridge carries bytes; each write is one of the pipe's
		// messages, and stdin's end its zero-length one.
		background(t, conduit("listen", n, "--keep-open", "--message", "--exec", upperCommand()), nil)
		ready(t, n)
		stdout, stderr, code := runResult(t, conduit("bridge", "-", "npipe:"+n), []byte("bridged"))
		if code != 0 || stdout != "BRIDGED" {
			t.Fatalf("bridge: %q, exit %d: %s", stdout, code, stderr)
		}
		return
	}
	background(t, conduit("listen", n, "--keep-open", "--exec", upperCommand()), nil)
	// The bridge dials the server when a client comes, without waiting
	// for it: the server must be up first.
	ready(t, n)
	front := socketPath(t, name())
	background(t, conduit("bridge", "unix:"+front, "unix:"+socketPath(t, n)), nil)
	stdout, stderr, code := runResult(t, conduit("dial", front, "--wait", "--timeout", "20s"), []byte("bridged\n"))
	if code != 0 || stdout != "BRIDGED\n" {
		t.Fatalf("dial through the bridge: %q, exit %d: %s", stdout, code, stderr)
	}
}

// ls and info find a pipe the test made.
func TestLsInfo(t *testing.T) {
	n := name()
	background(t, conduit("listen", n, "--keep-open"), nil)
	ready(t, n)
	t.Run("ls", func(t *testing.T) {
		if onWine() {
			t.Skip(`wine: enumerating \\.\pipe\ (NtQueryDirectoryFile) fails with ERROR_BAD_DEV_TYPE`)
		}
		stdout, stderr, code := runResult(t, conduit("ls", "--json"), nil)
		if code != 0 {
			t.Fatalf("ls: exit %d: %s", code, stderr)
		}
		var entries []map[string]any
		if err := json.Unmarshal([]byte(stdout), &entries); err != nil {
			t.Fatalf("ls --json: %v: %s", err, stdout)
		}
		for _, e := range entries {
			if e["name"] == n { // as listen and info take it
				if l, ok := e["listening"]; ok && l != true {
					t.Errorf("%v: not listening", e)
				}
				return
			}
		}
		t.Fatalf("ls has no %s: %s", n, stdout)
	})
	t.Run("info", func(t *testing.T) {
		stdout, stderr, code := runResult(t, conduit("info", n, "--json"), nil)
		if code != 0 {
			t.Fatalf("info: exit %d: %s", code, stderr)
		}
		var info map[string]any
		if err := json.Unmarshal([]byte(stdout), &info); err != nil {
			t.Fatalf("info --json: %v: %s", err, stdout)
		}
		checkInfo(t, info)
	})
}

// A mailslot message sent is a message received.
func TestMailslot(t *testing.T) {
	n := name()
	if runtime.GOOS != "windows" {
		_, stderr, code := runResult(t, conduit("mailslot", "send", n, "x"), nil)
		if code != 1 || !strings.Contains(stderr, "Windows only") || strings.Count(stderr, "\n") != 1 {
			t.Fatalf("mailslot on Unix: exit %d, %q; want 1 and one line saying it is Windows only", code, stderr)
		}
		return
	}
	recv := conduit("mailslot", "recv", n, "--count", "1", "--timeout", "20s")
	stderr, err := recv.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	recv.Stdout = &out
	if err := recv.Start(); err != nil {
		t.Fatal(err)
	}
	defer recv.Wait()
	// recv says so once the slot exists.
	line, err := bufio.NewReader(stderr).ReadString('\n')
	if err != nil || !strings.Contains(line, "receiving on") {
		t.Fatalf("recv said %q, %v", line, err)
	}
	if _, e, code := runResult(t, conduit("mailslot", "send", n, "hello, slot"), nil); code != 0 {
		t.Fatalf("send: exit %d: %s", code, e)
	}
	if err := recv.Wait(); err != nil {
		t.Fatal(err)
	}
	if out.String() != "hello, slot\n" {
		t.Fatalf("recv printed %q", out.String())
	}
}

// bench with a tiny size finishes quickly and prints valid JSON.
func TestBench(t *testing.T) {
	stdout, stderr, code := runResult(t, conduit("bench", "--size", "64KiB", "--rounds", "10", "--json"), nil)
	if code != 0 {
		t.Fatalf("bench: exit %d: %s", code, stderr)
	}
	var rows []struct {
		Name, Measure, Unit string
		Value               float64
	}
	if err := json.Unmarshal([]byte(stdout), &rows); err != nil || len(rows) < 4 {
		t.Fatalf("bench --json: %d rows, %v: %s", len(rows), err, stdout)
	}
	for _, r := range rows {
		if r.Name == "" || r.Measure == "" || r.Unit == "" || r.Value <= 0 {
			t.Errorf("row %+v", r)
		}
	}
}

// Bad usage is exit status 2, a failure 1, each with one line on stderr.
func TestErrors(t *testing.T) {
	t.Parallel() // its names are its own
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"listen", "x", "--bogus"}, 2},
		{[]string{"nosuchcommand"}, 2},
		{[]string{"listen"}, 2},
		{[]string{"bridge", "a:b", "-"}, 2},
		{[]string{"bridge", "tcp:192.0.2.1:80", "-"}, 2},
		{[]string{"bridge", "-", "-"}, 2},
		{[]string{"bridge", "unix:/tmp/x", "-", "--keep-open"}, 2},
		{[]string{}, 2},
		{[]string{"help", "nosuchcommand"}, 2},
		{[]string{"dial", name()}, 1},
		{[]string{"info", name()}, 1},
	} {
		_, stderr, code := runResult(t, conduit(c.args...), nil)
		if code != c.code || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "conduit: ") {
			t.Errorf("conduit %v: exit %d, stderr %q; want exit %d and one line", c.args, code, stderr, c.code)
		}
	}
	refusedAccess(t)
	for _, args := range [][]string{{"--help"}, {"listen", "--help"}, {"--version"}} {
		stdout, _, code := runResult(t, conduit(args...), nil)
		if code != 0 || stdout == "" {
			t.Errorf("conduit %v: exit %d, %q", args, code, stdout)
		}
	}
	stdout, _, _ := runResult(t, conduit("bridge", "--help"), nil)
	if !strings.Contains(stdout, "Examples:") || !strings.Contains(stdout, "-keep-open") {
		t.Errorf("bridge --help shows no examples or flags:\n%s", stdout)
	}
}

// ready waits until a server listens on n (a --keep-open one): a dial that
// waits for the name, and leaves at once.
func ready(t *testing.T, n string, args ...string) {
	t.Helper()
	if _, stderr, code := runResult(t, conduit(append([]string{"dial", n, "--wait", "--timeout", "20s", "--close-on-eof"}, args...)...), nil); code != 0 {
		t.Fatalf("waiting for %s: exit %d: %s", n, code, stderr)
	}
}
