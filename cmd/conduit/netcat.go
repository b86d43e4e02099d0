package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os/exec"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conduit-ipc/conduit/anonpipe"
)

// pipeOptions are the flags that shape a pipe.
type pipeOptions struct {
	message    bool
	closeOnEOF bool
	backlog    int
	sddl       string
	timeout    time.Duration
	wait       bool
}

// A messenger keeps message boundaries: *namedpipe.Conn and *ipc.Conn.
type messenger interface {
	ReadMessage() ([]byte, error)
	WriteMessage([]byte) error
}

type halfCloser interface{ CloseWrite() error }

func init() {
	register(&command{
		name: "listen", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "listen on a pipe: stdin goes to the client, the client to stdout",
		help: `
Serves one client, or with --keep-open one after another (with --exec, many
at once). With --exec, each connection becomes the command's stdin and stdout
(as socat EXEC: or nc -e), through anonymous pipes to the child. A byte-mode
named pipe has no half-close, so a client cannot tell the command its input
has ended: give commands that read to the end (sort) --message.

Examples:
  conduit listen myapp                          # \\.\pipe\myapp (Windows), a private socket (Unix)
  conduit listen myapp --message                # one line = one message
  conduit listen myapp --message --keep-open --exec sort   # a sorting service: message
                                                          # mode, whose clients can say they are done
  conduit listen myapp --sddl "D:P(A;;GA;;;SY)(A;;0x12019b;;;AU)"   # Windows: any user may connect`,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var o pipeOptions
			var keep bool
			var command string
			pipeFlags(fs, &o, true)
			fs.BoolVar(&keep, "keep-open", false, "serve one client after another, until interrupted")
			fs.StringVar(&command, "exec", "", "run `CMD` for each connection, with the connection as its stdin and stdout")
			return func(args []string) error { return listenCmd(args[0], o, keep, command) }
		},
	})
	register(&command{
		name: "dial", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "connect to a pipe: stdin goes to the server, the server to stdout",
		help: `
Waits for a busy pipe; with --wait, for a missing one to appear. At the end of
stdin the pipe is half-closed where it can be (message pipes, Unix sockets)
and the server's output read to its end.

Examples:
  echo hello | conduit dial myapp
  conduit dial docker_engine < request.http
  conduit dial myapp --message --timeout 5s`,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var o pipeOptions
			var command string
			pipeFlags(fs, &o, false)
			fs.BoolVar(&o.wait, "wait", false, "wait for the pipe to exist (until --timeout)")
			fs.StringVar(&command, "exec", "", "run `CMD` with the connection as its stdin and stdout")
			return func(args []string) error { return dialCmd(args[0], o, command) }
		},
	})
	register(&command{
		name: "relay", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "relay stdio to a pipe, for WSL and SSH agents (as npiperelay)",
		help: `
Exits when either side closes. The end of stdin is passed on as a half-close
where the pipe has one (a message pipe's zero-length message, a Unix socket's
shutdown), and the relay exits when the pipe's side ends.

Examples (WSL, with conduit.exe on the Windows side):
  socat UNIX-LISTEN:$SSH_AUTH_SOCK,fork EXEC:"conduit.exe relay openssh-ssh-agent --wait"
  docker -H unix:///tmp/docker.sock ...   # with: socat UNIX-LISTEN:/tmp/docker.sock,fork EXEC:"conduit.exe relay docker_engine"`,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var o pipeOptions
			fs.BoolVar(&o.wait, "wait", false, "wait for the pipe to exist")
			fs.BoolVar(&o.message, "message", false, "message mode (Unix: ipc's); half-close as a zero-length message")
			fs.DurationVar(&o.timeout, "timeout", 0, "give up connecting after this long (0: never)")
			return func(args []string) error { return relayCmd(args[0], o) }
		},
	})
}

