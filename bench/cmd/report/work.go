package main

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/conduit-ipc/conduit/bench/harness"
)

// What the servers do and what the clients time, on every platform.

const (
	inChild   = "server in a child process"
	inProcess = "server in the same process"
)

func placement(child bool) string {
	if child {
		return inChild
	}
	return inProcess
}

// Server modes: what a server does with each connection.
const (
	modeDiscard = "discard" // reads everything
	modeEcho    = "echo"    // writes back what it reads
	modeCount   = "count"   // counts messages; a 1-byte message asks for the count, sent back as 8 bytes
	modeClose   = "close"   // closes the connection at once
	modeHold    = "hold"    // keeps the connection, reading nothing
)

// serverSpec says which server a contender talks to.
type serverSpec struct {
	kind    string
	mode    string
	message bool // a message pipe
	child   bool // in a child process
}

// serveAll serves each connection that l accepts with mode, on a goroutine
// of its own, until l is closed; then it closes the connections it holds.
func serveAll(l net.Listener, mode string) {
	var mu sync.Mutex
	held := map[net.Conn]bool{}
	var wg sync.WaitGroup
	for {
		c, err := l.Accept()
		if err != nil {
			break
		}
		if mode == modeClose {
			c.Close()
			continue
		}
		mu.Lock()
		held[c] = true
		mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			serve(c, mode)
			if mode != modeHold {
				mu.Lock()
				delete(held, c)
				mu.Unlock()
				c.Close()
			}
		}()
	}
	mu.Lock()
	for c := range held {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
}

func serve(rw io.ReadWriter, mode string) {
	switch mode {
	case modeDiscard:
		buf := make([]byte, 1<<20)
		for {
			if _, err := rw.Read(buf); err != nil {
				return
			}
		}
	case modeEcho:
		buf := make([]byte, 64<<10)
		for {
			n, err := rw.Read(buf)
			if err != nil {
				return
			}
			if _, err := rw.Write(buf[:n]); err != nil {
				return
			}
		}
	case modeCount:
		buf := make([]byte, 64<<10)
		var count uint64
		for {
			n, err := rw.Read(buf)
			if err != nil && !isMoreData(err) {
				return
			}
			if n != 1 {
				count++
				continue
			}
			binary.LittleEndian.PutUint64(buf, count)
			if _, err := rw.Write(buf[:8]); err != nil {
				return
			}
			count = 0
		}
	}
}

var throughputMetric = []harness.Metric{{Name: "throughput", Unit: "MB/s", HigherBetter: true}}

// throughput writes size bytes at a time.
func throughput(size int) func(c io.ReadWriteCloser, d time.Duration) (harness.Sample, error) {
	return func(c io.ReadWriteCloser, d time.Duration) (harness.Sample, error) {
		buf := make([]byte, size)
		n, el, err := harness.Count(d, func() error {
			_, err := c.Write(buf)
			return err
		})
		if err != nil {
			return nil, err
		}
		return harness.Sample{"throughput": float64(n) * float64(size) / el.Seconds() / 1e6}, nil
	}
}

// pingPong writes one byte and reads its echo.
func pingPong(c io.ReadWriteCloser, d time.Duration) (harness.Sample, error) {
	buf := make([]byte, 1)
	return harness.Latency(d, func() error {
		if _, err := c.Write(buf); err != nil {
			return err
		}
		_, err := io.ReadFull(c, buf)
		return err
	})
}

