//go:build unix

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
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
)

var nameSeq atomic.Int64

// address returns a fresh name for kind: a short name for ipc, a socket
// path for raw sockets.
func address(kind string) string {
	name := fmt.Sprintf("conduit-bench-%d-%d", os.Getpid(), nameSeq.Add(1))
	if kind == kindUnix {
		return filepath.Join(os.TempDir(), name+".sock")
	}
	return name
}

func listen(kind, addr string, message bool) (net.Listener, error) {
	if kind == kindIPC {
		return (&ipc.Config{MessageMode: message}).Listen(addr)
	}
	network := "unix"
	if message {
		network = "unixpacket"
	}
	return net.Listen(network, addr)
}

func dial(kind, addr string, message bool) (io.ReadWriteCloser, error) {
	if kind == kindIPC {
		return (&ipc.Config{MessageMode: message}).Dial(context.Background(), addr)
	}
	network := "unix"
	if message {
		network = "unixpacket"
	}
	return net.Dial(network, addr)
}

func isMoreData(error) bool { return false }

// startServer runs the server s describes and returns its address and how
// to stop it.
func startServer(_ config, s serverSpec) (string, func(), error) {
	addr := address(s.kind)
	if s.child {
		msg := ""
		if s.message {
			msg = "1"
		}
		p, err := startChild("server", []string{"KIND=" + s.kind, "MODE=" + s.mode, "ADDR=" + addr, "MESSAGE=" + msg}, nil)
		if err != nil {
			return "", nil, err
		}
		return addr, p.stop, nil
	}
	l, err := listen(s.kind, addr, s.message)
	if err != nil {
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
			ws = append(ws, two(name, child, []harness.Metric{{Name: "rate", Unit: "conn/s", HigherBetter: true}},
				func(kind string) func(time.Duration) (harness.Sample, error) {
					return connectWork(cfg, serverSpec{kind: kind, mode: modeClose, child: child}, kind, k)
				}))
		}
		ws = append(ws, two("ping-pong on 16 connections at once", child,
			[]harness.Metric{{Name: "rate", Unit: "round trips/s", HigherBetter: true}},
			func(kind string) func(time.Duration) (harness.Sample, error) {
				return parallelPingPong(cfg, serverSpec{kind: kind, mode: modeEcho, child: child}, kind, 16)
			}))
	}
	return ws
}
