package ipc

// Attacks on Listen's making of the socket (issue 16, item 1), on Linux,
// where inotify lets an attacker react to each step within microseconds.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// linkAttack plays the attacker of item 1 in dir until stop is closed or
// rounds Listens have come and gone: when a directory appears whose name
// says it is Listen's temporary one, it renames it away, puts a directory of
// its own (mode 0777, so that the victim may bind there) in its place, and
// when the socket appears in that, swaps it for a symbolic link to target.
// A Listen that then changes the mode "of its socket" by path changes
// target's. It reports how many directories it replaced and how many links
// it planted.
func linkAttack(dir, target string, stop <-chan struct{}, ready func()) (renames, swaps int, err error) {
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC | unix.IN_NONBLOCK)
	if err != nil {
		return 0, 0, err
	}
	defer unix.Close(in)
	if _, err := unix.InotifyAddWatch(in, dir, unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		return 0, 0, err
	}
	ready()
	planted := map[int]string{} // watch descriptor of our directory: its path
	buf := make([]byte, 64<<10)
	for {
		select {
		case <-stop:
			return renames, swaps, nil
		default:
		}
		n, err := unix.Read(in, buf)
		if err == unix.EAGAIN {
			// Spin: a poll would let the victim's next step pass.
			continue
		}
		if err != nil {
			return renames, swaps, err
		}
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			name := string(bytes.TrimRight(buf[off+unix.SizeofInotifyEvent:off+unix.SizeofInotifyEvent+int(ev.Len)], "\x00"))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if d, ok := planted[int(ev.Wd)]; ok {
				// The socket, bound in our directory: make it a link.
				s := filepath.Join(d, name)
				if os.Remove(s) == nil && os.Symlink(target, s) == nil {
					swaps++
				}
				continue
			}
			if ev.Mask&unix.IN_ISDIR == 0 || !strings.Contains(name, "ipc-") || strings.HasSuffix(name, ".moved") {
				continue
			}
			p := filepath.Join(dir, name)
			if os.Rename(p, p+".moved") != nil {
				continue
			}
			if os.Mkdir(p, 0o777) != nil {
				continue
			}
			renames++
			os.Chmod(p, 0o777) // whatever the umask
			if wd, err := unix.InotifyAddWatch(in, p, unix.IN_CREATE); err == nil {
				planted[wd] = p
			}
		}
	}
}

// The same-user simulation of item 1: a goroutine renames Listen's
// temporary directory away, plants its own and swaps the socket for a link
// to a file of mode 0600, for many Listens. The file's mode must never
// change, and every Listen must either fail or leave a socket of the mode
// asked for at the path. Before the fix the file became 0666 in most
// rounds.
func TestListenLinkSwapSameUser(t *testing.T) {
	t.Run("proc", testListenLinkSwapSameUser)
	// Without /proc the socket is bound by the temporary directory's path,
	// which the attacker can make lead to its own directory: the chmod
	// that follows, relative to the directory Listen made, then finds no
	// socket, and Listen fails.
	t.Run("no proc", func(t *testing.T) {
		testNoProc = true
		defer func() { testNoProc = false }()
		testListenLinkSwapSameUser(t)
	})
}

func testListenLinkSwapSameUser(t *testing.T) {
	dir := t.TempDir()
	secretDir := t.TempDir()
	target := filepath.Join(secretDir, "secret")
	if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	wins, renames, swaps, listens := linkSwapRounds(t, dir, target, 200, func() error {
		cfg := Config{AllowOtherUsers: true}
		l, err := cfg.Listen(filepath.Join(dir, "s.sock"))
		if err != nil {
			return err
		}
		defer l.Close()
		fi, err := os.Lstat(filepath.Join(dir, "s.sock"))
		if err != nil || fi.Mode()&fs.ModeSocket == 0 || fi.Mode().Perm() != 0o666 {
			return fmt.Errorf("Listen succeeded, but its path holds %v, %v; want a socket of mode 0666", fi, err)
		}
		return nil
	})
	t.Logf("%d directories replaced, %d links planted, %d Listens succeeded", renames, swaps, listens)
	if renames == 0 {
		t.Error("the attacker never replaced Listen's directory: the test tests nothing")
	}
	if wins > 0 {
		t.Fatalf("Listen changed the mode of a file a planted link pointed at, in %d rounds", wins)
	}
}

