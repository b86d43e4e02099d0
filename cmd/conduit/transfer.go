package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conduit-ipc/conduit/anonpipe"
)

// transfer says how stdio and a connection are joined: socat's knobs.
type transfer struct {
	message  bool
	sendOnly bool // -u: stdin to the peer; what the peer sends is discarded
	recvOnly bool // -U: the peer to stdout; stdin is not read
	// linger (-t): once stdin has ended on a connection that cannot pass
	// the end on (a byte-mode named pipe), and the peer has read all of it,
	// how long the peer may send nothing before conduit closes. Set
	// explicitly, it applies after a half-close too, and bounds how long
	// stdin may give nothing once the peer's side has ended (socat's -t).
	linger    time.Duration
	lingerSet bool
	idle      time.Duration // -T: close (exit 1) when nothing moved either way for this long; 0: never
	verbose   bool
	// keep: stdin outlives the connection (listen --keep-open): a peer
	// that leaves before stdin ends ends its connection cleanly, and what
	// stdin gives next goes to the next client.
	keep bool
}

// defaultLinger is -t's default for listen and dial: long enough for a
// peer to answer what it has just read, short enough for a script.
const defaultLinger = time.Second

// transferFlags registers -t, -T, -u, -U and -v (with long names).
func transferFlags(fs *flag.FlagSet, t *transfer, linger time.Duration) {
	t.linger = linger
	lf := &durationFlag{d: &t.linger, set: &t.lingerSet}
	fs.Var(lf, "t", "linger: once stdin has ended where the pipe cannot pass the end on (a byte-mode named pipe) and the peer has read it all, close after the peer has sent nothing for this long; given, it applies after a half-close too, and bounds how long stdin may give nothing once the peer's side has ended (socat's -t)")
	fs.Var(lf, "linger", "the same as -t")
	idle := &durationFlag{d: &t.idle}
	fs.Var(idle, "T", "idle timeout: when nothing has moved either way for this long, close and exit 1 (0: never; socat's -T)")
	fs.Var(idle, "idle-timeout", "the same as -T")
	fs.BoolVar(&t.sendOnly, "u", false, "one way, stdin to the peer: what the peer sends is read and discarded; exit once stdin has ended and the peer has read it (socat's -u)")
	fs.BoolVar(&t.sendOnly, "send-only", false, "the same as -u")
	fs.BoolVar(&t.recvOnly, "U", false, "one way, the peer to stdout: stdin is not read, and the end of it is passed on at once where the pipe can (socat's -U)")
	fs.BoolVar(&t.recvOnly, "recv-only", false, "the same as -U")
	fs.BoolVar(&t.verbose, "v", false, "verbose: log each connection, with the peer's process ID and user, and how it ended, on stderr")
	fs.BoolVar(&t.verbose, "verbose", false, "the same as -v")
}

func (t transfer) check() error {
	if t.sendOnly && t.recvOnly {
		return usagef("-u (send only) and -U (receive only) exclude each other")
	}
	return nil
}

// A messenger keeps message boundaries: *namedpipe.Conn and *ipc.Conn.
type messenger interface {
	ReadMessage() ([]byte, error)
	WriteMessage([]byte) error
}

type halfCloser interface{ CloseWrite() error }

// flusher waits until the peer has read everything written:
// *namedpipe.Conn (FlushFileBuffers).
type flusher interface{ Flush() error }

// activity is when data last moved, for -t and -T.
type activity struct {
	last    atomic.Int64 // UnixNano
	waiting atomic.Bool  // a read of the source is waiting for data (see read)
}

func (a *activity) touch()                     { a.last.Store(time.Now().UnixNano()) }
func (a *activity) since() time.Duration       { return time.Since(time.Unix(0, a.last.Load())) }
func (a *activity) onData() func(int)          { return func(int) { a.touch() } }
func both(f, g func(int)) func(int)            { return func(n int) { f(n); g(n) } }
func newActivity() *activity                   { a := new(activity); a.touch(); return a }
func (a *activity) quiet(d time.Duration) bool { return a.since() >= d }

