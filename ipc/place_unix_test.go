//go:build linux || darwin || freebsd

package ipc

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// fakeUserFiles points privateGroup at user database files of the test's
// own for one test: a user u<uid> of primary group gid, a group u<uid> of
// gid with no members, and the extra lines given.
func fakeUserFiles(t *testing.T, uid, gid int, passwd, group string) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "passwd")
	gr := filepath.Join(dir, "group")
	if err := os.WriteFile(pw, fmt.Appendf(nil, "# users\nu%d:x:%d:%d::/:/bin/sh\n%s", uid, uid, gid, passwd), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(gr, fmt.Appendf(nil, "u%d:x:%d:\n%s", uid, gid, group), 0o644); err != nil {
		t.Fatal(err)
	}
	wasP, wasG := passwdFile, groupFile
	passwdFile, groupFile = pw, gr
	t.Cleanup(func() { passwdFile, groupFile = wasP, wasG })
}

// Review 16's F4: Listen refused a 0775 directory in the user's own home on
// user-private-group systems (Fedora, RHEL: umask 002), where no one else
// is in the group. Group write by the owner's private group now counts for
// nothing; by a group another user has as primary group, or one that
// lists another member, or whose name is not the user's, it still refuses.
// Before the fix every case was refused.
func TestListenPrivateGroupDir(t *testing.T) {
	uid, gid := os.Geteuid(), os.Getegid()
	other := fmt.Sprintf("someone:x:%d:%d::/:/bin/sh\n", uid+1, gid)
	for _, c := range []struct {
		name          string
		passwd, group string
		private       bool
	}{
		{"private group", "", "", true},
		{"another member", "", fmt.Sprintf("u%d:x:%d:someone\n", uid, gid), false},
		{"another user's primary group", other, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			fakeUserFiles(t, uid, gid, c.passwd, c.group)
			if c.group != "" {
				// The group's entry as the test gives it, not the default.
				os.WriteFile(groupFile, []byte(c.group), 0o644)
			}
			dir := t.TempDir()
			os.Chown(dir, uid, gid)
			if err := os.Chmod(dir, 0o775); err != nil {
				t.Fatal(err)
			}
			if got := privateGroup(uint32(uid), uint32(gid)); got != c.private {
				t.Errorf("privateGroup = %v, want %v", got, c.private)
			}
			l, err := Listen(filepath.Join(dir, "s.sock"))
			if l != nil {
				l.Close()
			}
			switch {
			case c.private && err != nil:
				t.Fatalf("Listen in a 0775 directory of the user's private group: %v", err)
			case !c.private && !errors.Is(err, fs.ErrPermission):
				t.Fatalf("Listen in a 0775 directory whose group has others = %v, want fs.ErrPermission", err)
			}
		})
	}
	t.Run("group of another name", func(t *testing.T) {
		fakeUserFiles(t, uid, gid, "", "")
		os.WriteFile(groupFile, fmt.Appendf(nil, "users:x:%d:\n", gid), 0o644)
		if privateGroup(uint32(uid), uint32(gid)) {
			t.Error("a group not of the user's name was taken for its private group")
		}
	})
	t.Run("no such files", func(t *testing.T) {
		fakeUserFiles(t, uid, gid, "", "")
		os.Remove(passwdFile)
		if privateGroup(uint32(uid), uint32(gid)) {
			t.Error("without a user database a group was taken for private")
		}
	})
}

// walkPlace follows links and .. as the kernel does, and check refuses a
// directory on the path that others may write to.
func TestWalkPlace(t *testing.T) {
	base := t.TempDir()
	os.Chmod(base, 0o755)
	real := filepath.Join(base, "real")
	os.MkdirAll(filepath.Join(real, "sub"), 0o755)
	os.Symlink("real/sub/..", filepath.Join(base, "link"))
	p, err := walkPlace(filepath.Join(base, "link", "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.close()
	if p.dir != real || p.name != "s.sock" {
		t.Errorf("walk led to %s, %s; want %s, s.sock", p.dir, p.name, real)
	}
	me := uint32(os.Geteuid())
	if err := p.check(me, me); err != nil {
		t.Errorf("check of the test's own directories: %v", err)
	}
	os.Chmod(real, 0o777)
	q, err := walkPlace(filepath.Join(base, "link", "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer q.close()
	if err := q.check(me, me); err == nil {
		t.Error("check passed a directory every user may write to")
	}
	if _, err := walkPlace(filepath.Join(base, "missing", "s.sock")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("walk of a missing directory = %v, want fs.ErrNotExist", err)
	}
	os.Symlink("loop", filepath.Join(base, "loop"))
	if _, err := walkPlace(filepath.Join(base, "loop", "s.sock")); err == nil {
		t.Error("walk of a link to itself succeeded")
	}
}
