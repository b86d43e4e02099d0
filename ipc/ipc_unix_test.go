//go:build linux || darwin || freebsd

package ipc

import (
	"bytes"
	"errors"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
)

// privateDirFor points the runtime directory at a fresh temporary
// directory for one test, and returns where conduit-<uid> goes.
func privateDirFor(t *testing.T) string {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	t.Setenv("XDG_RUNTIME_DIR", "")
	setHome(t, filepath.Join(tmp, "home"))
	return filepath.Join(tmp, "conduit-"+strconv.Itoa(os.Getuid()))
}

// setHome makes home the home directory of every user for one test, so
// that the runtime directory's fallback is the test's own.
func setHome(t *testing.T, home string) {
	was := homeDirOf
	homeDirOf = func(int) (string, error) { return home, nil }
	t.Cleanup(func() { homeDirOf = was })
}

func TestRuntimeDirCreated(t *testing.T) {
	dir := privateDirFor(t)
	l, err := Listen("app")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if got, want := l.Addr().String(), filepath.Join(dir, "app.sock"); got != want {
		t.Fatalf("Addr %s, want %s", got, want)
	}
	fi, err := os.Lstat(dir)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("runtime directory %v, %v; want a directory of mode 0700", fi.Mode(), err)
	}
	if fi, err := os.Lstat(l.Addr().String()); err != nil || fi.Mode().Perm() != 0o600 || fi.Mode()&fs.ModeSocket == 0 {
		t.Fatalf("socket %v, %v; want a socket of mode 0600", fi.Mode(), err)
	}
}

// A conduit-<uid> directory of this user's that is not private is refused,
// not used (another user's is passed over: TestRuntimeDirSquatted).
func TestRuntimeDirRefused(t *testing.T) {
	for name, setup := range map[string]func(t *testing.T, dir string){
		"group and other access": func(t *testing.T, dir string) {
			os.Mkdir(dir, 0o755)
			os.Chmod(dir, 0o755) // whatever the umask
		},
		"a symbolic link": func(t *testing.T, dir string) {
			real := filepath.Join(filepath.Dir(dir), "elsewhere")
			os.Mkdir(real, 0o700)
			if err := os.Symlink(real, dir); err != nil {
				t.Fatal(err)
			}
		},
		"a file": func(t *testing.T, dir string) {
			os.WriteFile(dir, nil, 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir := privateDirFor(t)
			setup(t, dir)
			for _, op := range []string{"listen", "dial"} {
				var err error
				if op == "listen" {
					var l *Listener
					if l, err = Listen("app"); err == nil {
						l.Close()
					}
				} else {
					_, err = Dial(t.Context(), "app")
				}
				if !errors.Is(err, fs.ErrPermission) {
					t.Errorf("%s in a runtime directory that is %s = %v, want fs.ErrPermission", op, name, err)
				}
			}
		})
	}
}

// $XDG_RUNTIME_DIR is used when it is private, and passed over when not.
func TestXDGRuntimeDir(t *testing.T) {
	fallback := privateDirFor(t)
	xdg := t.TempDir()
	os.Chmod(xdg, 0o700)
	t.Setenv("XDG_RUNTIME_DIR", xdg)
	if p, _, err := socketPath("app"); err != nil || p != filepath.Join(xdg, "app.sock") {
		t.Fatalf("with a private XDG_RUNTIME_DIR: %q, %v", p, err)
	}
	os.Chmod(xdg, 0o755)
	if p, _, err := socketPath("app"); err != nil || p != filepath.Join(fallback, "app.sock") {
		t.Fatalf("with an XDG_RUNTIME_DIR open to others: %q, %v; want the fallback", p, err)
	}
}

// staleSocket leaves a socket file at path that nothing accepts on, as a
// server that died does.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	ln.SetUnlinkOnClose(false)
	ln.Close()
}

func TestStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	staleSocket(t, path)
	if _, err := Dial(t.Context(), path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Dial of a stale socket = %v, want fs.ErrNotExist", err)
	}
	l, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := Dial(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
}

// A live socket of another program, or a file that is not a socket, is
// left alone.
func TestNameTaken(t *testing.T) {
	dir := t.TempDir()
	live := filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if l, err := Listen(live); !errors.Is(err, fs.ErrExist) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Listen on a live socket = %v, want fs.ErrExist", err)
	}
	file := filepath.Join(dir, "file")
	os.WriteFile(file, []byte("keep"), 0o600)
	if l, err := Listen(file); !errors.Is(err, fs.ErrExist) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Listen on a file = %v, want fs.ErrExist", err)
	}
	if b, err := os.ReadFile(file); err != nil || string(b) != "keep" {
		t.Fatalf("the file is now %q, %v", b, err)
	}
	if _, err := net.Dial("unix", live); err != nil {
		t.Fatalf("the live socket no longer answers: %v", err)
	}
}

// Listeners racing for one name: exactly one wins, the others get
// fs.ErrExist, and the winner's socket survives them.
func TestListenRace(t *testing.T) {
	path := filepath.Join(t.TempDir(), "race.sock")
	staleSocket(t, path) // each contender would like to clear it
	const n = 8
	var wg sync.WaitGroup
	results := make(chan any, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, err := Listen(path)
			if err != nil {
				results <- err
				return
			}
			results <- l
		}()
	}
	wg.Wait()
	close(results)
	var winners []*Listener
	for r := range results {
		switch r := r.(type) {
		case *Listener:
			winners = append(winners, r)
		case error:
			if !errors.Is(r, fs.ErrExist) {
				t.Errorf("a losing Listen = %v, want fs.ErrExist", r)
			}
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d listeners won", len(winners))
	}
	defer winners[0].Close()
	go func() {
		if c, err := winners[0].Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := Dial(t.Context(), path)
	if err != nil {
		t.Fatalf("the winner's socket: %v", err)
	}
	c.Close()
}

// Close removes the socket file only if it is still its own.
func TestCloseLeavesOthersSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(path)
	other, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	l.Close()
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("Close removed a socket that was not its own: %v", err)
	}
	l2, err := Listen(filepath.Join(t.TempDir(), "t.sock"))
	if err != nil {
		t.Fatal(err)
	}
	p2 := l2.Addr().String()
	l2.Close()
	if _, err := os.Lstat(p2); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Close left its own socket: %v", err)
	}
}