// read runs f, a read of the source a's clock watches (the peer, stdin),
// as time the source may be silent: silent's clock runs only while such a
// read waits, from when it began or the source last gave data. The time
// spent delivering what was read (to a slow stdout, to a peer that reads
// slowly) is not the source's silence: counted as such, -t cut a transfer
// short whenever the consumer was slower than -t (exit 0, output short, on
// a byte-mode pipe; exit 1, data unsent, with -t after a half-close). a may
// be nil.
func (a *activity) read(f func() (int, error)) (int, error) {
	if a == nil {
		return f()
	}
	a.touch()
	a.waiting.Store(true)
	n, err := f()
	a.waiting.Store(false)
	if n > 0 {
		a.touch()
	}
	return n, err
}

// silent reports whether the source has given nothing for d while a read
// of it waited (read).
func (a *activity) silent(d time.Duration) bool { return a.waiting.Load() && a.since() >= d }

// peerClosed decides a transfer whose peer closed entirely before inc
// reported the end of stdin: if stdin had in fact ended (its half-close or
// flush is under way), that result decides; with --keep-open the
// connection ends cleanly and stdin waits for the next; else it failed.
//
// "Had not ended" is what stdin holds, not how far our reader got: under
// load the goroutine that reads stdin can wait longer than a whole
// transfer (seen under Wine with -race: it had not started when a 1 MiB
// transfer ended, and read stdin's end 48 ms later), so a stdin that had
// ended (a closed pipe, a file, NUL) failed the run. So when stdin's
// next read would not wait, its reader is given the time to read it: an
// end is a clean end, data the peer can no longer take is the failure.
// A stdin still open with nothing in it fails at once. Once stdin has
// ended, the end's result decides, and any error in passing it on fails
// the run, a peer gone included: a Flush that meets a peer gone means it
// left data of ours unread (namedpipe's Flush), so it is not a clean end.
func peerClosed(t transfer, early *bool, stdinEOF *atomic.Bool, inc <-chan inResult) error {
	releaseStdin()
	if !t.keep && !stdinEOF.Load() && stdinPump.readNow(stdinQueryWait) {
		select {
		case r := <-inc:
			if stdinEOF.Load() {
				return r.err
			}
		case <-time.After(stdinReadWait):
		}
	} else if stdinEOF.Load() {
		return (<-inc).err
	}
	*early = true
	if t.keep {
		return nil
	}
	return errPeerClosed
}

// stdinHeld, made by the tests' child (never in a real run), holds back
// stdin's reader until peerClosed begins: the reader that had not started
// when the peer closed, as seen under load, every time.
var (
	stdinHeld    chan struct{}
	releaseStdin = sync.OnceFunc(func() {
		if stdinHeld != nil {
			close(stdinHeld)
		}
	})
)

// stdinQueryWait bounds peerClosed's question to stdin: on Windows, asking
// about a pipe can wait behind our own read of it in flight (a synchronous
// handle), which means nothing is there, so an open, empty pipe as stdin
// fails that much later. stdinReadWait bounds its wait for stdin's reader
// once stdin's next read would not wait: it runs out where stdin had data
// but not a whole message (--message) or where another process reads the
// same stdin, and then the run fails as if stdin had been open. Both are
// far above what a goroutine starved under load was seen to wait (48 ms).
const (
	stdinQueryWait = 2 * time.Second
	stdinReadWait  = 2 * time.Second
)

// errPeerClosed is the error of a transfer whose peer closed the
// connection entirely while stdin was still open: whatever stdin gives
// next cannot be sent, and a write that had fitted in the pipe's buffer
// may never have been read. Only both ends ending is a clean end; -t
// (socat's closing phase) lets an idle stdin count as ended.
var errPeerClosed = errors.New("the peer closed the connection before the end of stdin (-t DURATION lets an idle stdin count as ended)")

// errIdle is the error of a transfer that -T ended.
type errIdle struct{ d time.Duration }

