package main

import (
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"sync/atomic"
	"syscall"
)

// serverSignals closes a listener on SIGINT or SIGTERM, so that its socket
// file is removed (Unix) before conduit exits, and decides the exit status:
// 0 for a --keep-open server with no connection open (stopping it is how it
// ends), else 1 with one line (a transfer, or the wait for one, was cut
// short).
type serverSignals struct {
	ch     chan os.Signal
	l      io.Closer
	keep   bool
	active atomic.Int32
	sig    atomic.Value // os.Signal, once one came
	once   sync.Once
	done   chan struct{}
}

func watchSignals(l io.Closer, keep bool) *serverSignals {
	s := &serverSignals{ch: make(chan os.Signal, 1), l: l, keep: keep, done: make(chan struct{})}
	signal.Notify(s.ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-s.ch
		if !ok {
			return
		}
		s.sig.Store(sig)
		l.Close()
		if keep && s.active.Load() == 0 {
			os.Exit(0)
		}
		fmt.Fprintf(std.err, "conduit: interrupted (%v): the transfer was cut short\n", sig)
		os.Exit(1)
	}()
	return s
}

func (s *serverSignals) busy(n int32) { s.active.Add(n) }

func (s *serverSignals) fired() bool { return s.sig.Load() != nil }

// wait blocks while the signal's goroutine exits the process.
func (s *serverSignals) wait() error { select {} }

func (s *serverSignals) stop() {
	s.once.Do(func() {
		signal.Stop(s.ch)
		close(s.ch)
	})
}
