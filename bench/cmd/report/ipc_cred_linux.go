package main

import "golang.org/x/sys/unix"

// peerUID is the uid SO_PEERCRED reports for the peer of the connected
// socket fd: the check ipc makes on both ends, by hand.
func peerUID(fd int) (int, error) {
	u, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return 0, err
	}
	return int(u.Uid), nil
}
