package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os/exec"
	"runtime"
	"sync"
	"time"
)

// pipeOptions are the flags that shape a pipe.
type pipeOptions struct {
	message    bool
	backlog    int
	sddl       string
	allow      string
	timeout    time.Duration
	wait       bool
	serverUser string // dial: the user the server must run as
	anyServer  bool   // dial: any user's server
	oneShot    bool   // listen without --keep-open
	xfer       transfer
}

// exitStatuses is the part of every transferring command's help that says
// what its exit status means.
const exitStatuses = `
Exit status: 0 when the transfer is complete: stdin has ended and was all
sent (the peer read it all, where the pipe can tell), and the peer's side has
ended. 1, with one line on stderr, when it is not: the peer closed or was
killed before it had all of stdin (broken pipe) or before stdin ended, the
connection was reset,
stdin had data left unsent, -T passed with nothing moving, no peer came
within --timeout, an --exec command failed, or conduit was interrupted
(SIGINT, SIGTERM; a --keep-open server with no connection open exits 0).
2: a usage error.`

// ending is the part of listen's and dial's help that says when they end.
const ending = `
When it ends: at the end of stdin, conduit passes the end on where the pipe
can (a Unix socket's shutdown, a message pipe's zero-length message) and reads
the peer's side to its end. A byte-mode named pipe (Windows) has no such
mark: there conduit waits until the peer has read all of stdin, then closes
once the peer has sent nothing for -t (default 1s; -t 0 closes at once). When
the peer's side ends first, conduit goes on sending stdin while the peer can
still read (it half-closed), until stdin ends; if the peer closed entirely
before stdin ended, conduit exits 1 at once (with -t, an idle stdin counts as
ended after -t). -U receives only, and reads to the peer's end however slow;
-u sends only; -T bounds any silence.`

func init() {
	register(&command{
		name: "listen", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "listen on a pipe: stdin goes to the client, the client to stdout",
		help: `
Serves one client: once it has one it stops listening, so a second client
finds no server (Unix: refused at once; Windows: it waits while the pipe is
busy, then finds none), never a connection accepted and dropped. With
--keep-open it serves one client after another (with --exec, many at once).
With --exec, each connection becomes the command's stdin and stdout (as socat
EXEC: or nc -e), through anonymous pipes to the child. On Windows 8 and later
the commands, and what they start, end with conduit however it ends (a job
object that kills them when it closes; a program may leave it with
CREATE_BREAKAWAY_FROM_JOB): a killed conduit leaves none running.
` + ending + `
` + namesHelp + `
Who may connect: this user (and on Windows LocalSystem) only, by default.
--allow USER|GROUP|SID adds one principal with read and write access, not the
right to create instances (Windows; on Unix a group, for a socket given as a
path). --sddl sets the whole descriptor: it must grant this process
FILE_CREATE_PIPE_INSTANCE (OW, the owner, with GA does).

Examples:
  conduit listen myapp                          # one client; stdin to it, it to stdout
  conduit listen myapp --message                # one line = one message
  conduit listen myapp --message --keep-open --exec sort   # a sorting service: each client's
                                                          # lines, sorted, when it says it is done
  conduit listen myapp --allow AU               # Windows: Authenticated Users may connect too
  conduit listen myapp --sddl "D:P(A;;GA;;;SY)(A;;GA;;;OW)(A;;0x12019b;;;AU)"   # the same, by hand
` + exitStatuses,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var o pipeOptions
			var keep bool
			var command string
			pipeFlags(fs, &o, true)
			fs.BoolVar(&keep, "keep-open", false, "serve one client after another, until interrupted")
			fs.StringVar(&command, "exec", "", "run `CMD` for each connection, with the connection as its stdin and stdout")
			return func(args []string) error {
				if err := o.xfer.check(); err != nil {
					return err
				}
				return listenCmd(args[0], o, keep, command)
			}
		},
	})
	register(&command{
		name: "dial", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "connect to a pipe: stdin goes to the server, the server to stdout",
		help: `
Waits for a busy pipe; with --wait, for a missing one to appear; --timeout
bounds both. On Unix the server must run as this user, as ipc checks it:
--server-user names another (a root service's socket: --server-user root), and
--any-server takes any, with a warning. With --exec, the command's stdin and
stdout are the connection; on Windows 8 and later it ends with conduit, as
listen's --exec commands do.
` + ending + `
` + namesHelp + `
Examples:
  echo hello | conduit dial myapp               # the answer, then exit
  conduit dial myapp -U > out.bin               # receive only, to the server's end
  conduit dial docker_engine < request.http
  conduit dial /var/run/docker.sock --server-user root < request.http   # Unix
  conduit dial myapp --message --timeout 5s
` + exitStatuses,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var o pipeOptions
			var command string
			pipeFlags(fs, &o, false)
			fs.BoolVar(&o.wait, "wait", false, "wait for the pipe to exist (until --timeout)")
			fs.StringVar(&command, "exec", "", "run `CMD` with the connection as its stdin and stdout")
			return func(args []string) error {
				if err := o.xfer.check(); err != nil {
					return err
				}
				return dialCmd(args[0], o, command)
			}
		},
	})
	register(&command{
		name: "relay", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "relay stdio to a pipe, for WSL and SSH agents (as npiperelay)",
		help: `
Exits when either side closes. The end of stdin is passed on as a half-close
where the pipe has one (a message pipe's zero-length message, a Unix socket's
shutdown), and the relay exits when the pipe's side ends; on a byte-mode pipe
it waits until the server has read all of stdin, then closes (-t 0: give -t
to read the server's answer for longer).

Examples (WSL, with conduit.exe on the Windows side):
  socat UNIX-LISTEN:$SSH_AUTH_SOCK,fork EXEC:"conduit.exe relay openssh-ssh-agent --wait"
  docker -H unix:///tmp/docker.sock ...   # with: socat UNIX-LISTEN:/tmp/docker.sock,fork EXEC:"conduit.exe relay docker_engine"
` + exitStatuses,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var o pipeOptions
			fs.BoolVar(&o.wait, "wait", false, "wait for the pipe to exist")
			fs.BoolVar(&o.message, "message", false, "message mode (Unix: ipc's); half-close as a zero-length message")
			fs.Var(&durationFlag{d: &o.timeout}, "timeout", "give up connecting after this long (0: never)")
			serverFlags(fs, &o)
			transferFlags(fs, &o.xfer, 0)
			return func(args []string) error {
				if err := o.xfer.check(); err != nil {
					return err
				}
				return relayCmd(args[0], o)
			}
		},
	})
}

