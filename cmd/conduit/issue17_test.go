package main

// End-to-end tests of issue 17's numbered failures: the binary run as a
// user runs it, in processes of its own. Each failed on main before the
// fix (see the commit that added it).

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// A proc is a conduit process whose stdin and stdout the test holds.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	mu     sync.Mutex
	errb   bytes.Buffer
	done   chan struct{}
	code   int
	held   bool // its stderr was still open waitDelay after it exited
}

// waitDelay bounds how long a proc's end is waited for after the process
// itself has exited: its stderr (a pipe the test reads) stays open while a
// program it started holds it, and the wait for it would last until the
// package's -timeout (TestItem5SDDL once, beside a stress run: 5 minutes,
// naming nothing). Past it the test fails, saying so; under Wine the test
// bed then names the program left running once the test binary exits.
const waitDelay = 20 * time.Second

func (p *proc) Write(b []byte) (int, error) { // stderr
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.Write(b)
}

func (p *proc) stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.errb.String()
}

// start runs cmd with pipes for stdin and stdout (os.Pipe: what the
// process sees is a pipe of the OS's, as in a shell).
func start(t *testing.T, cmd *exec.Cmd) *proc {
	t.Helper()
	p := &proc{t: t, cmd: cmd, done: make(chan struct{})}
	inR, inW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inR, outW, p
	cmd.WaitDelay = waitDelay
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	inR.Close()
	outW.Close()
	p.stdin, p.stdout = inW, bufio.NewReader(outR)
	go func() {
		err := cmd.Wait()
		p.held = errors.Is(err, exec.ErrWaitDelay)
		p.code = cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() {
		inW.Close()
		cmd.Process.Kill()
		<-p.done
		outR.Close()
		if p.held {
			t.Errorf("%v: its stderr was still open %v after it exited: a program it started outlived it", cmd.Args[1:], waitDelay)
		}
	})
	return p
}

// wait waits for the process to exit, at most limit, and returns its exit
// status; a process still running then is killed and the test fails.
func (p *proc) wait(limit time.Duration) int {
	p.t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		p.t.Fatalf("%v still running after %v (stderr: %q)", p.cmd.Args[1:], limit, p.stderr())
		return -1
	}
}

// readAll reads the process's stdout to its end.
func (p *proc) readAll() string {
	b, _ := io.ReadAll(p.stdout)
	return string(b)
}

// limit bounds a process the test waits for: generous, for Wine under load.
const limit = 90 * time.Second

// runBounded runs cmd with stdin and returns stdout, stderr and its exit
// status, failing the test if it runs longer than limit.
func runBounded(t *testing.T, cmd *exec.Cmd, stdin []byte) (string, string, int) {
	t.Helper()
	p := start(t, cmd)
	go func() {
		p.stdin.Write(stdin)
		p.stdin.Close()
	}()
	out := make(chan string, 1)
	go func() { out <- p.readAll() }()
	code := p.wait(limit)
	return <-out, p.stderr(), code
}

// oneLine checks that a failure said one line, starting "conduit: ".
func checkOneLine(t *testing.T, what, stderr string) {
	t.Helper()
	if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "conduit: ") {
		t.Errorf("%s: stderr %q: want one line starting conduit:", what, stderr)
	}
}

