//go:build !windows

package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/conduit-ipc/conduit/ipc"
)

type socketEntry struct {
	Name       string `json:"name"`
	Path       string `json:"path"`
	Type       string `json:"type"` // "stream", "message" or "" (unknown)
	Listening  *bool  `json:"listening"`
	ServerPID  *int   `json:"server_pid"`
	ServerUser string `json:"server_user"`
	Owner      string `json:"owner"`
	lockOnly   bool   // a lock file with no socket beside it
}

func lsCmd(o lsOptions) error {
	dir, err := ipc.RuntimeDir()
	if err != nil {
		return err
	}
	warnXDG()
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	bound := boundSockets()
	entries := []socketEntry{}
	for _, de := range des {
		p := filepath.Join(dir, de.Name())
		if de.Type()&fs.ModeSocket == 0 {
			// A lock file whose socket is gone: stale, if no one holds it.
			sock, ok := strings.CutSuffix(p, ".lock")
			if !ok || !o.stale || !de.Type().IsRegular() {
				continue
			}
			if _, err := os.Lstat(sock); errors.Is(err, fs.ErrNotExist) && lockHolder(p) <= 0 {
				name := strings.TrimSuffix(filepath.Base(sock), ".sock")
				if o.match(name) {
					entries = append(entries, socketEntry{Name: name, Path: p, lockOnly: true})
				}
			}
			continue
		}
		// The name as Listen and Dial take it.
		name := strings.TrimSuffix(de.Name(), ".sock")
		if !o.match(name) {
			continue
		}
		e := describeSocket(p, bound)
		e.Name = name
		if o.stale && (e.Listening == nil || *e.Listening) {
			continue
		}
		entries = append(entries, e)
	}
	if o.asJSON {
		return writeJSON(std.out, entries)
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tTYPE\tLISTENING\tPID\tUSER\tPATH")
	for _, e := range entries {
		l, pid := "?", "-"
		if e.Listening != nil {
			l = strconv.FormatBool(*e.Listening)
		}
		if e.lockOnly {
			l = "lock file only"
		}
		if e.ServerPID != nil {
			pid = strconv.Itoa(*e.ServerPID)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\n", e.Name, dash(e.Type), l, pid, dash(e.ServerUser), e.Path)
	}
	return w.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// describeSocket reads what can be known about the socket at p without
// connecting to it (which a server would take for a client).
func describeSocket(p string, bound map[string]string) socketEntry {
	e := socketEntry{Path: p, Type: socketType(bound[p])}
	e.Listening = listening(p, bound)
	if e.Type == "" {
		e.Type = socketType(ipcSocketType(p, bound))
	}
	if fi, err := os.Lstat(p); err == nil {
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			e.Owner = userName(int(st.Uid))
		}
	}
	if pid := lockHolder(p + ".lock"); pid > 0 {
		e.ServerPID = &pid
		if pfi, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			e.ServerUser = userName(int(pfi.Sys().(*syscall.Stat_t).Uid))
		}
	}
	return e
}

// userName is a uid's name, or the uid.
func userName(uid int) string {
	s := strconv.Itoa(uid)
	if u, err := user.LookupId(s); err == nil {
		return u.Username
	}
	return s
}

// socketType names /proc/net/unix's Type: 0001 SOCK_STREAM, 0005
// SOCK_SEQPACKET (ipc's message mode on Linux).
func socketType(t string) string {
	switch t {
	case "0001":
		return "stream"
	case "0005":
		return "message"
	case "0002":
		return "datagram"
	}
	return ""
}

// listening says whether something listens on the socket at p, without
// connecting to it (which a server would take for a client). An ipc
// listener holds p's lock file while it listens (lockHolder); for another
// program's socket, /proc/net/unix (Linux) names the listening sockets by
// the path they were bound to. nil: unknown.
func listening(p string, bound map[string]string) *bool {
	yes, no := true, false
	if _, err := os.Stat(p + ".lock"); err == nil {
		switch pid := lockHolder(p + ".lock"); {
		case pid > 0:
			return &yes
		case pid == 0:
			return &no
		}
		return nil
	}
	if bound == nil {
		return nil
	}
	if _, ok := bound[p]; ok {
		return &yes
	}
	return &no
}

// boundSockets returns the paths of listening Unix sockets, with their
// type, from /proc/net/unix (Linux); nil where there is no such file. Each
// is also keyed by its path, a NUL and its inode.
func boundSockets() map[string]string {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]string{}
	s := bufio.NewScanner(f)
	s.Scan() // the header
	for s.Scan() {
		// Num RefCount Protocol Flags Type St Inode Path
		fields := strings.Fields(s.Text())
		if len(fields) < 8 {
			continue
		}
		flags, err := strconv.ParseUint(fields[3], 16, 32)
		if err == nil && flags&0x10000 != 0 { // __SO_ACCEPTCON: listening
			m[fields[7]] = fields[4]
			m[fields[7]+"\x00"+fields[6]] = fields[4] // with the inode, for ipcSocketType
		}
	}
	return m
}

