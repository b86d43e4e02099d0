package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/conduit-ipc/conduit/bench/harness"
)

// Named-pipe workloads. Every contender's server runs in a child process
// (this program again, or pipebench.exe) or in this process, as the
// workload says; the client runs here, and is what is timed.

const (
	sectionPipes  = "Named pipes (Windows, under Wine)"
	sectionDropin = "go-winio's API: conduit's winio (Windows, under Wine)"
)

// A pair is one contender of a one-connection workload: a server and the
// client that talks to it.
type pair struct {
	name, note string
	srv        serverSpec
	cli        string // a client kind, or "c-overlapped"/"c-sync" for pipebench.exe's client
	target     float64
	ref        bool
	skip       string
}

// pairs returns the contenders of a byte-stream workload whose server runs
// in mode: conduit's client and server, and every peer. The C programs
// take part only with their server in a child process (they are
// processes); withC says whether they do at all.
func pairs(cfg config, mode string, child, withC bool) []pair {
	s := func(kind string) serverSpec { return serverSpec{kind: kind, mode: mode, child: child} }
	ps := []pair{
		{name: "conduit", note: "conduit client, conduit server", srv: s(srvConduit), cli: cliConduit, ref: true},
		{name: "go-winio", note: "go-winio DialPipe, conduit server", srv: s(srvConduit), cli: cliWinio, target: 1.2},
		{name: "sync client", note: "CreateFile + ReadFile/WriteFile, synchronous; conduit server", srv: s(srvConduit), cli: cliSync, target: 1.0},
		{name: "npipe", note: "natefinch/npipe.v2 client and server", srv: s(srvNpipe), cli: cliNpipe},
		{name: "sync both ends", note: "synchronous CreateNamedPipe server and client", srv: s(srvSync), cli: cliSync},
	}
	if child && withC {
		cskip := ""
		if cfg.cdir == "" {
			cskip = "pipebench.exe not built (run.sh builds it with x86_64-w64-mingw32-gcc)"
		}
		ps = append(ps,
			pair{name: "C overlapped", note: "pipebench.c: overlapped calls and a completion port, client and server",
				srv: serverSpec{kind: srvCOver, mode: mode, child: true}, cli: "c-overlapped", skip: cskip},
			pair{name: "C sync", note: "pipebench.c: synchronous calls, client and server",
				srv: serverSpec{kind: srvCSync, mode: mode, child: true}, cli: "c-sync", skip: cskip},
			pair{name: "C overlapped client", note: "pipebench.c's overlapped client, conduit server",
				srv: serverSpec{kind: srvConduit, mode: mode, child: true}, cli: "c-overlapped", skip: cskip},
		)
	}
	return ps
}

// contenders turns pairs into contenders whose work is done by goWork (a Go
// client) or, for the C clients, by pipebench.exe running cwork.
func contenders(cfg config, ps []pair, goWork func(c io.ReadWriteCloser, d time.Duration) (harness.Sample, error),
	cwork string, csize int) []harness.Contender {
	var out []harness.Contender
	for _, p := range ps {
		p := p
		c := harness.Contender{Name: p.name, Note: p.note, Ref: p.ref, Target: p.target, Skip: p.skip}
		c.Run = func(d time.Duration) (harness.Sample, error) {
			path, stop, err := startServer(cfg, p.srv)
			if err != nil {
				return nil, err
			}
			defer stop()
			if p.cli == "c-overlapped" || p.cli == "c-sync" {
				return runC(cfg, p.cli[2:], cwork, path, csize, d)
			}
			conn, err := dial(p.cli, path, p.srv.message)
			if err != nil {
				return nil, err
			}
			defer conn.Close()
			return goWork(conn, d)
		}
		out = append(out, c)
	}
	return out
}

// runC runs pipebench.exe's client and returns the sample it prints.
func runC(cfg config, flavour, work, path string, size int, d time.Duration) (harness.Sample, error) {
	ms := strconv.FormatFloat(float64(d)/float64(time.Millisecond), 'f', -1, 64)
	out, err := runOutput(exec.Command(cexe(cfg), "client", flavour, work, path, strconv.Itoa(size), ms))
	if err != nil {
		return nil, err
	}
	var s harness.Sample
	if err := json.Unmarshal(bytes.TrimSpace(out), &s); err != nil {
		return nil, fmt.Errorf("pipebench: %q: %v", out, err)
	}
	return s, nil
}

