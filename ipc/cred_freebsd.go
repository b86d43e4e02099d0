package ipc

import (
	"strconv"
	"unsafe"

	"golang.org/x/sys/unix"
)

// peerCredentials reads the credentials the kernel recorded for the peer of
// the connected socket fd: LOCAL_PEERCRED's xucred, whose last field holds
// the peer's PID from FreeBSD 13 on (cr_pid; 0 before).
func peerCredentials(fd int, _ bool) (Credentials, error) {
	x, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
	if err != nil {
		return Credentials{}, err
	}
	c := Credentials{UserID: strconv.FormatUint(uint64(x.Uid), 10)}
	for _, g := range x.Groups[:min(max(int(x.Ngroups), 0), len(x.Groups))] {
		c.GroupIDs = append(c.GroupIDs, strconv.FormatUint(uint64(g), 10))
	}
	// struct xucred's last member is a union of cr_pid and a pointer, at
	// the end of the structure.
	last := unsafe.Sizeof(*x) - unsafe.Sizeof(uintptr(0))
	c.PID = int(*(*int32)(unsafe.Add(unsafe.Pointer(x), last)))
	return c, nil
}
