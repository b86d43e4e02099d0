package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
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
listened on (stdio: one connection), and for each connection B is dialed.
Serves one connection, or with --keep-open many at once. A half-close passes
through where both ends have one.

Examples:
  conduit bridge unix:/tmp/agent.sock npipe:openssh-ssh-agent --keep-open   # an SSH agent's pipe as a Unix socket
  conduit bridge tcp:127.0.0.1:2375 npipe:docker_engine --keep-open          # Docker's pipe on a loopback port
  conduit bridge - unix:/run/app.sock                                        # stdio to a socket`,
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
	case "npipe", "unix":
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

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
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
		return net.Dial("unix", e.addr)
	case "-":
		return stdioConn{}, nil
	}
	return net.Dial("tcp", e.addr)
}

// stdioConn is stdin and stdout as a connection.
type stdioConn struct{ net.Conn }

func (stdioConn) Read(b []byte) (int, error)  { return std.in.Read(b) }
func (stdioConn) Write(b []byte) (int, error) { return std.out.Write(b) }
func (stdioConn) Close() error                { return nil }

func bridgeCmd(a, b endpoint, keep bool, timeout time.Duration) error {
	if a.kind == "-" {
		c, err := b.dial()
		if err != nil {
			return err
		}
		defer c.Close()
		return netcat(c, std.in, std.out, false, false)
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
// each side's end is passed to the other as a half-close where it has one,
// else as a close.
func splice(a, b net.Conn) error {
	defer a.Close()
	defer b.Close()
	errc := make(chan error, 2)
	half := func(dst, src net.Conn) {
		_, err := io.Copy(dst, src)
		if hc, ok := dst.(halfCloser); !ok || hc.CloseWrite() != nil {
			dst.Close() // no half-close: the whole connection ends
			src.Close()
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