// idle opens n connections to a server in a child process that holds them,
// each with a goroutine blocked in Read, and measures the OS threads and
// the Go heap that they add to this process, per connection.
func idle(cfg config, cli string, n int) func(d time.Duration) (harness.Sample, error) {
	return func(time.Duration) (harness.Sample, error) {
		path, stop, err := startServer(cfg, serverSpec{kind: srvConduit, mode: modeHold, child: true})
		if err != nil {
			return nil, err
		}
		defer stop()
		runtime.GC()
		threads0, err := threadCount()
		if err != nil {
			return nil, err
		}
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		heap0 := ms.HeapAlloc
		conns := make([]io.ReadWriteCloser, 0, n)
		var wg sync.WaitGroup
		var returned atomic.Int32 // reads that ended: none may before teardown
		defer func() {
			for _, c := range conns {
				c.Close()
			}
			wg.Wait()
		}()
		for range n {
			c, err := dial(cli, path, false)
			if err != nil {
				return nil, err
			}
			conns = append(conns, c)
			wg.Add(1)
			go func() {
				defer wg.Done()
				var b [1]byte
				c.Read(b[:])
				returned.Add(1)
			}()
		}
		// Let the reads reach their waits: until the thread count holds
		// still for a while (a read that blocks a thread has its thread
		// by then).
		threads, err := settledThreads()
		if err != nil {
			return nil, err
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		if r := returned.Load(); r > 0 {
			return nil, fmt.Errorf("%d of %d reads ended before the connections closed: they were not idle, and the row would measure nothing", r, n)
		}
		return harness.Sample{
			"OS threads": float64(threads-threads0) / float64(n),
			"Go heap":    (float64(ms.HeapAlloc) - float64(heap0)) / float64(n),
		}, nil
	}
}

// settledThreads returns the process's thread count once it has been the
// same for 100 ms, or after 3 s.
func settledThreads() (int, error) {
	last, err := threadCount()
	if err != nil {
		return 0, err
	}
	stable := 0
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline) && stable < 4; {
		time.Sleep(25 * time.Millisecond)
		n, err := threadCount()
		if err != nil {
			return 0, err
		}
		if n == last {
			stable++
		} else {
			stable, last = 0, n
		}
	}
	return last, nil
}

