package ipc

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// peerCredentials reads the credentials the kernel recorded for the peer of
// the connected socket fd: LOCAL_PEERCRED for its user and groups (at most
// 16), LOCAL_PEERPID for its process.
func peerCredentials(fd int, _ bool) (Credentials, error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return Credentials{}, err
	}
	c := Credentials{UserID: strconv.FormatUint(uint64(x.Uid), 10)}
	for _, g := range x.Groups[:min(max(int(x.Ngroups), 0), len(x.Groups))] {
		c.GroupIDs = append(c.GroupIDs, strconv.FormatUint(uint64(g), 10))
	}
	if pid, err := unix.GetsockoptInt(fd, unix.SOL_LOCAL, unix.LOCAL_PEERPID); err == nil {
		c.PID = pid
	}
	return c, nil
}