// Item 1: on a byte-mode pipe (Windows), neither side can tell the other
// its input ended; both used to wait for the other to close, for ever.
func TestItem1ByteModeEnds(t *testing.T) {
	t.Parallel() // its names are its own
	data := random(1 << 20)
	t.Run("listen < file, dial < /dev/null", func(t *testing.T) {
		n := name()
		srv := start(t, conduit("listen", n))
		go func() { srv.stdin.Write(data); srv.stdin.Close() }()
		go io.Copy(io.Discard, srv.stdout)
		stdout, stderr, code := runBounded(t, conduit("dial", n, "--wait", "--timeout", "20s"), nil)
		if code != 0 || stdout != string(data) {
			t.Fatalf("dial: exit %d, %d bytes of %d: %s", code, len(stdout), len(data), stderr)
		}
		if code := srv.wait(limit); code != 0 {
			t.Fatalf("listen: exit %d: %s", code, srv.stderr())
		}
	})
	// A dial whose stdin has ended lingers until the server is silent for
	// -t (1 s by default): the answer must come within it. A server that
	// answers from its own stdin answers at once; an --exec child is
	// started for the connection first, which under -race and load took
	// longer than 1 s (the dial then left with nothing, exit 0: 1 of 6
	// loaded stress runs), so that case gets -t 10s.
	t.Run("echo hi | dial, to a server that answers and waits", func(t *testing.T) {
		n := name()
		srv := start(t, conduit("listen", n))
		srv.stdin.Write([]byte("ho\n")) // and stdin stays open: the server waits
		// -t 1s is a byte-mode pipe's default; on Unix the half-close
		// would otherwise wait for the server's end.
		stdout, stderr, code := runBounded(t, conduit("dial", n, "--wait", "--timeout", "20s", "-t", "1s"), []byte("hi\n"))
		if code != 0 || stdout != "ho\n" {
			t.Fatalf("dial: exit %d, %q: %s", code, stdout, stderr)
		}
		if got, err := srv.stdout.ReadString('\n'); got != "hi\n" {
			t.Fatalf("the server got %q, %v", got, err)
		}
	})
	t.Run("echo hi | dial -t 10s, to an --exec echo that waits", func(t *testing.T) {
		n := name()
		start(t, conduit("listen", n, "--keep-open", "--exec", selfCommand("__echo")))
		stdout, stderr, code := runBounded(t, conduit("dial", n, "--wait", "--timeout", "20s", "-t", "10s"), []byte("hi\n"))
		if code != 0 || stdout != "hi\n" {
			t.Fatalf("dial: exit %d, %q: %s", code, stdout, stderr)
		}
	})
}

// endless is stdin that never ends: a writer of zeros until the test ends.
func endless(t *testing.T, p *proc) {
	go func() {
		buf := make([]byte, 64<<10)
		for {
			if _, err := p.stdin.Write(buf); err != nil {
				return
			}
		}
	}()
}

// Item 2: a peer killed mid-transfer was a silent exit 0.
func TestItem2KilledPeer(t *testing.T) {
	if onWine() {
		// Killing a process with pipe I/O pending has killed the Wine
		// server in this test bed (wine-notes.md): the suite would hang.
		t.Skip("wine: killing a process with pipe I/O pending can take the Wine server down")
	}
	t.Run("dial killed", func(t *testing.T) {
		n := name()
		srv := start(t, conduit("listen", n))
		endless(t, srv)
		cli := start(t, conduit("dial", n, "--wait", "--timeout", "20s"))
		if _, err := io.ReadFull(cli.stdout, make([]byte, 256<<10)); err != nil {
			t.Fatalf("dial read nothing: %v (%s)", err, cli.stderr())
		}
		cli.cmd.Process.Kill()
		if code := srv.wait(limit); code != 1 {
			t.Fatalf("listen, its client killed: exit %d, %q; want 1", code, srv.stderr())
		}
		checkOneLine(t, "listen", srv.stderr())
	})
	t.Run("listen killed", func(t *testing.T) {
		n := name()
		srv := start(t, conduit("listen", n))
		cli := start(t, conduit("dial", n, "--wait", "--timeout", "20s"))
		endless(t, cli)
		if _, err := io.ReadFull(srv.stdout, make([]byte, 256<<10)); err != nil {
			t.Fatalf("listen read nothing: %v (%s)", err, srv.stderr())
		}
		srv.cmd.Process.Kill()
		if code := cli.wait(limit); code != 1 {
			t.Fatalf("dial, its server killed: exit %d, %q; want 1", code, cli.stderr())
		}
		checkOneLine(t, "dial", cli.stderr())
	})
}