func pipeFlags(fs *flag.FlagSet, o *pipeOptions, server bool) {
	fs.BoolVar(&o.message, "message", false, "message mode: each line of input is one message (empty lines are not sent: on Windows a zero-length message ends the stream), each message one line of output; on Unix ipc's message framing")
	fs.DurationVar(&o.timeout, "timeout", 0, "give up waiting for the peer after this long (0: never)")
	fs.BoolVar(&o.closeOnEOF, "close-on-eof", false, "at the end of stdin, where the pipe has no half-close (byte-mode named pipes), close the connection rather than read on until the peer closes")
	if server {
		fs.IntVar(&o.backlog, "backlog", 0, "clients that may connect before they are served (0: the default)")
		fs.StringVar(&o.sddl, "sddl", "", "the pipe's security descriptor, in SDDL (Windows; default: this user and SYSTEM)")
	}
}

func listenCmd(name string, o pipeOptions, keep bool, command string) error {
	if o.backlog < 0 {
		return usagef("listen: --backlog %d: want 0 (the default) or more", o.backlog)
	}
	l, err := listenPipe(name, o)
	if err != nil {
		return err
	}
	defer l.Close()
	var timer *time.Timer
	if o.timeout > 0 {
		timer = time.AfterFunc(o.timeout, func() { l.Close() })
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := l.Accept()
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) && o.timeout > 0 {
				return fmt.Errorf("no client came within %v", o.timeout)
			}
			return err
		}
		serve := func() error {
			defer c.Close()
			if command != "" {
				return execConn(c, command, o.message)
			}
			return netcat(c, o.message, o.closeOnEOF)
		}
		switch {
		case !keep:
			return serve()
		case command != "":
			// Each connection has its own child: serve them at once.
			wg.Add(1)
			go func() {
				defer wg.Done()
				report(serve())
			}()
		default:
			// stdin and stdout are one: one connection after another.
			report(serve())
		}
	}
}

// report prints a connection's error, for the commands that go on.
func report(err error) {
	if err != nil {
		fmt.Fprintln(std.err, "conduit: "+oneLine(err.Error()))
	}
}

func dialCmd(name string, o pipeOptions, command string) error {
	c, err := dialPipe(name, o)
	if err != nil {
		return err
	}
	defer c.Close()
	if command != "" {
		return execConn(c, command, o.message)
	}
	return netcat(c, o.message, o.closeOnEOF)
}

func relayCmd(name string, o pipeOptions) error {
	c, err := dialPipe(name, o)
	if err != nil {
		return err
	}
	defer c.Close()
	return netcat(c, o.message, true)
}

// dialContext is the context of a dial with o's timeout.
func dialContext(o pipeOptions) (context.Context, context.CancelFunc) {
	if o.timeout > 0 {
		return context.WithTimeout(context.Background(), o.timeout)
	}
	return context.WithCancel(context.Background())
}

// netcat moves stdin to c and c to stdout. At the end of stdin, c is
// half-closed where it can be (message pipes, Unix sockets); where it cannot
// be (a byte-mode named pipe), netcat goes on reading until the peer closes,
// unless endOnEOF, when it returns then. When the peer's side ends, the peer
// may have only half-closed and still read, so stdin goes on to it while it
// has data to give, as socat's closing phase does; once stdin has given
// nothing for closingWait (an idle terminal, say), or ends, netcat returns,
// and what stdin still holds stays for the next connection.
func netcat(c net.Conn, message, endOnEOF bool) error {
	done := make(chan struct{})
	defer close(done) // ends the stdin reader of this connection
	outDone := make(chan error, 1)
	inDone := make(chan error, 1)
	var act activity
	act.touch()
	go func() { outDone <- copyOut(std.out, c, message) }()
	go func() {
		err := copyIn(c, act.watch(stdinPump.reader(done)), message)
		if err == nil {
			if hc, ok := c.(halfCloser); !ok || hc.CloseWrite() != nil {
				if endOnEOF {
					err = errEndOnEOF
				}
			}
		}
		inDone <- err
	}()
	finish := func(outErr, inErr error) error {
		if inErr != nil && inErr != errEndOnEOF && !isPeerGone(inErr) {
			return inErr
		}
		return outErr
	}
	select {
	case err := <-inDone:
		if err == errEndOnEOF {
			return nil
		}
		if err != nil && !isPeerGone(err) {
			return err
		}
		return <-outDone // half-closed, or the peer is gone: read to the end
	case err := <-outDone:
		tick := time.NewTicker(closingWait / 5)
		defer tick.Stop()
		for {
			select {
			case ierr := <-inDone:
				return finish(err, ierr)
			case <-tick.C:
				if act.idle(closingWait) {
					return finish(err, nil)
				}
			}
		}
	}
}

