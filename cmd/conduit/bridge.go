package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/conduit-ipc/conduit/ipc"
)

func init() {
	register(&command{
		name: "bridge", args: "A B", minArgs: 2, maxArgs: 2,
		summary: "carry both directions between two endpoints: A is listened on, B dialed for each connection",
		help: `
Each endpoint is npipe:NAME (a named pipe; Windows), unix:PATH (a Unix
socket), tcp:HOST:PORT (loopback only unless --allow-remote) or - (stdio). A is
listened on (stdio: one connection), and for each connection B is dialed (B
may be stdio for one connection only). Serves one connection, or with
--keep-open many at once. A half-close passes through where the other end has
one; where it has none (a byte-mode named pipe) that direction just stops, and
the connection ends when the other direction does.

Security: a bridge gives whoever can reach A what B gives. On Unix a unix: A
is made as ipc does (mode 0600, this user's peers only), and a unix: B is
dialed as ipc does (its server must run as this user); on Windows both are
plain socket files, which the directory's ACL guards. A tcp: A on loopback is
open to every local user and to web pages that rebind DNS: bridging a
privileged pipe there (Docker's) hands it to all of them.

Examples:
  conduit bridge unix:/tmp/agent.sock npipe:openssh-ssh-agent --keep-open   # an SSH agent's pipe as a Unix socket
  conduit bridge - unix:/run/app.sock                                        # stdio to a socket
  conduit bridge tcp:127.0.0.1:8080 unix:/run/app.sock --keep-open          # a local web app's socket on a port`,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var keep, remote bool
			var timeout time.Duration
			fs.BoolVar(&keep, "keep-open", false, "serve many connections, at once, until interrupted")
			fs.BoolVar(&remote, "allow-remote", false, "allow tcp: endpoints other than loopback (anyone on the network may then use them)")
			fs.DurationVar(&timeout, "timeout", 0, "give up waiting for the first connection after this long (0: never)")
			return func(args []string) error {
				a, err := parseEndpoint(args[0], remote)
				if err != nil {
					return err
				}
				b, err := parseEndpoint(args[1], remote)
				if err != nil {
					return err
				}
				return bridgeCmd(a, b, keep, timeout)
			}
		},
	})
}

// An endpoint is one side of a bridge.
type endpoint struct {
	kind string // "npipe", "unix", "tcp" or "-"
	addr string
}

func parseEndpoint(s string, allowRemote bool) (endpoint, error) {
	if s == "-" {
		return endpoint{kind: "-"}, nil
	}
	kind, addr, ok := strings.Cut(s, ":")
	if !ok || addr == "" {
		return endpoint{}, usagef("endpoint %q: want npipe:NAME, unix:PATH, tcp:HOST:PORT or -", s)
	}
	switch kind {
	case "npipe":
	case "unix":
		// A path, relative to here if it is: never a short name.
		abs, err := filepath.Abs(addr)
		if err != nil {
			return endpoint{}, err
		}
		addr = abs
	case "tcp":
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return endpoint{}, usagef("endpoint %q: %v", s, err)
		}
		if !allowRemote && !isLoopback(host) {
			return endpoint{}, usagef("endpoint %q is not loopback: anyone on the network could use it; pass --allow-remote if that is meant", s)
		}
	default:
		return endpoint{}, usagef("endpoint %q: unknown kind %q: want npipe:, unix:, tcp: or -", s, kind)
	}
	return endpoint{kind, addr}, nil
}

// isLoopback reports whether host is a loopback address, or a name all of
// whose addresses are.
func isLoopback(host string) bool {
	if ip := net.ParseIP(host); ip != nil {
		return ip.IsLoopback()
	}
	ips, err := net.LookupIP(host)
	if err != nil || len(ips) == 0 {
		return false
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return false
		}
	}
	return true
}

func (e endpoint) listen() (net.Listener, error) {
	switch e.kind {
	case "npipe":
		return listenNpipe(e.addr)
	case "unix":
		return listenUnix(e.addr)
	}
	return net.Listen("tcp", e.addr)
}

func (e endpoint) dial() (net.Conn, error) {
	switch e.kind {
	case "npipe":
		return dialNpipe(e.addr)
	case "unix":
		return dialUnixEndpoint(e.addr)
	}
	return net.Dial("tcp", e.addr)
}

// dialUnixEndpoint dials a unix: B. On Unix it dials as ipc (and conduit
// dial) does: the server must run as this user, or the dial fails with
// ipc's PeerError, so that a socket another user put at the path never
// gets what A's clients send. Windows' AF_UNIX sockets report no peer
// credentials for ipc to check: there it is a plain dial, which the socket
// file's ACL guards.
func dialUnixEndpoint(path string) (net.Conn, error) {
	if runtime.GOOS == "windows" {
		return net.Dial("unix", path)
	}
	var cfg ipc.Config
	c, err := cfg.Dial(context.Background(), path)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func bridgeCmd(a, b endpoint, keep bool, timeout time.Duration) error {
	switch {
	case a.kind == "-" && b.kind == "-":
		return usagef("bridge: stdio to stdio bridges nothing")
	case b.kind == "-" && keep:
		return usagef("bridge: stdio is one connection: it cannot be B with --keep-open")
	case a.kind == "-":
		c, err := b.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		return netcat(c, false, false)
	}
	l, err := a.listen()
	if err != nil {
		return err
	}
	defer l.Close()
	var timer *time.Timer
	if timeout > 0 {
		timer = time.AfterFunc(timeout, func() { l.Close() })
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		ca, err := l.Accept()
		if timer != nil {
			timer.Stop()
			timer = nil
		}
		if err != nil {
			if errors.Is(err, net.ErrClosed) && timeout > 0 {
				return fmt.Errorf("no connection came within %v", timeout)
			}
			return err
		}
		if b.kind == "-" {
			l.Close() // stdio is one connection
			defer ca.Close()
			return netcat(ca, false, false) // ends with the client
		}
		cb, err := b.dial()
		if err != nil {
			ca.Close()
			if !keep {
				return err
			}
			fmt.Fprintln(std.err, "conduit: "+oneLine(err.Error()))
			continue
		}
		if !keep {
			l.Close() // one connection: later ones find no one, not a queue
			return splice(ca, cb)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := splice(ca, cb); err != nil {
				fmt.Fprintln(std.err, "conduit: "+oneLine(err.Error()))
			}
		}()
	}
}

// splice carries both directions between a and b until both have ended:
// each side's end is passed to the other as a half-close where it has one;
// where it has none, that direction just stops, and the other goes on.
func splice(a, b net.Conn) error {
	defer a.Close()
	defer b.Close()
	errc := make(chan error, 2)
	half := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if hc, ok := dst.(halfCloser); ok {
			hc.CloseWrite()
		}
		errc <- eofIsEnd(err)
	}
	go half(a, b)
	go half(b, a)
	err1, err2 := <-errc, <-errc
	if err1 != nil {
		return err1
	}
	return err2
}