// The socket's mode and group follow the Config; a short name refuses to
// admit others, whose way into the private directory is shut.
func TestSocketAccess(t *testing.T) {
	dir := t.TempDir()
	// A group other than the process's own, so that the chown shows: a
	// supplementary one, or any as root.
	g := ""
	if groups, _ := os.Getgroups(); len(groups) > 0 {
		for _, gid := range groups {
			if gid != os.Getgid() {
				g = strconv.Itoa(gid)
			}
		}
	}
	if g == "" && os.Geteuid() == 0 {
		g = "4711"
	}
	cases := []struct {
		cfg  Config
		mode os.FileMode
	}{
		{Config{}, 0o600},
		{Config{AllowOtherUsers: true}, 0o666},
	}
	if g != "" {
		cases = append(cases, struct {
			cfg  Config
			mode os.FileMode
		}{Config{AllowGroup: g}, 0o660})
	}
	for _, c := range cases {
		want := strconv.Itoa(os.Getgid())
		if c.cfg.AllowGroup != "" {
			want = c.cfg.AllowGroup
		}
		path := filepath.Join(dir, strconv.Itoa(int(c.mode))+".sock")
		l, err := c.cfg.Listen(path)
		if err != nil {
			t.Fatalf("%+v: %v", c.cfg, err)
		}
		fi, err := os.Lstat(path)
		l.Close()
		if err != nil || fi.Mode().Perm() != c.mode || strconv.Itoa(int(fi.Sys().(*syscall.Stat_t).Gid)) != want {
			t.Errorf("%+v: socket mode %v, %v; want %v, group %s", c.cfg, fi.Mode().Perm(), err, c.mode, want)
		}
		if l, err := c.cfg.Listen(testName()); c.mode != 0o600 && !errors.Is(err, ErrInvalidConfig) {
			if l != nil {
				l.Close()
			}
			t.Errorf("%+v with a short name = %v, want ErrInvalidConfig", c.cfg, err)
		} else if err == nil {
			l.Close()
		}
	}
}

// A lock file that is a symbolic link is not followed: Listen in a
// directory others may write to must not create or lock a file elsewhere.
func TestLockFileLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "elsewhere")
	path := filepath.Join(dir, "s.sock")
	if err := os.Symlink(target, path+".lock"); err != nil {
		t.Fatal(err)
	}
	if l, err := Listen(path); err == nil {
		l.Close()
		t.Fatal("Listen followed a lock file that is a symbolic link")
	}
	if _, err := os.Lstat(target); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the link's target was created: %v", err)
	}
}

// A member of AllowGroup is admitted, as the peer's groups say.
func TestAllowGroupAdmits(t *testing.T) {
	fakePeer(t, Credentials{UserID: otherUserID, GroupIDs: []string{"777", "4711"}})
	path := filepath.Join(t.TempDir(), "g.sock")
	cfg := Config{AllowGroup: "4711"}
	l, err := cfg.Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.AcceptIPC(); err == nil {
			c.Close()
		}
	}()
	if os.Geteuid() == 0 {
		// Root owns the socket's directory, and no one else may write
		// to it: no other member can have put the socket there.
		c, err := cfg.Dial(t.Context(), path)
		if err != nil {
			t.Fatalf("Dial, the server a member of the group: %v", err)
		}
		c.Close()
	}
	// A directory others may write to: any member could be the server
	// (TestDialGroupSquat does it for real).
	os.Chmod(filepath.Dir(path), 0o1777)
	if _, err := cfg.Dial(t.Context(), path); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Dial, the server a member of the group in a directory others may write to = %v, want fs.ErrPermission", err)
	}
	other := Config{AllowGroup: "4712"}
	if _, err := other.Dial(t.Context(), path); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Dial, the server no member = %v, want fs.ErrPermission", err)
	}
}

// A privileged server hands a file its client could not open to a client
// run as another, unprivileged user, which reads it through the descriptor
// it received. Needs root, to start the client as nobody.
func TestSendFileToUnprivileged(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("starting a child as another user takes root")
	}
	// Everything the child needs must be reachable by nobody: the binary
	// and the socket's directory.
	dir, err := os.MkdirTemp("", "conduit-ipc-priv")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "ipc.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret")
	want := "for root's eyes, lent to nobody"
	if err := os.WriteFile(secret, []byte(want), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sock := filepath.Join(dir, "s.sock")
	cfg := Config{MessageMode: true, AllowOtherUsers: true}
	l, err := cfg.Listen(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=unprivileged "+sock+" "+secret)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	c, err := l.AcceptIPC()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if cred, _ := c.PeerCredentials(); cred.UserID != "65534" {
		t.Fatalf("the client runs as %+v, want uid 65534", cred)
	}
	if err := c.SendFile(f); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadMessage()
	if err != nil || string(got) != want {
		t.Fatalf("the unprivileged child read %q, %v; want %q (stderr: %s)", got, err, want, stderr.String())
	}
}
