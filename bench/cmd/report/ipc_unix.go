//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/conduit-ipc/conduit/bench/harness"
	"github.com/conduit-ipc/conduit/ipc"
)

// Package ipc against raw Unix sockets (net.UnixConn), natively.

const sectionIPC = "ipc against raw Unix sockets (Linux, native)"

// Server and client kinds.
const (
	kindIPC  = "ipc"  // ipc.Listen and ipc.Dial: a socket in the private runtime directory, peers checked
	kindUnix = "unix" // net.Listen and net.Dial, "unix" or "unixpacket", in a temporary directory
	// kindChecked is kindUnix with the checks ipc makes, by hand: the
	// socket in a directory of its own, mode 0700, that Dial looks at
	// (lstat: a directory of this user's that no one else may enter)
	// before it connects; SO_PEERCRED on both ends, the peer's uid
	// compared with the effective uid (Dial's from geteuid, the
	// listener's from when it started). The same system calls as ipc's,
	// so that the rate of connections compares the cost of ipc with that
	// of the same security done by hand.
	kindChecked = "unix+checks"
)

var nameSeq atomic.Int64

// address returns a fresh name for kind: a short name for ipc, a socket
// path for raw sockets (for kindChecked, in a new private directory that
// done removes).
func address(kind string) (addr string, done func(), err error) {
	name := fmt.Sprintf("conduit-bench-%d-%d", os.Getpid(), nameSeq.Add(1))
	switch kind {
	case kindUnix:
		return filepath.Join(os.TempDir(), name+".sock"), func() {}, nil
	case kindChecked:
		dir, err := os.MkdirTemp("", name+"-") // mode 0700
		if err != nil {
			return "", nil, err
		}
		return filepath.Join(dir, "s.sock"), func() { os.RemoveAll(dir) }, nil
	}
	return name, func() {}, nil
}

func network(message bool) string {
	if message {
		return "unixpacket"
	}
	return "unix"
}

func listen(kind, addr string, message bool) (net.Listener, error) {
	switch kind {
	case kindIPC:
		return (&ipc.Config{MessageMode: message}).Listen(addr)
	case kindChecked:
		l, err := net.Listen(network(message), addr)
		if err != nil {
			return nil, err
		}
		return &checkedListener{Listener: l, euid: os.Geteuid()}, nil
	}
	return net.Listen(network(message), addr)
}

func dial(kind, addr string, message bool) (io.ReadWriteCloser, error) {
	switch kind {
	case kindIPC:
		return (&ipc.Config{MessageMode: message}).Dial(context.Background(), addr)
	case kindChecked:
		return dialChecked(addr, message)
	}
	return net.Dial(network(message), addr)
}

// checkedListener accepts the connections of its own user only, as ipc's
// listener does: SO_PEERCRED on each.
type checkedListener struct {
	net.Listener
	euid int
}

func (l *checkedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if err := checkPeer(c, l.euid); err != nil {
			c.Close()
			continue
		}
		return c, nil
	}
}