// closingWait is how long stdin may give nothing, after the peer's side has
// ended, before netcat stops waiting for it.
const closingWait = 500 * time.Millisecond

// activity follows a reader: whether it is waiting for data, and since
// when it last had some.
type activity struct {
	waiting atomic.Bool
	last    atomic.Int64 // UnixNano
}

func (a *activity) touch() { a.last.Store(time.Now().UnixNano()) }

// idle reports whether the reader waits, and has had no data for d.
func (a *activity) idle(d time.Duration) bool {
	return a.waiting.Load() && time.Since(time.Unix(0, a.last.Load())) > d
}

func (a *activity) watch(r io.Reader) io.Reader {
	return readerFunc(func(b []byte) (int, error) {
		a.waiting.Store(true)
		n, err := r.Read(b)
		a.waiting.Store(false)
		if n > 0 {
			a.touch()
		}
		return n, err
	})
}

var errEndOnEOF = errors.New("end on EOF")

// isPeerGone reports whether a read or write failed because the peer
// closed, or because the connection ended.
func isPeerGone(err error) bool {
	return err == nil || errors.Is(err, net.ErrClosed) || errors.Is(err, io.ErrClosedPipe) ||
		errors.Is(err, errEnded) || isBrokenPipe(err)
}

// copyOut copies what c sends to out: bytes, or one message a line.
func copyOut(out io.Writer, c io.Reader, message bool) error {
	m, ok := c.(messenger)
	if !message || !ok {
		_, err := io.Copy(out, c)
		return eofIsEnd(err)
	}
	w := bufio.NewWriter(out)
	for {
		msg, err := m.ReadMessage()
		if err == nil && len(msg) == 0 && zeroIsEnd(c) {
			err = io.EOF
		}
		if err != nil {
			w.Flush()
			return eofIsEnd(err)
		}
		w.Write(msg)
		w.WriteByte('\n')
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// copyIn copies in to c: bytes, or a message a line. Empty lines are not
// sent: on a named pipe a zero-length message ends the stream (the
// convention of go-winio, Docker and containerd), and conduit keeps one
// meaning for its input everywhere.
func copyIn(c io.Writer, in io.Reader, message bool) error {
	m, ok := c.(messenger)
	if !message || !ok {
		_, err := io.Copy(c, in)
		return err
	}
	r := bufio.NewReaderSize(in, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			line = line[:len(line)-1]
			if len(line) > 0 && line[len(line)-1] == '\r' {
				line = line[:len(line)-1]
			}
		} else if err == io.EOF && len(line) == 0 {
			return nil
		}
		if len(line) > 0 {
			if werr := m.WriteMessage(line); werr != nil {
				return werr
			}
		}
		if err != nil {
			return eofIsEnd(err)
		}
	}
}

// eofIsEnd turns the ways a peer ends a connection into the end of it.
func eofIsEnd(err error) error {
	if err == io.EOF || isPeerGone(err) {
		return nil
	}
	return err
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
	go func() { // the connection to the child
		defer wg.Done()
		copyOut(inParent, c, message)
		inParent.Close()
	}()
	err = copyIn(c, outParent, message) // the child to the connection
	outParent.Close()
	if hc, ok := c.(halfCloser); ok {
		hc.CloseWrite()
	}
	werr := cmd.Wait()
	c.Close() // ends the copy to the child if the peer is still there
	wg.Wait()
	if err == nil && werr != nil {
		err = fmt.Errorf("%s: %w", command, werr)
	}
	return err
}

// shellCommand runs command through the system's shell.
func shellCommand(command string) *exec.Cmd {
	if runtime.GOOS == "windows" {
		return shellCommandWindows(command)
	}
	return exec.Command("/bin/sh", "-c", command)
}
