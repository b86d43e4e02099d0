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
		// The name as Listen and Dial take it.
		entries = append(entries, socketEntry{Name: strings.TrimSuffix(de.Name(), ".sock"), Path: p, Listening: listening(p, bound)})
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
// listener holds p's lock file while it listens (lockHolder); for another
// program's socket, /proc/net/unix (Linux) names the listening sockets by
// the path they were bound to. nil: unknown.
func listening(p string, bound map[string]bool) *bool {
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