func workloads(cfg config) []harness.Workload {
	var ws []harness.Workload
	for _, child := range []bool{true, false} {
		for _, size := range []int{64 << 10, 1 << 20} {
			name := "throughput, 64 KiB writes"
			if size == 1<<20 {
				name = "throughput, 1 MiB writes"
			}
			ws = append(ws, harness.Workload{Section: sectionPipes, Name: name, Placement: placement(child),
				Metrics:    throughputMetric,
				Contenders: withCTarget(contenders(cfg, pairs(cfg, modeDiscard, child, true), throughput(size), "throughput", size), 0.9)})
		}
		ps := pairs(cfg, modeEcho, child, true)
		ps = append(ps, pair{name: "go-winio server", note: "go-winio ListenPipe and DialPipe",
			srv: serverSpec{kind: srvWinio, mode: modeEcho, child: child}, cli: cliWinio})
		ws = append(ws, harness.Workload{Section: sectionPipes, Name: "ping-pong, 1 byte", Placement: placement(child),
			Metrics:    harness.LatencyMetrics,
			Contenders: winioServerGuard(contenders(cfg, ps, pingPong, "pingpong", 1))})
		msrv := serverSpec{kind: srvConduit, mode: modeCount, message: true, child: child}
		mps := []pair{
			{name: "conduit", note: "conduit client, conduit message-mode server", srv: msrv, cli: cliConduit, ref: true},
			{name: "go-winio", note: "go-winio DialPipe, conduit server", srv: msrv, cli: cliWinio, target: 1.2},
			{name: "sync client", note: "CreateFile + WriteFile; conduit server", srv: msrv, cli: cliSync, target: 1.0},
			{name: "npipe client", note: "natefinch/npipe.v2 client (its server has no message mode), conduit server", srv: msrv, cli: cliNpipe},
			{name: "sync both ends", note: "synchronous message-mode CreateNamedPipe server and client",
				srv: serverSpec{kind: srvSync, mode: modeCount, message: true, child: child}, cli: cliSync},
		}
		ws = append(ws, harness.Workload{Section: sectionPipes, Name: "message rate, 100-byte messages", Placement: placement(child),
			Metrics:    []harness.Metric{{Name: "rate", Unit: "msg/s", HigherBetter: true}},
			Contenders: contenders(cfg, mps, messages, "", 0)})
	}
	for _, k := range []int{1, 16} {
		for _, child := range []bool{true, false} {
			if k == 16 && !child {
				continue
			}
			srv := serverSpec{kind: srvConduit, mode: modeClose, child: child}
			name := "connect rate (dial, accept, close), 1 client"
			if k > 1 {
				name = fmt.Sprintf("connect rate (dial, accept, close), %d clients at once", k)
			}
			ws = append(ws, harness.Workload{Section: sectionPipes, Name: name, Placement: placement(child),
				Metrics: []harness.Metric{{Name: "rate", Unit: "conn/s", HigherBetter: true}},
				Contenders: []harness.Contender{
					{Name: "conduit", Note: "namedpipe.Dial, conduit listener (4 instances listening)", Ref: true, Run: connectWork(cfg, srv, cliConduit, k)},
					{Name: "go-winio", Note: "go-winio DialPipe (polls every 10 ms while busy), conduit listener", Target: 1.2, Run: connectWork(cfg, srv, cliWinio, k)},
					{Name: "sync client", Note: "CreateFile, WaitNamedPipe while busy; conduit listener", Target: 1.0, Run: connectWork(cfg, srv, cliSync, k)},
					{Name: "npipe", Note: "natefinch/npipe.v2 client and listener (1 instance listening)",
						Run: connectWork(cfg, serverSpec{kind: srvNpipe, mode: modeClose, child: child}, cliNpipe, k)},
				}})
		}
	}
	psrv := serverSpec{kind: srvConduit, mode: modeEcho, child: true}
	ws = append(ws, harness.Workload{Section: sectionPipes, Name: "ping-pong on 16 connections at once", Placement: inChild,
		Metrics: []harness.Metric{{Name: "rate", Unit: "round trips/s", HigherBetter: true}},
		Contenders: []harness.Contender{
			{Name: "conduit", Note: "conduit client, conduit server", Ref: true, Run: parallelPingPong(cfg, psrv, cliConduit, 16)},
			{Name: "go-winio", Note: "go-winio DialPipe, conduit server", Target: 1.2, Run: parallelPingPong(cfg, psrv, cliWinio, 16)},
			{Name: "sync client", Note: "synchronous client (a thread each), conduit server", Target: 1.0, Run: parallelPingPong(cfg, psrv, cliSync, 16)},
			{Name: "npipe", Note: "natefinch/npipe.v2 client and server",
				Run: parallelPingPong(cfg, serverSpec{kind: srvNpipe, mode: modeEcho, child: true}, cliNpipe, 16)},
		}})
	n := cfg.idle
	idleMetrics := []harness.Metric{
		{Name: "OS threads", Unit: "per conn", Floor: 1 / float64(n)},
		{Name: "Go heap", Unit: "B per conn", Floor: 1},
	}
	ws = append(ws, harness.Workload{Section: sectionPipes, Name: fmt.Sprintf("%d idle connections, a Read pending on each", n),
		Placement: "client side; conduit server in a child process", Metrics: idleMetrics, Rounds: 3,
		Contenders: []harness.Contender{
			{Name: "conduit", Note: "namedpipe.Dial", Ref: true, Run: idle(cfg, cliConduit, n)},
			{Name: "go-winio", Note: "go-winio DialPipe", Run: idle(cfg, cliWinio, n)},
			{Name: "sync client", Note: "synchronous CreateFile", Run: idle(cfg, cliSync, n)},
			{Name: "npipe", Note: "natefinch/npipe.v2 Dial", Run: idle(cfg, cliNpipe, n)},
		}})
	ws = append(ws, dropinWorkloads(cfg)...)
	ws = append(ws, anonWorkloads(cfg)...)
	ws = append(ws, mailslotWorkloads(cfg)...)
	return ws
}

// withCTarget gives the C overlapped ceiling its target.
func withCTarget(cs []harness.Contender, t float64) []harness.Contender {
	for i := range cs {
		if cs[i].Name == "C overlapped" {
			cs[i].Target = t
		}
	}
	return cs
}

