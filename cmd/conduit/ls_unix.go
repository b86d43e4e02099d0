//go:build !windows

package main

import (
	"bufio"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/conduit-ipc/conduit/ipc"
	"golang.org/x/sys/unix"
)

type socketEntry struct {
	Name      string `json:"name"`
	Path      string `json:"path"`
	Listening *bool  `json:"listening"`
}

func lsCmd(asJSON bool) error {
	dir, err := ipc.RuntimeDir()
	if err != nil {
		return err
	}
	des, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	bound := boundSockets()
	entries := []socketEntry{}
	for _, de := range des {
		if de.Type()&fs.ModeSocket == 0 {
			continue
		}
		p := filepath.Join(dir, de.Name())
		entries = append(entries, socketEntry{Name: de.Name(), Path: p, Listening: listening(p, bound)})
	}
	if asJSON {
		return writeJSON(std.out, entries)
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tLISTENING\tPATH")
	for _, e := range entries {
		l := "?"
		if e.Listening != nil {
			l = strconv.FormatBool(*e.Listening)
		}
		fmt.Fprintf(w, "%s\t%s\t%s\n", e.Name, l, e.Path)
	}
	return w.Flush()
}

// listening says whether something listens on the socket at p, without
// connecting to it (which a server would take for a client). An ipc
// listener holds p's lock file with flock while it listens; for another
// program's socket, /proc/net/unix (Linux) names the listening sockets by
// the path they were bound to. nil: unknown.
func listening(p string, bound map[string]bool) *bool {
	yes, no := true, false
	if f, err := os.Open(p + ".lock"); err == nil {
		defer f.Close()
		err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB)
		if err == unix.EWOULDBLOCK {
			return &yes
		}
		if err == nil {
			return &no
		}
	}
	if bound == nil {
		return nil
	}
	if bound[p] {
		return &yes
	}
	return &no
}

// boundSockets returns the paths of listening Unix sockets, from
// /proc/net/unix (Linux); nil where there is no such file.
func boundSockets() map[string]bool {
	f, err := os.Open("/proc/net/unix")
	if err != nil {
		return nil
	}
	defer f.Close()
	m := map[string]bool{}
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
			m[fields[7]] = true
		}
	}
	return m
}