// linkSwapRounds runs listen rounds times against linkAttack in dir, and
// counts the rounds after which target's mode was no longer 0600 (putting
// it back each time).
func linkSwapRounds(t *testing.T, dir, target string, rounds int, listen func() error) (wins, renames, swaps, listens int) {
	stop := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var err error
		renames, swaps, err = linkAttack(dir, target, stop, func() {})
		done <- err
	}()
	for range rounds {
		err := listen()
		if err == nil {
			listens++
		} else if strings.Contains(err.Error(), "want a socket") {
			t.Error(err)
		}
		if fi, err := os.Stat(target); err != nil {
			t.Fatal(err)
		} else if fi.Mode().Perm() != 0o600 {
			wins++
			os.Chmod(target, 0o600)
		}
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return wins, renames, swaps, listens
}

// crossUser is the uid and gid of the attacker in the cross-user tests: no
// account has them, which the kernel does not mind.
const crossUser = crossUserID

// The cross-user attack of item 1, for real: the attacker is another user,
// in the group of a setgid group directory (root:group 2770, the typical
// place for an AllowGroup socket) in which a root listener with
// AllowOtherUsers listens again and again; root's file of mode 0600 must
// keep its mode. Listen refuses such a directory now; before the fix the
// attacker won in about a third of the rounds. In a sticky directory
// (/tmp's kind) Listen works and the attacker cannot win either.
func TestListenLinkSwapCrossUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("playing another user takes root")
	}
	base := crossUserDir(t)
	secretDir := filepath.Join(base, "root-only")
	if err := os.Mkdir(secretDir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name       string
		mode       os.FileMode
		wantListen bool
	}{
		{"group directory", 0o2770 | os.ModeSetgid, false},
		{"sticky directory", 0o1777 | os.ModeSticky, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			target := filepath.Join(secretDir, strings.ReplaceAll(c.name, " ", "-"))
			if err := os.WriteFile(target, []byte("x"), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(base, strings.ReplaceAll(c.name, " ", "-"))
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			os.Chown(dir, 0, crossUser)
			if err := os.Chmod(dir, c.mode); err != nil {
				t.Fatal(err)
			}
			stop := startAttacker(t, base, "linkswap "+dir+" "+target)
			var listens, refused int
			for range 300 {
				cfg := Config{AllowOtherUsers: true}
				l, err := cfg.Listen(filepath.Join(dir, "s.sock"))
				if err == nil {
					listens++
					l.Close()
				} else if errors.Is(err, fs.ErrPermission) {
					refused++
				}
				if fi, err := os.Stat(target); err != nil || fi.Mode().Perm() != 0o600 {
					stop()
					t.Fatalf("root's file is now %v, %v: Listen changed its mode through a link the attacker planted", fi.Mode(), err)
				}
			}
			swaps := stop()
			t.Logf("%d Listens succeeded, %d refused the directory, %d links planted", listens, refused, swaps)
			if c.wantListen && listens == 0 {
				t.Errorf("no Listen succeeded in a %s", c.name)
			}
			if !c.wantListen && refused != 300 {
				t.Errorf("%d of 300 Listens in a %s were refused with fs.ErrPermission; want all", refused, c.name)
			}
		})
	}
}

// crossUserDir makes a directory that the cross-user tests' attacker may
// enter, and copies the test binary there for it to run.
func crossUserDir(t *testing.T) string {
	base, err := os.MkdirTemp("", "conduit-attack")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "ipc.test"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	return base
}

