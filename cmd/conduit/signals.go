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
// short). It is set up before the listener exists, so that a signal that
// comes while the socket is being made still removes it.
type serverSignals struct {
	ch     chan os.Signal
	keep   bool
	active atomic.Int32
	mu     sync.Mutex
	l      io.Closer
	sig    os.Signal // once one came
	once   sync.Once
}

func watchSignals(keep bool) *serverSignals {
	s := &serverSignals{ch: make(chan os.Signal, 1), keep: keep}
	signal.Notify(s.ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-s.ch
		if !ok {
			return
		}
		s.mu.Lock()
		s.sig = sig
		l := s.l
		s.mu.Unlock()
		if l == nil {
			// The listener is being made and its socket may exist
			// already: attach closes it (removing the socket) and
			// exits; if making it fails, its error ends conduit.
			return
		}
		l.Close()
		s.exit()
	}()
	return s
}

// attach gives the listener to close; if a signal came before, it is
// closed at once and conduit exits.
func (s *serverSignals) attach(l io.Closer) {
	s.mu.Lock()
	s.l = l
	fired := s.sig != nil
	s.mu.Unlock()
	if fired {
		l.Close()
		s.exit()
	}
}

func (s *serverSignals) exit() {
	if s.keep && s.active.Load() == 0 {
		os.Exit(0)
	}
	fmt.Fprintf(std.err, "conduit: interrupted (%v): the transfer was cut short\n", s.sig)
	os.Exit(1)
}

func (s *serverSignals) busy(n int32) { s.active.Add(n) }

func (s *serverSignals) fired() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sig != nil
}

// wait blocks while the signal's goroutine exits the process.
func (s *serverSignals) wait() error { select {} }

func (s *serverSignals) stop() {
	s.once.Do(func() {
		signal.Stop(s.ch)
		close(s.ch)
	})
}