func pipeFlags(fs *flag.FlagSet, o *pipeOptions, server bool) {
	fs.BoolVar(&o.message, "message", false, "message mode: each line of input is one message (empty lines are not sent: on Windows a zero-length message ends the stream), each message one line of output; on Unix ipc's message framing")
	fs.Var(&durationFlag{d: &o.timeout}, "timeout", "give up waiting for the peer after this long (0: never)")
	transferFlags(fs, &o.xfer, defaultLinger)
	fs.BoolFunc("close-on-eof", "the same as -t 0: close once the peer has read all of stdin", func(string) error {
		o.xfer.linger, o.xfer.lingerSet = 0, true
		return nil
	})
	if server {
		fs.IntVar(&o.backlog, "backlog", 0, "clients that may connect before they are served, with --keep-open (0: the default)")
		fs.StringVar(&o.sddl, "sddl", "", "the pipe's security descriptor, in SDDL (Windows; default: this user and SYSTEM); it must grant this process FILE_CREATE_PIPE_INSTANCE")
		fs.StringVar(&o.allow, "allow", "", "let `USER|GROUP|SID` connect too (read and write, not create instances); on Unix a group, for a socket given as a path")
	} else {
		serverFlags(fs, o)
	}
}

func serverFlags(fs *flag.FlagSet, o *pipeOptions) {
	fs.StringVar(&o.serverUser, "server-user", "", "the `USER` (name or ID) the server must run as, when not this user (Unix: checked with the kernel's peer credentials; Windows: the pipe's owner)")
	fs.BoolVar(&o.anyServer, "any-server", false, "connect to a server run by any user (Unix), with a warning: it then sees what you send")
}

func listenCmd(name string, o pipeOptions, keep bool, command string) error {
	if o.backlog < 0 {
		return usagef("listen: --backlog %d: want 0 (the default) or more", o.backlog)
	}
	o.oneShot = !keep
	o.xfer.message = o.message
	o.xfer.keep = keep
	t, err := resolveName(name)
	if err != nil {
		return err
	}
	sig := watchSignals(keep)
	defer sig.stop()
	l, err := listenPipe(t, o)
	if err != nil {
		if sig.fired() {
			sig.exit() // interrupted while listening: say so
		}
		return err
	}
	defer l.Close()
	sig.attach(l)
	if o.xfer.verbose {
		logf("listening on %s", l.Addr())
	}
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
			if sig.fired() {
				return sig.wait()
			}
			return err
		}
		if !keep {
			// One client: later ones find no one, never a queue that
			// is dropped.
			l.Close()
		}
		who := describePeer(c)
		if o.xfer.verbose {
			logf("connection from %s", who)
		}
		serve := func() error {
			err := func() error {
				sig.busy(1)
				defer sig.busy(-1)
				defer c.Close()
				if command != "" {
					return execConn(c, command, o.message)
				}
				return netcat(c, o.xfer)
			}()
			// -v says the connection ended once it is closed and no
			// longer counted: a signal after the line finds the
			// server idle (exit 0 with --keep-open).
			if o.xfer.verbose {
				logEnd(who, err)
			}
			return err
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

// logf prints a line of -v's log on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(std.err, "conduit: "+format+"\n", args...)
}

func logEnd(who string, err error) {
	if err != nil {
		logf("connection with %s failed: %s", who, oneLine(err.Error()))
		return
	}
	logf("connection with %s complete", who)
}

func dialCmd(name string, o pipeOptions, command string) error {
	o.xfer.message = o.message
	t, err := resolveName(name)
	if err != nil {
		return err
	}
	c, err := dialPipe(t, o)
	if err != nil {
		return err
	}
	defer c.Close()
	who := describePeer(c)
	if o.xfer.verbose {
		logf("connected to %s", who)
	}
	if command != "" {
		err = execConn(c, command, o.message)
	} else {
		err = netcat(c, o.xfer)
	}
	if o.xfer.verbose {
		logEnd(who, err)
	}
	return err
}

func relayCmd(name string, o pipeOptions) error {
	t, err := resolveName(name)
	if err != nil {
		return err
	}
	c, err := dialPipe(t, o)
	if err != nil {
		return err
	}
	defer c.Close()
	o.xfer.message = o.message
	return netcat(c, o.xfer)
}

// dialContext is the context of a dial with o's timeout.
func dialContext(o pipeOptions) (context.Context, context.CancelFunc) {
	if o.timeout > 0 {
		return context.WithTimeout(context.Background(), o.timeout)
	}
	return context.WithCancel(context.Background())
}

// dialError says in words why a dial failed within its timeout.
func dialError(t target, o pipeOptions, err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		what := "no server listened"
		if !o.wait {
			what = "the pipe stayed busy"
		}
		return fmt.Errorf("dial %s: %s within %v (--timeout)", t, what, o.timeout)
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