func (e errIdle) Error() string {
	return fmt.Sprintf("nothing moved either way for %v (-T): closed the connection", e.d)
}

// netcat joins stdin and stdout to c until the transfer is complete, and
// returns nil only if it is: both sides ended, and nothing stdin gave was
// left unsent.
//
// At the end of stdin, c is half-closed where it can be (message pipes,
// Unix sockets) and the peer's side read to its end. A byte-mode named pipe
// has no half-close: there netcat waits until the peer has read everything
// (FlushFileBuffers), then closes once the peer has sent nothing for the
// linger time (-t). When the peer's side ends first, stdin goes on to the
// peer while the peer can still read (it half-closed), until stdin ends;
// if the peer has closed entirely, netcat stops and fails: stdin had not
// ended. With -t given, an idle stdin counts as ended after -t.
func netcat(c net.Conn, t transfer) (err error) {
	stop := make(chan struct{})
	peer, anyway := newActivity(), newActivity()
	in := newActivity() // stdin, for -t's idle stdin
	outc := make(chan error, 1)
	inc := make(chan inResult, 1)
	var wg sync.WaitGroup
	stdinEOF := new(atomic.Bool) // stdin has ended: its result is on its way
	out := std.out
	if t.sendOnly {
		out = io.Discard
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		outc <- copyOut(out, c, t.message, anyway.onData(), peer)
	}()
	if t.recvOnly {
		// Nothing to send: the peer learns so at once where it can.
		if hc, ok := c.(halfCloser); ok {
			hc.CloseWrite()
		}
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if stdinHeld != nil {
				select {
				case <-stdinHeld:
				case <-stop:
					inc <- inResult{err: errEnded}
					return
				}
			}
			inc <- sendStdin(c, stop, t.message, anyway.onData(), in, stdinEOF)
		}()
	}
	var early bool // stopped before stdin had ended: check what it left
	defer func() {
		close(stop)
		c.Close() // interrupts a write, a flush, a read
		wg.Wait()
		if err == nil && early && stdinPump.unsent() > 0 {
			err = fmt.Errorf("the peer's side ended before all of stdin was sent: %d bytes not sent", stdinPump.unsent())
		}
	}()
	inEnded, outEnded := t.recvOnly, false
	lingering := false
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case r := <-inc:
			inEnded = true
			if r.err != nil {
				return r.err
			}
			if t.sendOnly || outEnded {
				return nil
			}
			if !r.halfClosed || t.lingerSet {
				// The peer has read everything, and cannot be told
				// stdin ended: what it answers now, it answers soon.
				// (Or -t was given: socat's closing phase.)
				if t.linger == 0 {
					return nil
				}
				lingering = true
				peer.touch()
			}
		case err := <-outc:
			outEnded = true
			if err != nil {
				return err
			}
			if inEnded {
				return nil
			}
			if !t.lingerSet && peerGone(c) {
				return peerClosed(t, &early, stdinEOF, inc)
			}
		case <-tick.C:
			switch {
			case t.idle > 0 && anyway.quiet(t.idle):
				early = true
				return errIdle{t.idle}
			case lingering && peer.silent(t.linger):
				return nil
			case outEnded && !inEnded && t.lingerSet && t.linger > 0 && in.silent(t.linger):
				// -t's idle stdin counts as ended: stdin, not a write
				// to a peer that reads slowly, gave nothing for -t. -t 0
				// (--close-on-eof) asks to close at stdin's end, not to
				// drop what stdin is still sending (under -race, 1 MiB
				// took longer than one tick and was cut short).
				early = true
				return nil
			case outEnded && !inEnded && !t.lingerSet && peerGone(c):
				return peerClosed(t, &early, stdinEOF, inc)
			}
		}
	}
}

type inResult struct {
	err        error
	halfClosed bool // the end of stdin was passed on; else the peer has read it all
}

