//go:build unix

package anonpipe

import (
	"os"

	"golang.org/x/sys/unix"
)

// pair makes a pipe (or, for duplex, a stream socket pair), both fds
// close-on-exec; the ends marked async are made non-blocking, which puts
// them on the runtime poller in os.NewFile.
func (cfg *Config) pair(s, c end, duplex bool) (*os.File, *os.File, error) {
	size, err := cfg.bufferSize()
	if err != nil {
		return nil, nil, err
	}
	fds, err := newPair(duplex)
	if err != nil {
		return nil, nil, err
	}
	sfd, cfd := fds[0], fds[1] // a pipe's fds[0] reads
	if !duplex && s.write {
		sfd, cfd = cfd, sfd
	}
	if cfg != nil && cfg.BufferSize != 0 {
		if err := setBufferSize(fds, duplex, size); err != nil {
			unix.Close(sfd)
			unix.Close(cfd)
			return nil, nil, err
		}
	}
	for _, e := range []struct {
		fd int
		end
	}{{sfd, s}, {cfd, c}} {
		if err := unix.SetNonblock(e.fd, e.async); err != nil {
			unix.Close(sfd)
			unix.Close(cfd)
			return nil, nil, os.NewSyscallError("setnonblock", err)
		}
	}
	return os.NewFile(uintptr(sfd), "|0"), os.NewFile(uintptr(cfd), "|1"), nil
}