// startAttacker starts the test binary, copied by crossUserDir to base, as
// the cross-user attacker in role; stop ends it and returns what it counted.
func startAttacker(t *testing.T, base, role string) (stop func() int) {
	bin := filepath.Join(base, "ipc.test")
	cmd := exec.Command(bin, "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+role)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: crossUser, Gid: crossUser}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The attacker says "ready" once it watches, and at the end how many
	// links it planted.
	lines := bufio.NewScanner(out)
	if !lines.Scan() || lines.Text() != "ready" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("the attacker did not start: %q: %s", lines.Text(), stderr.String())
	}
	var stopped bool
	var n int
	stop = func() int {
		if !stopped {
			stopped = true
			in.Close() // its cue to stop
			if lines.Scan() {
				n, _ = strconv.Atoi(lines.Text())
			}
			if err := cmd.Wait(); err != nil {
				t.Errorf("the attacker: %v: %s", err, stderr.String())
			}
		}
		return n
	}
	t.Cleanup(func() { stop() })
	return stop
}

func init() { osChildren = append(osChildren, attackChild) }

// attackChild plays the cross-user attacker roles; it returns false for a
// role that is not one:
//   - "linkswap DIR TARGET": linkAttack until stdin closes, then prints the
//     links it planted.
//   - "squat PATH": squatChild.
//   - "movesquat DIR": moves DIR/app away, makes its own DIR/app, and
//     squatChild there.
func attackChild(args []string) (int, bool) {
	switch args[0] {
	case "squat":
		return squatChild(args[1]), true
	case "movesquat":
		// The attacker of review 16's F1: in DIR, a directory its group
		// may write to, it moves the server's subdirectory app away,
		// makes its own in its place and listens there.
		app := filepath.Join(args[1], "app")
		if err := os.Rename(app, app+".old"); err != nil {
			fmt.Fprintln(os.Stderr, "attacker:", err)
			return 2, true
		}
		if err := os.Mkdir(app, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "attacker:", err)
			return 2, true
		}
		return squatChild(filepath.Join(app, "s.sock")), true
	}
	if args[0] != "linkswap" {
		return 0, false
	}
	stop := make(chan struct{})
	go func() {
		os.Stdin.Read(make([]byte, 1))
		close(stop)
	}()
	_, n, err := linkAttack(args[1], args[2], stop, func() { fmt.Println("ready") })
	if err != nil {
		fmt.Fprintln(os.Stderr, "attacker:", err)
		return 2, true
	}
	fmt.Println(n)
	return 0, true
}

// squatChild listens on path with a plain socket, as a member of a group
// that squats a server's name would, says "ready", accepts until stdin
// closes, and prints 0.
func squatChild(path string) int {
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "squatter:", err)
		return 2
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	fmt.Println("ready")
	os.Stdin.Read(make([]byte, 1))
	l.Close()
	fmt.Println(0)
	return 0
}

// A member of AllowGroup that puts its own socket at the path while the
// real server is down (item 9), in a directory the group may write to, is
// not taken for the server by a Dial that admits the group; a server of
// the group whose own directory holds its socket still is. The squatter is
// a child process of another uid, in the group.
func TestDialGroupSquat(t *testing.T) {
	needRoot(t)
	base := crossUserDir(t)
	group := strconv.Itoa(crossUserID)
	for _, c := range []struct {
		name  string
		owner int
		mode  os.FileMode
		ok    bool
	}{
		{"group directory", 0, 0o2770 | os.ModeSetgid, false},
		{"sticky directory", 0, 0o1777 | os.ModeSticky, false},
		{"the server's directory", crossUserID, 0o755, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(base, strings.ReplaceAll(c.name, " ", "-"))
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			os.Chown(dir, c.owner, crossUserID)
			if err := os.Chmod(dir, c.mode); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "s.sock")
			stop := startAttacker(t, base, "squat "+path)
			defer stop()
			cfg := Config{AllowGroup: group}
			conn, err := cfg.Dial(t.Context(), path)
			if conn != nil {
				conn.Close()
			}
			switch {
			case c.ok && err != nil:
				t.Fatalf("Dial of a member's server in its own directory: %v", err)
			case !c.ok && !errors.Is(err, fs.ErrPermission):
				t.Fatalf("Dial of a member's socket in a %s = %v, want fs.ErrPermission", c.name, err)
			}
		})
	}
}

