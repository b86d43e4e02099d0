//go:build linux || darwin || freebsd

package ipc

// Attacks on Listen and on the runtime directory by other users (issue 16,
// items 1, 7, 8 and 12). Those that need a file of another user run as
// root, with a uid no account has, and skip otherwise.

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"
)

func needRoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("making a file another user's takes root")
	}
}

// Listen refuses a directory that others may write to without the sticky
// bit (item 1: there they could swap the socket), and works in a sticky
// one and in one of its own.
func TestListenDirectoryRefused(t *testing.T) {
	// The directories' group is shared with another user: group write is
	// others' (TestListenPrivateGroupDir has the private group's case).
	uid, gid := os.Geteuid(), os.Getegid()
	fakeUserFiles(t, uid, gid, fmt.Sprintf("someone:x:%d:%d::/:/bin/sh\n", uid+1, gid), "")
	for _, c := range []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o700, true},
		{0o755, true},
		{0o770, false},
		{0o777, false},
		{0o757, false},
		{0o1777 | os.ModeSticky, true},
		{0o1770 | os.ModeSticky, true},
	} {
		dir := t.TempDir()
		if err := os.Chmod(dir, c.mode); err != nil {
			t.Fatal(err)
		}
		l, err := Listen(filepath.Join(dir, "s.sock"))
		if l != nil {
			l.Close()
		}
		switch {
		case c.ok && err != nil:
			t.Errorf("Listen in a directory of mode %v: %v", c.mode, err)
		case !c.ok && !errors.Is(err, fs.ErrPermission):
			t.Errorf("Listen in a directory of mode %v = %v, want fs.ErrPermission", c.mode, err)
		case !c.ok:
			wantOpError(t, "Listen in a directory others may write to", err, fs.ErrPermission)
			if names, _ := os.ReadDir(dir); len(names) != 0 {
				t.Errorf("Listen refused a directory of mode %v but left %v in it", c.mode, names)
			}
		}
	}
}

// A directory owned by another user (not root) is refused: its owner could
// swap the socket.
func TestListenDirectoryOfAnotherUser(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	os.Chmod(dir, 0o755)
	if err := os.Chown(dir, crossUserID, crossUserID); err != nil {
		t.Fatal(err)
	}
	if l, err := Listen(filepath.Join(dir, "s.sock")); !errors.Is(err, fs.ErrPermission) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("Listen in another user's directory = %v, want fs.ErrPermission", err)
	}
}

// crossUserID is a uid and gid that no account has, for files of another
// user.
const crossUserID = 54329

// A lock file that is a hard link to a file of this user's (item 8: where
// protected_hardlinks is off, or on FreeBSD and macOS, another user can
// link root's files) is never locked, and fails Listen with fs.ErrExist;
// so does another user's lock file, and a symbolic link (item 12).
func TestLockFileNotOurs(t *testing.T) {
	t.Run("hard link", func(t *testing.T) {
		dir := t.TempDir()
		victim := filepath.Join(dir, "passwd")
		if err := os.WriteFile(victim, []byte("root:x:0:0"), 0o600); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "s.sock")
		if err := os.Link(victim, path+".lock"); err != nil {
			t.Fatal(err)
		}
		if l, err := Listen(path); !errors.Is(err, fs.ErrExist) {
			if l != nil {
				defer l.Close()
			}
			t.Errorf("Listen with a lock file hard-linked to another file = %v, want fs.ErrExist", err)
		}
		f, err := os.Open(victim)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			t.Errorf("the linked file is locked: %v", err)
		}
	})
	t.Run("symbolic link", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "s.sock")
		if err := os.Symlink(filepath.Join(dir, "elsewhere"), path+".lock"); err != nil {
			t.Fatal(err)
		}
		l, err := Listen(path)
		if l != nil {
			l.Close()
		}
		wantOpError(t, "Listen with a lock file that is a symbolic link", err, fs.ErrExist)
	})
	t.Run("another user's", func(t *testing.T) {
		needRoot(t)
		dir := t.TempDir()
		path := filepath.Join(dir, "s.sock")
		if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chown(path+".lock", crossUserID, crossUserID)
		l, err := Listen(path)
		if l != nil {
			l.Close()
		}
		wantOpError(t, "Listen with another user's lock file", err, fs.ErrExist)
	})
}

// A socket of another user's at the path is left alone and not connected
// to (item 12: its owner would learn the pid of whoever asked), and Listen
// fails with fs.ErrExist.
func TestListenLeavesOthersSocket(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	squat, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer squat.Close()
	if err := os.Lchown(path, crossUserID, crossUserID); err != nil {
		t.Fatal(err)
	}
	l, err := Listen(path)
	if l != nil {
		l.Close()
	}
	wantOpError(t, "Listen over another user's live socket", err, fs.ErrExist)
	// Accept what is queued, without waiting: the listening socket is
	// non-blocking (a deadline in the past would not even look).
	err = control(squat, func(fd int) error {
		nfd, _, err := unix.Accept(fd)
		if err == nil {
			unix.Close(nfd)
		}
		return err
	})
	if err == nil {
		t.Fatal("Listen connected to another user's socket")
	}
	if err != unix.EAGAIN {
		t.Fatal(err)
	}
}

