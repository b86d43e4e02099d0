//go:build !windows

package main

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
)

// Item 6: dial refused another user's server with no way to allow it,
// while bridge - unix:... connected. Run as root: the server is root's
// (a service's socket, open to nobody with --allow), the client nobody.
func TestItem6OtherUsersServer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: a server run by one user and a client run by another")
	}
	dir := t.TempDir()
	for d := dir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755) // nobody reaches the socket and the binary
	}
	exe := filepath.Join(dir, "conduit")
	copyFile(t, os.Args[0], exe)
	sock := filepath.Join(dir, "service.sock")
	srv := start(t, conduit("listen", sock, "--keep-open", "--allow", "nobody", "--exec", upperCommand()))
	waitFor(t, func() bool { _, err := os.Stat(sock); return err == nil })
	asNobody := func(args ...string) *exec.Cmd {
		cmd := exec.Command(exe, args...)
		cmd.Env = append(os.Environ(), mainEnv+"=1")
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		return cmd
	}
	for _, c := range []struct {
		args      []string
		code      int
		stdout    string
		stderrHas string
	}{
		{[]string{"dial", sock}, 1, "", "--server-user 0, or --any-server"},
		{[]string{"dial", sock, "--server-user", "root"}, 0, "HI\n", ""},
		{[]string{"dial", sock, "--server-user", "0"}, 0, "HI\n", ""},
		{[]string{"dial", sock, "--any-server"}, 0, "HI\n", "warning: --any-server"},
		{[]string{"dial", sock, "--server-user", "nobody"}, 1, "", "not user nobody"},
	} {
		stdout, stderr, code := runBounded(t, asNobody(c.args...), []byte("hi\n"))
		if code != c.code || stdout != c.stdout || !strings.Contains(stderr, c.stderrHas) {
			t.Errorf("as nobody, %q: exit %d, %q, %q; want %d, %q, %q (server: %q)", c.args, code, stdout, stderr, c.code, c.stdout, c.stderrHas, srv.stderr())
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// rm takes a stale name's lock, then checks that the lock file it holds is
// still the one at the path: a server that closed meanwhile removed the
// file rm had opened, and a new server made its own and listens; rm must
// not remove the new server's socket and lock (second review, R6: it did).
func TestRmLockReplaced(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o700); err != nil { // a private runtime directory
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", dir)
	if std.err == nil {
		std = stdio{os.Stdin, io.Discard, io.Discard}
	}
	name := "rmrace"
	tg, err := resolveName(name)
	if err != nil {
		t.Fatal(err)
	}
	p, err := tg.path()
	if err != nil {
		t.Fatal(err)
	}
	// A stale name: a socket nobody listens on, and its lock file.
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if err := os.WriteFile(p+".lock", nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// Between rm's open and its flock: the lock file is replaced by a new
	// one (a new server's), which rm's open file no longer is.
	testHookRmOpened = func(string) {
		os.Remove(p + ".lock")
		os.WriteFile(p+".lock", []byte("new"), 0o600)
	}
	defer func() { testHookRmOpened = nil }()
	err = rmOne(name)
	if err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("rm with its lock file replaced meanwhile = %v, want a refusal", err)
	}
	if _, err := os.Lstat(p); err != nil {
		t.Errorf("rm removed the socket although the lock it held was not the name's: %v", err)
	}
	if b, err := os.ReadFile(p + ".lock"); err != nil || string(b) != "new" {
		t.Errorf("rm removed or changed the new lock file: %q, %v", b, err)
	}
}

// A SIGTERM that came after listen made the socket but before the signal
// watcher had the listener exited at once and left the socket behind
// (TestItem7Cleanup under load: "... is still there"). The child takes the
// signal in that window, every time, and must still remove its socket.
func TestSignalWhileListening(t *testing.T) {
	t.Parallel() // its name is its own
	n := name()
	path := socketPath(t, n)
	stdout, stderr, code := runBounded(t, conduit("__sigearly", n), nil)
	if code != 1 || !strings.Contains(stderr, "interrupted") {
		t.Errorf("exit %d, %q %q; want 1, interrupted", code, stdout, stderr)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("%s is still there (%v)", path, err)
	}
}

func sigEarlyChild(name string) {
	std = stdio{os.Stdin, os.Stdout, os.Stderr}
	t, err := resolveName(name)
	if err != nil {
		panic(err)
	}
	sig := watchSignals(false)
	l, err := listenPipe(t, pipeOptions{oneShot: true})
	if err != nil {
		panic(err)
	}
	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	for !sig.fired() {
		runtime.Gosched() // the watcher exits here without the fix
	}
	sig.attach(l)
	os.Exit(0) // not reached: attach exits
}