// Review 16's F1: Dial with AllowGroup looked only at the socket's own
// directory, so a member of the group that may write to a directory
// further up the path renames the server's directory away, makes its own
// in its place (its own, so "the server's directory" held for it) and
// listens there: the review's client then sent its secret to the attacker.
// Every directory on the path now counts, and a sticky one only for an
// entry of root's or this user's. A path through root's links and
// directories to the server's directory still dials.
func TestDialGroupSquatAncestor(t *testing.T) {
	needRoot(t)
	base := crossUserDir(t)
	group := strconv.Itoa(crossUserID)
	mkdir := func(t *testing.T, path string, uid int, mode os.FileMode) {
		t.Helper()
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chown(path, uid, crossUserID)
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	dial := func(t *testing.T, path string) error {
		cfg := Config{AllowGroup: group}
		conn, err := cfg.Dial(t.Context(), path)
		if conn != nil {
			conn.Close()
		}
		return err
	}
	t.Run("moved subdirectory", func(t *testing.T) {
		shared := filepath.Join(base, "shared")
		mkdir(t, shared, 0, 0o2770|os.ModeSetgid)
		mkdir(t, filepath.Join(shared, "app"), 0, 0o750)
		// The real server, root's, keeps listening throughout.
		l, err := Listen(filepath.Join(shared, "app", "s.sock"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		stop := startAttacker(t, base, "movesquat "+shared)
		defer stop()
		if _, err := os.Lstat(filepath.Join(shared, "app.old", "s.sock")); err != nil {
			t.Fatalf("the attacker did not move the server's directory: %v", err)
		}
		if err := dial(t, filepath.Join(shared, "app", "s.sock")); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Dial of the attacker's socket in the directory it put in place of the server's = %v, want fs.ErrPermission", err)
		}
	})
	t.Run("sticky parent", func(t *testing.T) {
		// The attacker made sticky/app, a free name, and listens in it.
		sticky := filepath.Join(base, "sticky")
		mkdir(t, sticky, 0, 0o1777|os.ModeSticky)
		mkdir(t, filepath.Join(sticky, "app"), crossUserID, 0o755)
		path := filepath.Join(sticky, "app", "s.sock")
		stop := startAttacker(t, base, "squat "+path)
		defer stop()
		if err := dial(t, path); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Dial of a socket in a directory a member made in a sticky one = %v, want fs.ErrPermission", err)
		}
	})
	t.Run("through root's link", func(t *testing.T) {
		// root's directory and link lead to the server's own directory.
		srv := filepath.Join(base, "srv")
		mkdir(t, srv, 0, 0o755)
		mkdir(t, filepath.Join(srv, "app"), crossUserID, 0o750)
		link := filepath.Join(base, "run")
		if err := os.Symlink("srv/./app/../app", link); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(link, "s.sock")
		stop := startAttacker(t, base, "squat "+filepath.Join(srv, "app", "s.sock"))
		defer stop()
		if err := dial(t, path); err != nil {
			t.Fatalf("Dial of a member's server in its own directory, through root's link: %v", err)
		}
	})
	t.Run("link as the socket's name", func(t *testing.T) {
		// root's directory holds a link, as the socket's own name, into a
		// sticky directory where a member listens (the second review's
		// R1: the walk checked the directories only, and the connect
		// followed the link).
		d := filepath.Join(base, "lf")
		mkdir(t, d, 0, 0o755)
		pub := filepath.Join(base, "lfpub")
		mkdir(t, pub, 0, 0o1777|os.ModeSticky)
		target := filepath.Join(pub, "s.sock")
		stop := startAttacker(t, base, "squat "+target)
		defer stop()
		if err := dial(t, target); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Dial of a member's socket in a sticky directory = %v, want fs.ErrPermission", err)
		}
		path := filepath.Join(d, "s.sock")
		if err := os.Symlink(target, path); err != nil {
			t.Fatal(err)
		}
		if err := dial(t, path); !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("Dial through root's link, as the socket's name, into the sticky directory = %v, want fs.ErrPermission", err)
		}
	})
}