// messages writes 100-byte messages as fast as the server reads them: a
// warm-up, then a 1-byte message that the server answers with its count,
// so that the pipe is empty when the timed part starts; the timed part
// ends when the server has answered for all of it.
func messages(c io.ReadWriteCloser, d time.Duration) (harness.Sample, error) {
	msg := bytes.Repeat([]byte{'m'}, 100)
	sync := func() (uint64, error) {
		if _, err := c.Write([]byte{'?'}); err != nil {
			return 0, err
		}
		var b [8]byte
		if _, err := io.ReadFull(c, b[:]); err != nil {
			return 0, err
		}
		return binary.LittleEndian.Uint64(b[:]), nil
	}
	write := func() error { _, err := c.Write(msg); return err }
	end := harness.Now() + d/harness.Warmup
	for harness.Now() < end {
		if err := write(); err != nil {
			return nil, err
		}
	}
	if _, err := sync(); err != nil {
		return nil, err
	}
	start := harness.Now()
	n := 0
	for end = start + d; harness.Now() < end; n++ {
		if err := write(); err != nil {
			return nil, err
		}
	}
	got, err := sync()
	if err != nil {
		return nil, err
	}
	el := harness.Now() - start
	if got != uint64(n) {
		return nil, fmt.Errorf("the server read %d messages of the %d sent", got, n)
	}
	return harness.Sample{"rate": float64(n) / el.Seconds()}, nil
}

// connectWork dials, waits for the server to close (it closes each
// connection as soon as it accepts it) and closes, on k goroutines at once.
func connectWork(cfg config, srv serverSpec, cli string, k int) func(d time.Duration) (harness.Sample, error) {
	return func(d time.Duration) (harness.Sample, error) {
		path, stop, err := startServer(cfg, srv)
		if err != nil {
			return nil, err
		}
		defer stop()
		op := func() error {
			c, err := dial(cli, path, srv.message)
			if err != nil {
				return err
			}
			defer c.Close()
			var b [1]byte
			if n, err := c.Read(b[:]); err != io.EOF {
				return fmt.Errorf("read after the server closed: %d, %v", n, err)
			}
			return nil
		}
		rate, err := parallel(k, d, func() (func() error, func(), error) { return op, func() {}, nil })
		if err != nil {
			return nil, err
		}
		return harness.Sample{"rate": rate}, nil
	}
}

// parallel runs op on k goroutines at once, each made by mk (which returns
// the operation and its clean-up), for a warm-up and then d, and returns
// the operations per second of all of them together.
func parallel(k int, d time.Duration, mk func() (func() error, func(), error)) (float64, error) {
	ops := make([]func() error, k)
	for i := range ops {
		op, done, err := mk()
		if err != nil {
			return 0, err
		}
		defer done()
		ops[i] = op
	}
	var wg sync.WaitGroup
	counts := make([]int, k)
	errs := make([]error, k)
	var els []time.Duration = make([]time.Duration, k)
	for i := range ops {
		wg.Add(1)
		go func() {
			defer wg.Done()
			counts[i], els[i], errs[i] = harness.Count(d, ops[i])
		}()
	}
	wg.Wait()
	// The first error of each kind: k goroutines tend to fail alike.
	seen := map[string]bool{}
	var distinct []error
	for _, err := range errs {
		if err != nil && !seen[err.Error()] {
			seen[err.Error()] = true
			distinct = append(distinct, err)
		}
	}
	if err := errors.Join(distinct...); err != nil {
		return 0, err
	}
	rate := 0.0
	for i := range counts {
		rate += float64(counts[i]) / els[i].Seconds()
	}
	return rate, nil
}

// parallelPingPong runs one-byte ping-pong on k connections at once.
func parallelPingPong(cfg config, srv serverSpec, cli string, k int) func(d time.Duration) (harness.Sample, error) {
	return func(d time.Duration) (harness.Sample, error) {
		path, stop, err := startServer(cfg, srv)
		if err != nil {
			return nil, err
		}
		defer stop()
		rate, err := parallel(k, d, func() (func() error, func(), error) {
			c, err := dial(cli, path, srv.message)
			if err != nil {
				return nil, nil, err
			}
			buf := make([]byte, 1)
			return func() error {
				if _, err := c.Write(buf); err != nil {
					return err
				}
				_, err := io.ReadFull(c, buf)
				return err
			}, func() { c.Close() }, nil
		})
		if err != nil {
			return nil, err
		}
		return harness.Sample{"rate": rate}, nil
	}
}
