//go:build !windows

package main

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
	"text/tabwriter"
)

type socketInfo struct {
	Path        string `json:"path"`
	Type        string `json:"type"` // "stream", "message" or "" (unknown)
	Owner       string `json:"owner"`
	OwnerName   string `json:"owner_name"`
	Mode        string `json:"mode"`
	Listening   *bool  `json:"listening"`
	ServerPID   *int   `json:"server_pid"`
	ServerUser  string `json:"server_user"`
	ServerImage string `json:"server_image"`
}

func infoCmd(name string, asJSON bool) error {
	t, err := resolveName(name)
	if err != nil {
		return err
	}
	path, err := t.path()
	if err != nil {
		return err
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return err
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("%s is not a socket", path)
	}
	st := fi.Sys().(*syscall.Stat_t)
	info := socketInfo{Path: path, Owner: strconv.Itoa(int(st.Uid)), Mode: fmt.Sprintf("%04o", fi.Mode().Perm())}
	info.OwnerName = userName(int(st.Uid))
	if info.OwnerName == info.Owner {
		info.OwnerName = ""
	}
	// The server, from the lock file an ipc listener holds and from
	// /proc: no connection is made, which the server would take for a
	// client.
	e := describeSocket(path, boundSockets())
	info.Type, info.Listening, info.ServerPID = e.Type, e.Listening, e.ServerPID
	if e.ServerPID != nil {
		pid := *e.ServerPID
		if pfi, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			info.ServerUser = strconv.Itoa(int(pfi.Sys().(*syscall.Stat_t).Uid))
		}
		info.ServerImage, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	}
	if asJSON {
		return writeJSON(std.out, info)
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', 0)
	l := "unknown"
	if info.Listening != nil {
		l = strconv.FormatBool(*info.Listening)
	}
	fmt.Fprintf(w, "path\t%s\n", info.Path)
	fmt.Fprintf(w, "type\t%s\n", dash(info.Type))
	fmt.Fprintf(w, "owner\t%s (uid %s), mode %s\n", info.OwnerName, info.Owner, info.Mode)
	fmt.Fprintf(w, "listening\t%s\n", l)
	if info.ServerPID != nil {
		fmt.Fprintf(w, "server\tpid %d, uid %s (%s) %s\n", *info.ServerPID, info.ServerUser, e.ServerUser, info.ServerImage)
	}
	return w.Flush()
}