// A socket that appears at the path after the stale one was cleared is not
// replaced (item 12: rename(2) would have): Listen fails with fs.ErrExist
// and the newcomer keeps its name.
func TestListenDoesNotReplace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	var other *net.UnixListener
	testHookBeforeRename = func() {
		var err error
		other, err = net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
		if err != nil {
			t.Error(err)
		}
	}
	defer func() { testHookBeforeRename = nil }()
	l, err := Listen(path)
	if l != nil {
		l.Close()
	}
	if other == nil {
		t.FailNow()
	}
	defer other.Close()
	wantOpError(t, "Listen where another socket appeared meanwhile", err, fs.ErrExist)
	go func() {
		if c, err := other.Accept(); err == nil {
			c.Close()
		}
	}()
	if c, err := net.Dial("unix", path); err != nil {
		t.Fatalf("the newcomer's socket was replaced: %v", err)
	} else {
		c.Close()
	}
	if names, _ := filepath.Glob(filepath.Join(dir, ".*ipc-*")); len(names) != 0 {
		t.Errorf("Listen left %v", names)
	}
}

// What a Listen that died between making the socket and moving it into
// place leaves (item 12) is cleared by the next Listen of the name, and
// only that.
func TestListenClearsLeftovers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	left := filepath.Join(dir, tempPrefix("s.sock")+"0badc0de")
	other := filepath.Join(dir, tempPrefix("t.sock")+"0badc0de")
	for _, d := range []string{left, other} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
		staleSocket(t, filepath.Join(d, "s"))
	}
	l, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	if _, err := os.Lstat(left); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the leftover of s.sock is still there: %v", err)
	}
	if _, err := os.Lstat(other); err != nil {
		t.Errorf("the leftover of another name was removed: %v", err)
	}
}

// /tmp/conduit-<uid> taken by another user (item 7) no longer makes every
// short-name Listen and Dial fail: they agree on ~/.cache/conduit-<uid>.
func TestRuntimeDirSquatted(t *testing.T) {
	needRoot(t)
	dir := privateDirFor(t)
	home := t.TempDir()
	setHome(t, home)
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, crossUserID, crossUserID); err != nil {
		t.Fatal(err)
	}
	l, err := Listen("app")
	if err != nil {
		t.Fatalf("Listen with /tmp's directory squatted: %v", err)
	}
	defer l.Close()
	want := filepath.Join(home, ".cache", "conduit-"+strconv.Itoa(os.Geteuid()), "app.sock")
	if got := l.Addr().String(); got != want {
		t.Fatalf("Listen is at %s, want %s", got, want)
	}
	accepted := acceptOne(t, l)
	c, err := Dial(t.Context(), "app")
	if err != nil {
		t.Fatalf("Dial with /tmp's directory squatted: %v", err)
	}
	c.Close()
	(<-accepted).Close()
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("the squatter's directory got %v", names)
	}
}

// squat makes dir another user's directory, as a squatter in /tmp would.
func squat(t *testing.T, dir string) {
	t.Helper()
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, crossUserID, crossUserID); err != nil {
		t.Fatal(err)
	}
}

// Review 16's F3: the squatter of /tmp/conduit-<uid> removes its directory
// again once a Listen has moved to the fallback. Dial must still find the
// server there, and a second Listen of the name must still fail: the choice
// no longer follows the squatter's coming and going. Before the fix Dial
// looked in /tmp again (ENOENT) and a second Listen got the name there.
func TestRuntimeDirSquatToggled(t *testing.T) {
	needRoot(t)
	dir := privateDirFor(t)
	home := t.TempDir()
	setHome(t, home)
	squat(t, dir)
	l, err := Listen("app")
	if err != nil {
		t.Fatalf("Listen with /tmp's directory squatted: %v", err)
	}
	defer l.Close()
	if err := os.Remove(dir); err != nil {
		t.Fatal(err)
	}
	accepted := acceptOne(t, l)
	c, err := Dial(t.Context(), "app")
	if err != nil {
		t.Fatalf("Dial once the squatter has left: %v", err)
	}
	c.Close()
	(<-accepted).Close()
	if l2, err := Listen("app"); err == nil {
		l2.Close()
		t.Fatalf("a second Listen of the name succeeded, at %s, once the squatter had left", l2.Addr())
	} else if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("a second Listen of the name = %v, want fs.ErrExist", err)
	}
	if d, err := RuntimeDir(); err != nil || d != filepath.Dir(l.Addr().String()) {
		t.Errorf("RuntimeDir = %s, %v; want the fallback %s", d, err, filepath.Dir(l.Addr().String()))
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("/tmp's directory was made again while the fallback exists: %v", err)
	}
}

