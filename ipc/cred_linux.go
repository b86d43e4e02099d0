package ipc

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peerCredentials reads the credentials the kernel recorded for the peer of
// the connected socket fd when it connected: SO_PEERCRED, and, if groups,
// SO_PEERGROUPS (Linux 4.13 and later) for its supplementary groups (one
// system call more, made only when something needs them).
func peerCredentials(fd int, groups bool) (Credentials, error) {
	u, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return Credentials{}, err
	}
	c := Credentials{PID: int(u.Pid), UserID: strconv.FormatUint(uint64(u.Uid), 10)}
	if groups {
		// SO_PEERGROUPS gives the supplementary groups only: the primary
		// one comes first, from SO_PEERCRED.
		primary := strconv.FormatUint(uint64(u.Gid), 10)
		c.GroupIDs = []string{primary}
		for _, g := range peerGroups(fd) {
			if g != primary {
				c.GroupIDs = append(c.GroupIDs, g)
			}
		}
	}
	return c, nil
}

// peerGroups returns the peer's groups from SO_PEERGROUPS, or nil if the
// kernel does not have it. x/sys has no call for an option that returns an
// array, so it is getsockopt itself.
func peerGroups(fd int) []string {
	buf := make([]uint32, 64)
	for {
		size := uint32(len(buf) * 4)
		_, _, e := unix.Syscall6(unix.SYS_GETSOCKOPT, uintptr(fd), unix.SOL_SOCKET, unix.SO_PEERGROUPS,
			uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&size)), 0)
		if e == unix.ERANGE && int(size/4) > len(buf) {
			buf = make([]uint32, size/4)
			continue
		}
		if e != 0 {
			return nil
		}
		groups := make([]string, 0, size/4)
		for _, g := range buf[:size/4] {
			groups = append(groups, strconv.FormatUint(uint64(g), 10))
		}
		return groups
	}
}