// sendStdin sends stdin to c, bytes or a message a line, and at its end
// half-closes c, or where c has no half-close, waits until the peer has
// read everything. What it took from stdin and did not send goes back to
// the pump. Empty lines are not sent as messages: on a named pipe a
// zero-length message ends the stream (the convention of go-winio, Docker
// and containerd), and conduit keeps one meaning for its input everywhere.
func sendStdin(c net.Conn, stop <-chan struct{}, message bool, onData func(int), act *activity, eof *atomic.Bool) inResult {
	pumped := stdinPump.reader(stop)
	in := readerFunc(func(b []byte) (int, error) { return act.read(func() (int, error) { return pumped.Read(b) }) })
	fail := func(err error) inResult {
		select {
		case <-stop: // our own Close
			return inResult{err: errEnded}
		default:
		}
		return inResult{err: sendError(err)}
	}
	m, ok := c.(messenger)
	if !message || !ok {
		buf := make([]byte, 64<<10)
		for {
			n, err := in.Read(buf)
			if n > 0 {
				w, werr := c.Write(buf[:n])
				stdinPump.done(w)
				onData(w)
				if werr != nil {
					stdinPump.giveBack(buf[w:n])
					return fail(werr)
				}
			}
			switch {
			case err == io.EOF:
				eof.Store(true)
				return endInput(c, fail)
			case err == errEnded:
				return inResult{err: errEnded}
			case err != nil:
				return inResult{err: fmt.Errorf("reading stdin: %w", err)}
			}
		}
	}
	r := bufio.NewReaderSize(in, 64<<10)
	giveBack := func(line []byte) {
		rest, _ := r.Peek(r.Buffered())
		stdinPump.giveBack(rest)
		stdinPump.giveBack(line)
	}
	for {
		line, err := r.ReadBytes('\n')
		if err == errEnded {
			giveBack(line)
			return inResult{err: errEnded}
		}
		msg := line
		if len(msg) > 0 && msg[len(msg)-1] == '\n' {
			msg = msg[:len(msg)-1]
			if len(msg) > 0 && msg[len(msg)-1] == '\r' {
				msg = msg[:len(msg)-1]
			}
		}
		if len(msg) > 0 {
			if werr := m.WriteMessage(msg); werr != nil {
				giveBack(line)
				return fail(werr)
			}
			onData(len(msg))
		}
		stdinPump.done(len(line))
		switch {
		case err == io.EOF:
			eof.Store(true)
			return endInput(c, fail)
		case err != nil:
			return inResult{err: fmt.Errorf("reading stdin: %w", err)}
		}
	}
}

// endInput passes the end of stdin on: a half-close, or where c has none,
// a wait until the peer has read everything.
func endInput(c net.Conn, fail func(error) inResult) inResult {
	if hc, ok := c.(halfCloser); ok {
		err := hc.CloseWrite()
		if err == nil {
			return inResult{halfClosed: true}
		}
		if !errors.Is(err, errors.ErrUnsupported) {
			return fail(err)
		}
	}
	if f, ok := c.(flusher); ok {
		if err := f.Flush(); err != nil {
			return fail(err)
		}
	}
	return inResult{}
}

// sendError is the one-line error of a write to the peer that failed.
func sendError(err error) error {
	if isPeerGone(err) {
		return fmt.Errorf("the peer closed the connection before everything was sent to it (%w)", rootCause(err))
	}
	return fmt.Errorf("sending: %w", err)
}

// copyOut copies what c sends to out: bytes, or one message a line. It
// returns nil when the peer's side ends as it should (io.EOF, a zero-length
// message on a named pipe), an error for a reset or a failed write to out.
func copyOut(out io.Writer, c net.Conn, message bool, onData func(int), act *activity) error {
	m, ok := c.(messenger)
	if !message || !ok {
		buf := make([]byte, 64<<10)
		for {
			n, err := act.read(func() (int, error) { return c.Read(buf) })
			if n > 0 {
				onData(n)
				if _, werr := out.Write(buf[:n]); werr != nil {
					return outError{werr}
				}
			}
			if err != nil {
				return readEnd(err)
			}
		}
	}
	w := bufio.NewWriter(out)
	for {
		var msg []byte
		_, err := act.read(func() (int, error) {
			var err error
			msg, err = m.ReadMessage()
			return len(msg) + 1, err // a zero-length message is data too
		})
		if err == nil && len(msg) == 0 && zeroIsEnd(c) {
			err = io.EOF
		}
		if err != nil {
			if ferr := w.Flush(); ferr != nil {
				return outError{ferr}
			}
			return readEnd(modeError(err))
		}
		onData(len(msg) + 1)
		w.Write(msg)
		w.WriteByte('\n')
		if err := w.Flush(); err != nil {
			return outError{err}
		}
	}
}

