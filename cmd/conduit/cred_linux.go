package main

import (
	"net"
	"strconv"

	"golang.org/x/sys/unix"
)

// serverCred returns the PID and uid of the process that listens on the
// socket c is connected to (SO_PEERCRED).
func serverCred(c *net.UnixConn) (int, string) {
	rc, err := c.SyscallConn()
	if err != nil {
		return 0, ""
	}
	var pid int
	var uid string
	rc.Control(func(fd uintptr) {
		if u, err := unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pid, uid = int(u.Pid), strconv.Itoa(int(u.Uid))
		}
	})
	return pid, uid
}