// dialChecked looks at the socket's directory, connects and checks the
// server's uid, as ipc.Dial does.
func dialChecked(addr string, message bool) (net.Conn, error) {
	euid := os.Geteuid()
	var st syscall.Stat_t
	dir := filepath.Dir(addr)
	if err := syscall.Lstat(dir, &st); err != nil {
		return nil, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != euid || st.Mode&0o077 != 0 {
		return nil, fmt.Errorf("%s is not a private directory of this user's", dir)
	}
	c, err := net.Dial(network(message), addr)
	if err != nil {
		return nil, err
	}
	if err := checkPeer(c, euid); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// checkPeer fails unless the peer of c runs as uid.
func checkPeer(c net.Conn, uid int) error {
	rc, err := c.(syscall.Conn).SyscallConn()
	if err != nil {
		return err
	}
	var peer int
	var perr error
	if err := rc.Control(func(fd uintptr) { peer, perr = peerUID(int(fd)) }); err != nil {
		return err
	}
	if perr != nil {
		return perr
	}
	if peer != uid {
		return fmt.Errorf("peer uid %d, want %d", peer, uid)
	}
	return nil
}

func isMoreData(error) bool { return false }

// startServer runs the server s describes and returns its address and how
// to stop it.
func startServer(_ config, s serverSpec) (string, func(), error) {
	addr, done, err := address(s.kind)
	if err != nil {
		return "", nil, err
	}
	if s.child {
		msg := ""
		if s.message {
			msg = "1"
		}
		p, err := startChild("server", []string{"KIND=" + s.kind, "MODE=" + s.mode, "ADDR=" + addr, "MESSAGE=" + msg}, nil)
		if err != nil {
			done()
			return "", nil, err
		}
		return addr, func() {
			p.stop()
			done()
		}, nil
	}
	l, err := listen(s.kind, addr, s.message)
	if err != nil {
		done()
		return "", nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveAll(l, s.mode)
	}()
	return addr, func() {
		l.Close()
		wg.Wait()
		done()
	}, nil
}

func child(role string) int {
	if role != "server" {
		fmt.Fprintln(os.Stderr, "unknown child role", role)
		return 2
	}
	l, err := listen(os.Getenv("KIND"), os.Getenv("ADDR"), os.Getenv("MESSAGE") != "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	childReady()
	serveAll(l, os.Getenv("MODE"))
	return 1
}

func platformMeta() map[string]string { return nil }

// conn runs work on one connection to a fresh server.
func conn(cfg config, s serverSpec, work func(c io.ReadWriteCloser, d time.Duration) (harness.Sample, error)) func(d time.Duration) (harness.Sample, error) {
	return func(d time.Duration) (harness.Sample, error) {
		addr, stop, err := startServer(cfg, s)
		if err != nil {
			return nil, err
		}
		defer stop()
		c, err := dial(s.kind, addr, s.message)
		if err != nil {
			return nil, err
		}
		defer c.Close()
		return work(c, d)
	}
}

func workloads(cfg config) []harness.Workload {
	var ws []harness.Workload
	two := func(name string, child bool, metrics []harness.Metric, run func(kind string) func(time.Duration) (harness.Sample, error)) harness.Workload {
		return harness.Workload{Section: sectionIPC, Name: name, Placement: placement(child), Metrics: metrics,
			Contenders: []harness.Contender{
				{Name: "ipc", Note: "ipc.Listen and ipc.Dial (peer credentials checked on both ends)", Ref: true, Run: run(kindIPC)},
				{Name: "net.UnixConn", Note: "net.Listen and net.Dial, raw", Target: 0.95, Run: run(kindUnix)},
			}}
	}
	// Where the time holds Dial and Accept, ipc's checks are in it: the
	// contender that makes the same checks by hand is the fair comparison
	// of ipc's cost; the raw one shows what the checks cost.
	checked := func(w harness.Workload, run func(kind string) func(time.Duration) (harness.Sample, error)) harness.Workload {
		c := harness.Contender{Name: "net.UnixConn, checked", Target: 0.95, Run: run(kindChecked),
			Note: "net.Listen and net.Dial with ipc's checks by hand: lstat of the socket's private directory, geteuid, SO_PEERCRED on both ends"}
		if runtime.GOOS != "linux" {
			c.Skip, c.Run = "SO_PEERCRED is Linux's", nil
		}
		w.Contenders = append(w.Contenders, c)
		return w
	}
	for _, child := range []bool{true, false} {
		for _, size := range []int{64 << 10, 1 << 20} {
			name := "throughput, 64 KiB writes"
			if size == 1<<20 {
				name = "throughput, 1 MiB writes"
			}
			ws = append(ws, two(name, child, throughputMetric, func(kind string) func(time.Duration) (harness.Sample, error) {
				return conn(cfg, serverSpec{kind: kind, mode: modeDiscard, child: child}, throughput(size))
			}))
		}
		ws = append(ws, two("ping-pong, 1 byte", child, harness.LatencyMetrics, func(kind string) func(time.Duration) (harness.Sample, error) {
			return conn(cfg, serverSpec{kind: kind, mode: modeEcho, child: child}, pingPong)
		}))
		ws = append(ws, two("message rate, 100-byte messages (SOCK_SEQPACKET)", child,
			[]harness.Metric{{Name: "rate", Unit: "msg/s", HigherBetter: true}},
			func(kind string) func(time.Duration) (harness.Sample, error) {
				return conn(cfg, serverSpec{kind: kind, mode: modeCount, message: true, child: child}, messages)
			}))
		for _, k := range []int{1, 16} {
			name := "connect rate (dial, accept, close), 1 client"
			if k > 1 {
				name = fmt.Sprintf("connect rate (dial, accept, close), %d clients at once", k)
			}
			run := func(kind string) func(time.Duration) (harness.Sample, error) {
				return connectWork(cfg, serverSpec{kind: kind, mode: modeClose, child: child}, kind, k)
			}
			ws = append(ws, checked(two(name, child, []harness.Metric{{Name: "rate", Unit: "conn/s", HigherBetter: true}}, run), run))
		}
		ws = append(ws, two("ping-pong on 16 connections at once", child,
			[]harness.Metric{{Name: "rate", Unit: "round trips/s", HigherBetter: true}},
			func(kind string) func(time.Duration) (harness.Sample, error) {
				return parallelPingPong(cfg, serverSpec{kind: kind, mode: modeEcho, child: child}, kind, 16)
			}))
	}
	return ws
}