// outError is the error of a write to copyOut's out (stdout, or a child's
// stdin).
type outError struct{ err error }

func (e outError) Error() string { return "writing stdout: " + e.err.Error() }
func (e outError) Unwrap() error { return e.err }

// readEnd turns the ways a peer ends its side into nil, and says what
// happened otherwise.
func readEnd(err error) error {
	switch {
	case err == io.EOF || isReadEnd(err):
		return nil
	case errors.Is(err, net.ErrClosed):
		return errEnded // our own Close
	case isReset(err):
		return fmt.Errorf("the connection was reset: the peer closed without reading all it was sent (%v)", rootCause(err))
	}
	return fmt.Errorf("receiving: %w", err)
}

// isPeerGone reports whether a write failed because the peer closed.
func isPeerGone(err error) bool {
	return errors.Is(err, io.ErrClosedPipe) || isBrokenPipe(err) || isReset(err)
}

// rootCause is the innermost error err wraps, for a short message.
func rootCause(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		err = u
	}
}

// execConn runs command with c as its stdin and stdout, through anonymous
// pipes to the child, and returns when the child has exited.
func execConn(c net.Conn, command string, message bool) error {
	inParent, inChild, err := anonpipe.ForChild(anonpipe.ChildReads)
	if err != nil {
		return err
	}
	outParent, outChild, err := anonpipe.ForChild(anonpipe.ChildWrites)
	if err != nil {
		inParent.Close()
		inChild.Close()
		return err
	}
	cmd := shellCommand(command)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = inChild, outChild, std.err
	err = cmd.Start()
	inChild.Close() // the child has its own copies now
	outChild.Close()
	if err != nil {
		inParent.Close()
		outParent.Close()
		return err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	var toChild error
	go func() { // the connection to the child
		defer wg.Done()
		toChild = copyOut(inParent, c, message, func(int) {}, nil)
		inParent.Close()
	}()
	err = copyConn(c, outParent, message) // the child to the connection
	outParent.Close()
	if err == nil {
		if hc, ok := c.(halfCloser); !ok || hc.CloseWrite() != nil {
			if f, ok := c.(flusher); ok {
				f.Flush()
			}
		}
	}
	werr := cmd.Wait()
	c.Close() // ends the copy to the child if the peer is still there
	wg.Wait()
	if err == nil && werr != nil {
		err = fmt.Errorf("%s: %w", command, werr)
	}
	// A child that stops reading its stdin (a broken pipe) is within its
	// rights; a reset of the connection is not.
	var oe outError
	if err == nil && toChild != nil && toChild != errEnded && !errors.As(toChild, &oe) {
		err = toChild
	}
	return err
}

// copyConn copies a child's output to c: bytes, or a message a line.
func copyConn(c net.Conn, in io.Reader, message bool) error {
	m, ok := c.(messenger)
	if !message || !ok {
		_, err := io.Copy(c, in)
		if err != nil {
			return sendError(err)
		}
		return nil
	}
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		msg := line
		if len(msg) > 0 && msg[len(msg)-1] == '\n' {
			msg = msg[:len(msg)-1]
			if len(msg) > 0 && msg[len(msg)-1] == '\r' {
				msg = msg[:len(msg)-1]
			}
		}
		if len(msg) > 0 {
			if werr := m.WriteMessage(msg); werr != nil {
				return sendError(werr)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