// rmCmd removes stale sockets and their lock files: those no server
// listens on. It holds the lock file while it removes, so a Listen of the
// name that starts meanwhile fails rather than losing its socket.
func rmCmd(names []string) error {
	var failed error
	for _, n := range names {
		if err := rmOne(n); err != nil {
			report(err)
			failed = fmt.Errorf("rm: %d of %d names not removed", 1, len(names))
		}
	}
	return failed
}

// testHookRmOpened, when set, runs between rm's opening of a lock file and
// its taking the lock.
var testHookRmOpened func(path string)

func rmOne(name string) error {
	t, err := resolveName(name)
	if err != nil {
		return err
	}
	p, err := t.path()
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	sockExists := err == nil
	if sockExists && fi.Mode()&fs.ModeSocket == 0 {
		return fmt.Errorf("rm %s: not a socket: left alone", p)
	}
	lock, lerr := os.OpenFile(p+".lock", os.O_RDWR|syscall.O_NOFOLLOW, 0)
	if lerr == nil {
		defer lock.Close()
		if testHookRmOpened != nil {
			testHookRmOpened(p)
		}
		if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			return fmt.Errorf("rm %s: a server listens on it (it holds %s.lock): stop the server instead", p, p)
		}
		// The lock held must be the one at the path: a server that
		// closed meanwhile removed the file this opened, and a new one
		// may have made its own and listen behind it (ipc's Listener
		// does the same check).
		held, err1 := lock.Stat()
		now, err2 := os.Lstat(p + ".lock")
		if err1 != nil || err2 != nil || !os.SameFile(held, now) {
			return fmt.Errorf("rm %s: its lock file changed while rm took it (a server came or went): run rm again", p)
		}
	}
	if !sockExists && lerr != nil {
		return &os.PathError{Op: "rm", Path: p, Err: fs.ErrNotExist}
	}
	if sockExists {
		if l := listening(p, boundSockets()); l != nil && *l && lerr != nil {
			return fmt.Errorf("rm %s: something listens on it: stop it instead", p)
		}
		if lerr != nil && boundSockets() == nil {
			// No lock and no /proc: a connection refused is the only proof.
			c, err := net.DialTimeout("unix", p, time.Second)
			if err == nil {
				c.Close()
				return fmt.Errorf("rm %s: something listens on it: stop it instead", p)
			}
		}
		if err := os.Remove(p); err != nil {
			return err
		}
	}
	if lerr == nil {
		os.Remove(p + ".lock")
	}
	return nil
}

// ipcSocketType finds the type of the socket an ipc listener serves at p.
// ipc binds it in a directory of its own beside p and renames it into
// place, so /proc/net/unix names it by that first path (ipcBindName); of
// the sockets the lock's holder has open (/proc/PID/fd), the ones
// listening under such a name are it. "" when they do not agree (a holder
// with several ipc listeners of both types bound through /proc/self/fd).
func ipcSocketType(p string, bound map[string]string) string {
	pid := lockHolder(p + ".lock")
	if pid <= 0 || bound == nil {
		return ""
	}
	inodes := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if ino, ok := strings.CutPrefix(l, "socket:["); ok {
			inodes[strings.TrimSuffix(ino, "]")] = true
		}
	}
	found := ""
	for key, typ := range bound {
		path, ino, _ := strings.Cut(key, "\x00")
		if ino == "" || !inodes[ino] {
			continue
		}
		if ipcBindName(p, path) {
			if found != "" && found != typ {
				return ""
			}
			found = typ
		}
	}
	return found
}

// ipcBindName reports whether path, a listening socket's name in
// /proc/net/unix, is one that ipc binds the socket for p at before
// renaming it to p: s in a temporary directory beside p (.BASE.ipc-*/s,
// and .ipc-*/s before issue 16's change), or, on Linux, the same directory
// reached through the descriptor ipc holds for it (/proc/self/fd/N/s),
// which names no directory at all.
func ipcBindName(p, path string) bool {
	dir, base := filepath.Dir(p), filepath.Base(p)
	for _, pattern := range []string{
		filepath.Join(dir, "."+base+".ipc-*", "s"),
		filepath.Join(dir, ".ipc-*", "s"),
		"/proc/self/fd/*/s",
	} {
		if m, _ := filepath.Match(pattern, path); m {
			return true
		}
	}
	return false
}