// Item 3: a second client of a one-shot listener was accepted, and what it
// sent was dropped, with exit 0.
func TestItem3OneShotIsOne(t *testing.T) {
	t.Parallel() // its names are its own
	n := name()
	srv := start(t, conduit("listen", n))
	cli := start(t, conduit("dial", n, "--wait", "--timeout", "20s"))
	// The first client is served once what the server sends reaches it.
	srv.stdin.Write([]byte("first\n"))
	if line, err := cli.stdout.ReadString('\n'); line != "first\n" {
		t.Fatalf("client 1 read %q, %v", line, err)
	}
	stdout, stderr, code := runBounded(t, conduit("dial", n, "--timeout", "3s"), []byte("second\n"))
	if code != 1 {
		t.Fatalf("a second client: exit %d, %q, %q; want 1 (refused, or busy until --timeout)", code, stdout, stderr)
	}
	checkOneLine(t, "the second client", stderr)
	cli.stdin.Write([]byte("from client 1\n"))
	cli.stdin.Close()
	srv.stdin.Close()
	got := make(chan string, 1)
	go func() { got <- srv.readAll() }()
	if code := srv.wait(limit); code != 0 {
		t.Fatalf("listen: exit %d: %s", code, srv.stderr())
	}
	if s := <-got; s != "from client 1\n" {
		t.Fatalf("the server printed %q, want client 1's line only", s)
	}
	cli.wait(limit)
}

// Item 4: a producer slower than 500 ms lost what it wrote after the
// server's side ended, with exit 0.
func TestItem4SlowProducer(t *testing.T) {
	t.Parallel() // its names are its own
	slow := func(t *testing.T, listenArgs ...string) (srvOut string, srvCode, cliCode int, cliErr string) {
		n := name()
		srv := start(t, conduit(append([]string{"listen", n}, listenArgs...)...))
		srv.stdin.Close() // listen < /dev/null
		cli := start(t, conduit("dial", n, "--wait", "--timeout", "20s"))
		go io.Copy(io.Discard, cli.stdout)
		cli.stdin.Write([]byte("line1\n"))
		if line, _ := srv.stdout.ReadString('\n'); line != "line1\n" {
			t.Fatalf("the server printed %q", line)
		}
		// The producer is slow: this pause is what the test is about.
		time.Sleep(1500 * time.Millisecond)
		cli.stdin.Write([]byte("line2\n"))
		cli.stdin.Close()
		rest := make(chan string, 1)
		go func() { rest <- srv.readAll() }()
		cliCode = cli.wait(limit)
		srvCode = srv.wait(limit)
		return "line1\n" + <-rest, srvCode, cliCode, cli.stderr()
	}
	t.Run("as the issue ran it", func(t *testing.T) {
		out, sc, cc, cerr := slow(t)
		if out == "line1\nline2\n" && sc == 0 && cc == 0 {
			return
		}
		if runtime.GOOS == "windows" && cc == 1 {
			// A byte pipe cannot carry the server's end of input: the
			// server closes after -t of silence, and the client says it
			// could not send; never a silent loss. (-U below is the way.)
			checkOneLine(t, "dial", cerr)
			return
		}
		t.Fatalf("the server printed %q (exit %d); dial exit %d, %q", out, sc, cc, cerr)
	})
	t.Run("listen -U", func(t *testing.T) {
		out, sc, cc, cerr := slow(t, "-U")
		if out != "line1\nline2\n" || sc != 0 || cc != 0 {
			t.Fatalf("the server printed %q (exit %d); dial exit %d, %q", out, sc, cc, cerr)
		}
	})
}

// helpExample returns the first argument of the line in conduit CMD
// --help's examples that has flag, for a test that runs it as written.
func helpExample(t *testing.T, cmd, flag string) string {
	t.Helper()
	stdout, _, _ := runBounded(t, conduit(cmd, "--help"), nil)
	re := regexp.MustCompile(regexp.QuoteMeta(flag) + ` "([^"]*)"`)
	m := re.FindStringSubmatch(stdout)
	if m == nil {
		t.Fatalf("conduit %s --help has no %s example:\n%s", cmd, flag, stdout)
	}
	return m[1]
}

