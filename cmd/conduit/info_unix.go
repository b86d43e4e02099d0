//go:build !windows

package main

import (
	"fmt"
	"net"
	"os"
	"os/user"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/conduit-ipc/conduit/ipc"
)

type socketInfo struct {
	Path        string `json:"path"`
	Owner       string `json:"owner"`
	OwnerName   string `json:"owner_name"`
	Mode        string `json:"mode"`
	Listening   *bool  `json:"listening"`
	ServerPID   int    `json:"server_pid"`
	ServerUser  string `json:"server_user"`
	ServerImage string `json:"server_image"`
}

func infoCmd(name string, asJSON bool) error {
	path, err := ipc.Path(name)
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
	if u, err := user.LookupId(info.Owner); err == nil {
		info.OwnerName = u.Username
	}
	info.Listening = listening(path, boundSockets())
	// Connecting for a moment tells the server's process: the kernel's
	// record of the listener's credentials.
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		pid, uid := serverCred(c.(*net.UnixConn))
		c.Close()
		info.ServerPID, info.ServerUser = pid, uid
		if pid > 0 {
			info.ServerImage, _ = os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		}
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
	fmt.Fprintf(w, "owner\t%s (uid %s), mode %s\n", info.OwnerName, info.Owner, info.Mode)
	fmt.Fprintf(w, "listening\t%s\n", l)
	if info.ServerPID > 0 || info.ServerUser != "" {
		fmt.Fprintf(w, "server\tpid %d, uid %s %s\n", info.ServerPID, info.ServerUser, info.ServerImage)
	}
	return w.Flush()
}
