package main

import (
	"io"
	"net"
	"time"
)

// splice carries both directions between a and b until both have ended.
// Each side's end is passed to the other as a half-close where it has one;
// where it has none (a byte-mode named pipe), splice waits until that peer
// has read everything, then closes both once the other direction has been
// quiet for t.linger, as netcat does for stdin. A side that has closed
// entirely ends the bridge: nothing more can reach it. A reset, or data
// that could not be delivered, is an error.
func splice(a, b net.Conn, t transfer) error {
	defer a.Close()
	defer b.Close()
	type result struct {
		err        error
		halfClosed bool
		dir        int
	}
	res := make(chan result, 2)
	conns := [2]net.Conn{a, b} // direction i reads conns[i] and writes the other
	act := [2]*activity{newActivity(), newActivity()}
	anyway := newActivity()
	for i := range 2 {
		go func() {
			src, dst := conns[i], conns[1-i]
			err := copyConnToConn(dst, src, t.message, anyway.onData(), act[i])
			if err != nil {
				res <- result{err: err, dir: i}
				return
			}
			r := endInput(dst, func(err error) inResult { return inResult{err: sendError(err)} })
			res <- result{err: r.err, halfClosed: r.halfClosed, dir: i}
		}()
	}
	ended := [2]bool{}
	lingering := -1 // the direction whose quiet ends the bridge
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-res:
			if r.err != nil {
				return r.err
			}
			ended[r.dir] = true
			if ended[0] && ended[1] {
				return nil
			}
			if !r.halfClosed {
				lingering = 1 - r.dir
				act[lingering].touch()
				if t.linger == 0 {
					return nil
				}
			}
		case <-tick.C:
			switch {
			case t.idle > 0 && anyway.quiet(t.idle):
				return errIdle{t.idle}
			case lingering >= 0 && act[lingering].silent(t.linger):
				// The source has given nothing for -t while the
				// direction waited on it; time spent writing to a slow
				// destination does not count (activity.read).
				return nil
			}
			for i := range 2 {
				// Direction i's source has ended; if that side has closed
				// entirely, the other direction has no one to write to.
				if ended[i] && !ended[1-i] && peerGone(conns[i]) {
					return nil
				}
			}
		}
	}
}

// copyConnToConn copies src to dst until src's end: message by message
// when both keep boundaries and message is set (a line a message where one
// side is a byte endpoint, tcp:), else bytes. A failed write
// is sendError's; a read that fails otherwise than by the peer's end is
// readEnd's.
func copyConnToConn(dst, src net.Conn, message bool, onData func(int), act *activity) error {
	ms, okS := src.(messenger)
	md, okD := dst.(messenger)
	readMessage := func() ([]byte, error) {
		var msg []byte
		_, err := act.read(func() (int, error) {
			var err error
			msg, err = ms.ReadMessage()
			return len(msg) + 1, err // a zero-length message is data too
		})
		return msg, err
	}
	if message && okS && okD {
		for {
			msg, err := readMessage()
			if err == nil && len(msg) == 0 && zeroIsEnd(src) {
				return nil
			}
			if err != nil {
				return readEnd(modeError(err))
			}
			onData(len(msg))
			if err := md.WriteMessage(msg); err != nil {
				return sendError(err)
			}
		}
	}
	if message && okS {
		// Messages to a byte endpoint (tcp:): a line each.
		for {
			msg, err := readMessage()
			if err == nil && len(msg) == 0 && zeroIsEnd(src) {
				return nil
			}
			if err != nil {
				return readEnd(modeError(err))
			}
			onData(len(msg))
			if _, err := dst.Write(append(msg, '\n')); err != nil {
				return sendError(err)
			}
		}
	}
	if message && okD {
		// A byte endpoint's lines, each a message.
		return copyConn(dst, readerFunc(func(b []byte) (int, error) {
			n, err := act.read(func() (int, error) { return src.Read(b) })
			onData(n)
			if err != nil && err != io.EOF {
				if rerr := readEnd(err); rerr != nil {
					return n, rerr
				}
				err = io.EOF
			}
			return n, err
		}), true)
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := act.read(func() (int, error) { return src.Read(buf) })
		if n > 0 {
			onData(n)
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return sendError(werr)
			}
		}
		if err != nil {
			return readEnd(err)
		}
	}
}