// Item 5: listen --help's --sddl example was refused for a normal user (it
// did not grant the process FILE_CREATE_PIPE_INSTANCE); --allow is the
// simple way, and keeps the owner's right to create instances.
func TestItem5SDDL(t *testing.T) {
	if runtime.GOOS != "windows" {
		_, stderr, code := runBounded(t, conduit("listen", name(), "--sddl", "D:P(A;;GA;;;OW)"), nil)
		if code != 2 || !strings.Contains(stderr, "Windows") {
			t.Fatalf("--sddl on Unix: exit %d, %q; want a usage error that says it is for Windows", code, stderr)
		}
		return
	}
	for _, args := range [][]string{
		{"--sddl", helpExample(t, "listen", "--sddl")},
		{"--allow", "AU"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if onWine() && args[0] == "--sddl" {
				// Listen checks the descriptor with AccessCheck, which
				// under Wine does not give the owner an OW ACE's rights.
				t.Skip("wine: AccessCheck does not apply OWNER RIGHTS (OW) ACEs to the object's owner")
			}
			n := name()
			srv := start(t, conduit(append([]string{"listen", n, "--keep-open", "--message", "--exec", upperCommand()}, args...)...))
			stdout, stderr, code := runBounded(t, conduit("dial", n, "--message", "--wait", "--timeout", "20s"), []byte("secured\n"))
			if code != 0 || stdout != "SECURED\n" {
				t.Fatalf("dial: exit %d, %q: %s (listen: %s)", code, stdout, stderr, srv.stderr())
			}
			stdout, stderr, code = runBounded(t, conduit("info", n, "--json"), nil)
			var info struct {
				MayConnect []string `json:"may_connect"`
				MayCreate  []string `json:"may_create_instances"`
				Others     bool     `json:"others_may_create_instances"`
			}
			json.Unmarshal([]byte(stdout), &info)
			au := func(l []string) bool { return strings.Contains(strings.Join(l, ","), "Authenticated Users") }
			if code != 0 || info.Others || !au(info.MayConnect) || au(info.MayCreate) {
				t.Fatalf("info: exit %d: %s %s; want Authenticated Users (S-1-5-11) to connect, not to create instances", code, stdout, stderr)
			}
		})
	}
}

// Item 7: Ctrl-C or SIGTERM left NAME.sock; stale names had no remedy.
func TestItem7Cleanup(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("windows: a pipe vanishes with its last handle; there is no file to clean up")
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"--keep-open"}, 0}, // stopping a server is how it ends
		{nil, 1},                     // a one-shot that never served: cut short
	} {
		n := name()
		path := socketPath(t, n)
		srv := start(t, conduit(append([]string{"listen", n, "-v"}, c.args...)...))
		if c.args != nil {
			ready(t, n)
			// The server has closed ready's connection (-v says so):
			// it has none open.
			waitFor(t, func() bool { return strings.Contains(srv.stderr(), " complete") })
		} else {
			waitFor(t, func() bool { _, err := os.Stat(path); return err == nil })
		}
		srv.cmd.Process.Signal(sigterm)
		if code := srv.wait(limit); code != c.code {
			t.Errorf("listen %v, SIGTERM: exit %d, %q; want %d", c.args, code, srv.stderr(), c.code)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Errorf("listen %v, SIGTERM: %s is still there (%v)", c.args, path, err)
		}
	}
	// A server killed outright leaves its socket: ls --stale finds it, rm
	// removes it, and rm refuses a live one.
	n := name()
	srv := start(t, conduit("listen", n, "--keep-open"))
	ready(t, n)
	if _, stderr, code := runBounded(t, conduit("rm", n), nil); code != 1 || !strings.Contains(stderr, "listens") {
		t.Errorf("rm of a live socket: exit %d, %q; want 1", code, stderr)
	}
	srv.cmd.Process.Kill()
	srv.wait(limit)
	stdout, _, _ := runBounded(t, conduit("ls", "--stale", n), nil)
	if !strings.Contains(stdout, n) {
		t.Errorf("ls --stale %s: %q", n, stdout)
	}
	if _, stderr, code := runBounded(t, conduit("rm", n), nil); code != 0 {
		t.Fatalf("rm: exit %d, %q", code, stderr)
	}
	path := socketPath(t, n)
	for _, p := range []string{path, path + ".lock"} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("after rm, %s: %v", p, err)
		}
	}
}

