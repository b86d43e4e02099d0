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
