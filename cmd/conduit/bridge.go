package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"time"
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
			var t transfer
			fs.BoolVar(&keep, "keep-open", false, "serve many connections, at once, until interrupted")
			fs.BoolVar(&remote, "allow-remote", false, "allow tcp: endpoints other than loopback (anyone on the network may then use them)")
			fs.Var(&durationFlag{d: &timeout}, "timeout", "give up waiting for the first connection after this long (0: never)")
			fs.BoolVar(&t.message, "message", false, "message mode: npipe: and unix: endpoints keep message boundaries (a message pipe; ipc's message framing on Unix), each message carried as one; on stdio (-) and tcp: a line is a message")
			transferFlags(fs, &t, defaultLinger)
			return func(args []string) error {
				if t.sendOnly || t.recvOnly {
					return usagef("bridge: -u and -U are for listen and dial")
				}
				a, err := parseEndpoint(args[0], remote)
				if err != nil {
					return err
				}
				b, err := parseEndpoint(args[1], remote)
				if err != nil {
					return err
				}
				a.message, b.message = t.message, t.message
				return bridgeCmd(a, b, keep, timeout, t)
			}
		},
	})
}

// An endpoint is one side of a bridge.
type endpoint struct {
	kind    string // "npipe", "unix", "tcp" or "-"
	addr    string
	message bool // --message
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
		// npipe://./pipe/NAME and npipe:////./pipe/NAME too.
		if name, ok, err := pipeName(s); err != nil {
			return endpoint{}, err
		} else if ok {
			addr = name
		}
	case "unix":
		if strings.HasPrefix(addr, "//") {
			addr = addr[2:] // unix:///abs
		}
		// A path, relative to here if it is: never a short name.
		abs, err := filepath.Abs(addr)
		if err != nil {
			return endpoint{}, err
		}
		addr = abs
	case "tcp":
		host, port, err := net.SplitHostPort(addr)
		if err != nil {
			return endpoint{}, usagef("endpoint %q: %v", s, err)
		}
		if _, err := net.LookupPort("tcp", port); err != nil {
			return endpoint{}, usagef("endpoint %q: port %q: want 0 to 65535, or a service name", s, port)
		}
		if !allowRemote && !isLoopback(host) {
			return endpoint{}, usagef("endpoint %q is not loopback: anyone on the network could use it; pass --allow-remote if that is meant", s)
		}
	default:
		return endpoint{}, usagef("endpoint %q: unknown kind %q: want npipe:, unix:, tcp: or -", s, kind)
	}
	return endpoint{kind: kind, addr: addr}, nil
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
		return listenNpipe(e.addr, e.message)
	case "unix":
		return listenUnix(e.addr, e.message)
	}
	return net.Listen("tcp", e.addr)
}

func (e endpoint) dial() (net.Conn, error) {
	switch e.kind {
	case "npipe":
		return dialNpipe(e.addr, e.message)
	case "unix":
		return dialUnixEndpoint(e)
	}
	return net.Dial("tcp", e.addr)
}

func bridgeCmd(a, b endpoint, keep bool, timeout time.Duration, t transfer) error {
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
		return netcat(c, t)
	}
	sig := watchSignals(keep)
	defer sig.stop()
	l, err := a.listen()
	if err != nil {
		if sig.fired() {
			sig.exit() // interrupted while listening: say so
		}
		return err
	}
	defer l.Close()
	sig.attach(l)
	if t.verbose || a.kind == "tcp" && strings.HasSuffix(a.addr, ":0") {
		// The port the system chose is of no use unless it is said.
		fmt.Fprintf(std.err, "conduit: listening on %s:%s\n", a.kind, l.Addr())
	}
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
			if sig.fired() {
				return sig.wait()
			}
			return err
		}
		if t.verbose {
			logf("connection from %s", describePeer(ca))
		}
		if b.kind == "-" {
			l.Close() // stdio is one connection
			defer ca.Close()
			return netcat(ca, t) // ends with the client
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
			sig.busy(1)
			return splice(ca, cb, t)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			sig.busy(1)
			defer sig.busy(-1)
			if err := splice(ca, cb, t); err != nil {
				fmt.Fprintln(std.err, "conduit: "+oneLine(err.Error()))
			}
		}()
	}
}