// waitFor polls cond until it holds, or fails the test after limit.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(limit); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("condition never held")
		}
	}
}

// Item 8: bridge tcp:...:0 listened on a port it never said.
func TestItem8PortZero(t *testing.T) {
	t.Parallel() // its names are its own
	n := name()
	start(t, conduit("listen", n, "--keep-open", "--message", "--exec", upperCommand()))
	ready(t, n, "--message")
	b := "npipe:" + n
	if runtime.GOOS != "windows" {
		b = "unix:" + socketPath(t, n)
	}
	br := start(t, conduit("bridge", "tcp:127.0.0.1:0", b, "--message"))
	var addr string
	waitFor(t, func() bool {
		m := regexp.MustCompile(`listening on tcp:(127\.0\.0\.1:\d+)`).FindStringSubmatch(br.stderr())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	if strings.HasSuffix(addr, ":0") {
		t.Fatalf("bridge said %q", br.stderr())
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("zero\n"))
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(limit))
	got, err := io.ReadAll(c)
	if string(got) != "ZERO\n" {
		t.Fatalf("through the bridge: %q, %v (bridge: %s)", got, err, br.stderr())
	}
}

// Item 9: a mode mismatch said "protocol wrong type for socket"; info did
// not say the type; bridge had no --message.
func TestItem9Modes(t *testing.T) {
	t.Parallel() // its names are its own
	byteName, msgName := name(), name()
	start(t, conduit("listen", byteName, "--keep-open"))
	start(t, conduit("listen", msgName, "--keep-open", "--message", "--exec", upperCommand()))
	ready(t, byteName)
	ready(t, msgName, "--message")
	_, stderr, code := runBounded(t, conduit("dial", byteName, "--message", "--timeout", "20s"), []byte("x\n"))
	if code != 1 || !strings.Contains(stderr, "byte") || !strings.Contains(stderr, "without --message") {
		t.Errorf("dial --message to a byte server: exit %d, %q", code, stderr)
	}
	if runtime.GOOS != "windows" { // a byte client of a message pipe reads its bytes there
		_, stderr, code = runBounded(t, conduit("dial", msgName, "--timeout", "20s"), []byte("x\n"))
		if code != 1 || !strings.Contains(stderr, "message mode: use --message") {
			t.Errorf("dial to a message server: exit %d, %q", code, stderr)
		}
	}
	for n, want := range map[string]string{byteName: `"type": "byte`, msgName: `"type": "message"`} {
		stdout, stderr, code := runBounded(t, conduit("info", n, "--json"), nil)
		if runtime.GOOS != "windows" {
			want = strings.Replace(want, `"byte`, `"stream"`, 1)
		}
		if code != 0 || !strings.Contains(stdout, want) {
			t.Errorf("info %s: exit %d, %s %s; want %s", n, code, stdout, stderr, want)
		}
	}
	b := "npipe:" + msgName
	if runtime.GOOS != "windows" {
		b = "unix:" + socketPath(t, msgName)
	}
	stdout, stderr, code := runBounded(t, conduit("bridge", "-", b, "--message"), []byte("one\ntwo\n"))
	if code != 0 || stdout != "ONE\nTWO\n" {
		t.Errorf("bridge - %s --message: exit %d, %q, %q", b, code, stdout, stderr)
	}
}

// Item 10: names meant different things per OS; npipe:// and unix://
// forms failed; name.sock became name.sock.sock.
func TestItem10Names(t *testing.T) {
	n := name()
	forms := [][2]string{ // listen with one form, dial with another
		{`\\.\pipe\` + n, n},
		{"npipe://./pipe/" + n + "b", "npipe:" + n + "b"},
		{"npipe:////./pipe/" + n + "c", `\\.\pipe\` + n + "c"},
	}
	if runtime.GOOS != "windows" {
		p := filepath.Join(t.TempDir(), "u.sock")
		forms = append(forms, [2]string{"unix://" + p, "unix:" + p}, [2]string{n + "d.sock", n + "d"})
	}
	for _, f := range forms {
		srv := start(t, conduit("listen", f[0]))
		go func() { srv.stdin.Write([]byte("named")); srv.stdin.Close() }()
		go io.Copy(io.Discard, srv.stdout)
		stdout, stderr, code := runBounded(t, conduit("dial", f[1], "--wait", "--timeout", "20s"), nil)
		if code != 0 || stdout != "named" {
			t.Errorf("listen %s, dial %s: exit %d, %q, %q (listen: %q)", f[0], f[1], code, stdout, stderr, srv.stderr())
		}
		srv.wait(limit)
	}
	if runtime.GOOS != "windows" {
		open := t.TempDir()
		os.Chmod(open, 0o755)
		cmd := conduit("dial", name())
		cmd.Env = append(cmd.Env, "XDG_RUNTIME_DIR="+open)
		_, stderr, _ := runBounded(t, cmd, nil)
		if !strings.Contains(stderr, "warning: XDG_RUNTIME_DIR="+open+" is passed over") {
			t.Errorf("a non-private XDG_RUNTIME_DIR: %q; want a warning", stderr)
		}
	}
}

// Item 11: exit statuses and messages.
func TestItem11Messages(t *testing.T) {
	t.Parallel() // its names are its own
	for _, c := range []struct {
		args []string
		code int
		want string // in stderr
	}{
		{[]string{"listen", ""}, 2, "empty name"},
		{[]string{"listen", name(), "--timeout", "-1s"}, 2, "negative"},
		{[]string{"bridge", "tcp:127.0.0.1:99999", "-"}, 2, "65535"},
		{[]string{"bench", "extra"}, 2, "takes no arguments"},
		{[]string{"dial", name(), "--timeout", "5"}, 2, "5s"},
		{[]string{"dial", name(), "--wait", "--timeout", "1s"}, 1, "within 1s"},
	} {
		_, stderr, code := runBounded(t, conduit(c.args...), nil)
		if code != c.code || !strings.Contains(stderr, c.want) {
			t.Errorf("conduit %q: exit %d, %q; want %d and %q", c.args, code, stderr, c.code, c.want)
		}
		checkOneLine(t, strings.Join(c.args, " "), stderr)
	}
	stdout, _, _ := runBounded(t, conduit("ls", "--help"), nil)
	if strings.Contains(strings.SplitN(stdout, "\n", 2)[0], "  ") {
		t.Errorf("ls --help: %q", strings.SplitN(stdout, "\n", 2)[0])
	}
	if onWine() {
		_, stderr, code := runBounded(t, conduit("dial", `unix:C:\no\such.sock`), nil)
		if code != 1 || !strings.Contains(stderr, "not available on this system") || strings.Contains(stderr, "winapi error") {
			t.Errorf("a unix: socket under Wine: exit %d, %q", code, stderr)
		}
	}
	if runtime.GOOS == "windows" {
		n := name()
		recv := start(t, conduit("mailslot", "recv", n, "--count", "1", "--timeout", "60s"))
		waitFor(t, func() bool { return strings.Contains(recv.stderr(), "receiving on") })
		long := strings.Repeat("m", 100<<10)
		if _, stderr, code := runBounded(t, conduit("mailslot", "send", n), []byte(long+"\n")); code != 0 {
			t.Fatalf("mailslot send of a 100 KiB line: exit %d, %q", code, stderr)
		}
		// Wine truncates a message longer than the reader's buffer
		// (wine-notes.md); Windows gives it whole.
		if got := recv.readAll(); got != long+"\n" && !onWine() {
			t.Errorf("mailslot recv: %d bytes, want %d", len(got), len(long)+1)
		}
	}
}