// The fallback works where ~/.cache is a symbolic link to a directory of
// the user's (a cache on another disk) and where it is writable by the
// user's private group (Fedora's umask 002), and is refused where a group
// with other members may write to it (F3, F4). Before the fix the link and
// the private group failed Listen.
func TestRuntimeDirCacheKinds(t *testing.T) {
	needRoot(t)
	fakeUserFiles(t, 0, 0, "", "")
	for _, c := range []struct {
		name  string
		setup func(t *testing.T, home string)
		ok    bool
	}{
		{"link", func(t *testing.T, home string) {
			elsewhere := filepath.Join(home, "elsewhere")
			os.Mkdir(elsewhere, 0o700)
			if err := os.Symlink(elsewhere, filepath.Join(home, ".cache")); err != nil {
				t.Fatal(err)
			}
		}, true},
		{"private group", func(t *testing.T, home string) {
			os.Mkdir(filepath.Join(home, ".cache"), 0o700)
			os.Chmod(filepath.Join(home, ".cache"), 0o775)
		}, true},
		{"shared group", func(t *testing.T, home string) {
			os.Mkdir(filepath.Join(home, ".cache"), 0o700)
			os.Chown(filepath.Join(home, ".cache"), 0, crossUserID)
			os.Chmod(filepath.Join(home, ".cache"), 0o775)
		}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := privateDirFor(t)
			home := t.TempDir()
			os.Chmod(home, 0o755)
			setHome(t, home)
			c.setup(t, home)
			squat(t, dir)
			l, err := Listen("app")
			switch {
			case c.ok && err != nil:
				t.Fatalf("Listen with /tmp's directory squatted and ~/.cache a %s: %v", c.name, err)
			case !c.ok && !errors.Is(err, fs.ErrPermission):
				t.Fatalf("Listen with ~/.cache writable by a %s = %v, want fs.ErrPermission", c.name, err)
			case c.ok:
				defer l.Close()
				want := filepath.Join(home, ".cache", "conduit-0", "app.sock")
				if got := l.Addr().String(); got != want {
					t.Fatalf("Listen is at %s, want %s", got, want)
				}
			}
		})
	}
}

// Close removes the name's lock file (issue 17's helper counted about
// 1,200 left in the runtime directory after the test suites), and a lock
// whose flock lands on a lock file that Close removed meanwhile is not taken
// for the name's: here one opens the lock file, its holder lets go (as
// Close does: removes it, then unlocks), another makes and locks a new one,
// and only then does the first's flock run. It must fail with fs.ErrExist;
// without the check that the locked file is still the one at the path, two
// would hold the name's lock (and the second would clear the third's
// temporary directory, which the lock says no one is making).
func TestListenLockRemovedRace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	l1, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	l1.Close()
	if _, err := os.Lstat(path + ".lock"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Close left the lock file: %v", err)
	}
	d, err := openDir(dir, os.Geteuid())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	euid := os.Geteuid()
	first, err := lockName(d, "s.sock", euid)
	if err != nil {
		t.Fatal(err)
	}
	var third *os.File
	var err3 error
	fired := false
	testHookBeforeFlock = func() {
		if fired {
			return
		}
		fired = true
		unlock(d, "s.sock.lock", first)
		third, err3 = lockName(d, "s.sock", euid)
	}
	defer func() { testHookBeforeFlock = nil }()
	second, err := lockName(d, "s.sock", euid)
	testHookBeforeFlock = nil
	if err3 != nil {
		t.Fatalf("the third lock, once the first was let go: %v", err3)
	}
	defer third.Close()
	if err == nil {
		second.Close()
		t.Fatal("two hold the name's lock: the second locked the lock file the first had removed")
	}
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("the second lock = %v, want fs.ErrExist", err)
	}
	unlock(d, "s.sock.lock", third)
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("left %v", names)
	}
}

// Many Listens and Closes of one name at once: never two listening, and
// nothing left behind.
func TestListenLockChurn(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.sock")
	var live, most atomic.Int32
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 200 {
				l, err := Listen(path)
				if err != nil {
					if !errors.Is(err, fs.ErrExist) {
						t.Error(err)
						return
					}
					continue
				}
				n := live.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				live.Add(-1)
				l.Close()
			}
		}()
	}
	wg.Wait()
	if most.Load() > 1 {
		t.Errorf("%d listeners held the name at once", most.Load())
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("the listeners left %v", names)
	}
}
