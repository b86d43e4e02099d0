package ipc

import (
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// rawReader makes recvmsg(2) calls on the runtime poller with a message
// header of its own, reused: no allocation per call and no peer address
// asked for (package net's ReadMsgUnix allocates the address it reports, of
// a peer that a connected socket already knows). Message-mode reads need
// recvmsg rather than read(2), which would drop the descriptors a file
// record carries.
type rawReader struct {
	rc   syscall.RawConn
	msg  unix.Msghdr
	iov  unix.Iovec
	fn   func(fd uintptr) bool // read, bound once
	n    int
	oobn int
	err  error
}

func newRawReader(rc syscall.RawConn) *rawReader {
	r := &rawReader{rc: rc}
	r.fn = r.read
	return r
}

func (r *rawReader) recvmsg(b, oob []byte) (n, oobn, flags int, err error) {
	r.iov.Base = &b[0]
	r.iov.SetLen(len(b))
	r.msg.Iov = &r.iov
	r.msg.SetIovlen(1)
	r.msg.Control = nil
	r.msg.SetControllen(0)
	if len(oob) > 0 {
		r.msg.Control = &oob[0]
		r.msg.SetControllen(len(oob))
	}
	if err := r.rc.Read(r.fn); err != nil {
		return 0, 0, 0, err
	}
	n, oobn, flags, err = r.n, r.oobn, int(r.msg.Flags), r.err
	r.iov.Base, r.msg.Control = nil, nil // keep no buffer alive
	return n, oobn, flags, err
}

// read is one recvmsg; it reports whether the poller may stop waiting.
func (r *rawReader) read(fd uintptr) bool {
	n, _, e := unix.Syscall(unix.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&r.msg)), unix.MSG_CMSG_CLOEXEC)
	if e == unix.EAGAIN {
		return false
	}
	r.n, r.oobn, r.err = int(n), int(r.msg.Controllen), nil
	if e != 0 {
		r.n, r.oobn, r.err = 0, 0, e
	}
	return true
}

// atEnd tells, after a recvmsg that returned no bytes, whether that was the
// end of the stream. Linux's recvmsg on a SOCK_SEQPACKET socket finds the
// receive queue empty, then reports the end if the peer has shut down by
// then (read under the socket's state lock in older kernels, with
// READ_ONCE in 6.x): a peer that writes its last records and
// closes in between has them reported as the end, still queued
// (__unix_dgram_recvmsg, net/unix/af_unix.c). So it asks in the other
// order: a peer not shut down (no POLLRDHUP) sent a record of no bytes;
// one that has can send nothing more, and the end is where no byte is left
// queued (SIOCINQ counts a SOCK_SEQPACKET socket's whole queue).
func (r *rawReader) atEnd() (bool, error) {
	var end bool
	err := controlRaw(r.rc, func(fd int) error {
		p := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLRDHUP}}
		for {
			_, err := unix.Poll(p, 0)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return err
			}
			break
		}
		if p[0].Revents&unix.POLLRDHUP == 0 {
			return nil
		}
		q, err := unix.IoctlGetInt(fd, unix.SIOCINQ)
		end = err == nil && q == 0
		return err
	})
	return end, err
}
