//go:build !windows

package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
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