// winioServerGuard bounds the go-winio server's row: under Wine its first
// instance, opened with SYNCHRONIZE access only to keep the name, takes
// the first client (Windows leaves such an instance disconnected) and
// nobody reads it, so a ping-pong would wait forever. The row fails with
// that reason after 3 s, and is not tried again in later rounds.
func winioServerGuard(cs []harness.Contender) []harness.Contender {
	for i := range cs {
		if cs[i].Name != "go-winio server" {
			continue
		}
		run := cs[i].Run
		var failed error
		cs[i].Run = func(d time.Duration) (harness.Sample, error) {
			if failed != nil {
				return nil, failed
			}
			type result struct {
				s   harness.Sample
				err error
			}
			done := make(chan result, 1)
			go func() {
				s, err := run(d)
				done <- result{s, err}
			}()
			select {
			case r := <-done:
				return r.s, r.err
			case <-time.After(3*time.Second + 2*d):
				failed = errors.New("no echo within 3 s: go-winio's listener keeps its first instance open with SYNCHRONIZE access only; " +
					"Windows leaves that instance disconnected, Wine connects the first client to it and nobody reads it")
				return nil, failed
			}
		}
	}
	return cs
}

// dropinWorkloads measure conduit's winio package, go-winio's API on
// namedpipe, as the reference: against namedpipe itself, which it must keep
// up with (target 0.9: within this machine's noise), and against go-winio,
// client and server. Every server has 64 KiB buffers (Docker's setting;
// both go-winio's and winio's default is none).
func dropinWorkloads(cfg config) []harness.Workload {
	var ws []harness.Workload
	dropinPairs := func(mode string, child bool) []pair {
		s := func(kind string) serverSpec { return serverSpec{kind: kind, mode: mode, child: child} }
		return []pair{
			{name: "winio", note: "conduit's winio: DialPipe and ListenPipe", srv: s(srvDropin), cli: cliDropin, ref: true},
			{name: "namedpipe", note: "namedpipe.Dial and namedpipe.Listen", srv: s(srvConduit), cli: cliConduit, target: 0.9},
			{name: "go-winio client", note: "go-winio DialPipe, winio server", srv: s(srvDropin), cli: cliWinio, target: 1.0},
			{name: "go-winio server", note: "go-winio DialPipe and ListenPipe (64 KiB buffers)", srv: s(srvWinio64), cli: cliWinio},
		}
	}
	ws = append(ws, harness.Workload{Section: sectionDropin, Name: "throughput, 64 KiB writes", Placement: placement(true),
		Metrics:    throughputMetric,
		Contenders: winioServerGuard(contenders(cfg, dropinPairs(modeDiscard, true), throughput(64<<10), "", 0))})
	for _, child := range []bool{true, false} {
		ws = append(ws, harness.Workload{Section: sectionDropin, Name: "ping-pong, 1 byte", Placement: placement(child),
			Metrics:    harness.LatencyMetrics,
			Contenders: winioServerGuard(contenders(cfg, dropinPairs(modeEcho, child), pingPong, "", 0))})
	}
	srv := func(kind string) serverSpec { return serverSpec{kind: kind, mode: modeClose, child: true} }
	ws = append(ws, harness.Workload{Section: sectionDropin, Name: "connect rate (dial, accept, close), 1 client", Placement: placement(true),
		Metrics: []harness.Metric{{Name: "rate", Unit: "conn/s", HigherBetter: true}},
		Contenders: winioServerGuard([]harness.Contender{
			{Name: "winio", Note: "conduit's winio: DialPipe and ListenPipe", Ref: true, Run: connectWork(cfg, srv(srvDropin), cliDropin, 1)},
			{Name: "namedpipe", Note: "namedpipe.Dial and namedpipe.Listen", Target: 0.9, Run: connectWork(cfg, srv(srvConduit), cliConduit, 1)},
			{Name: "go-winio client", Note: "go-winio DialPipe, winio server", Target: 1.0, Run: connectWork(cfg, srv(srvDropin), cliWinio, 1)},
			{Name: "go-winio server", Note: "go-winio DialPipe and ListenPipe", Run: connectWork(cfg, srv(srvWinio64), cliWinio, 1)},
		})})
	return ws
}
