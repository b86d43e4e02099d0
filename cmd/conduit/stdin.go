package main

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// stdin is read by one goroutine for the life of the process, whatever the
// connections that come and go: a connection takes what it reads from the
// pump, and one that ends gives back what it took and could not send, for
// the next (listen --keep-open), and leaves no reader behind that would
// take the next connection's input.
//
// The pump counts what it read and what was sent, so that a transfer that
// ends early can tell whether stdin had data it did not send (exit status
// 1) or had given nothing more (a clean end).
type pump struct {
	once sync.Once
	src  io.Reader
	// probe tells whether a read of src would return at once (made by
	// probeOnce before the pump's first read, so that the questions
	// about the kind of file never wait behind a read of ours); eof is
	// set once the pump has read the end.
	probeOnce sync.Once
	probe     func() bool
	eof       atomic.Bool
	ch        chan []byte // chunks read; closed at the end of stdin
	err       error       // why stdin ended, once ch is closed
	mu        sync.Mutex
	left      []byte // taken from ch or given back, not yet sent: read first
	read      int64  // bytes read from src
	sent      int64  // bytes sent (or consumed: an empty line in message mode)
}

var stdinPump *pump

func newPump(src io.Reader) *pump { return &pump{src: src, ch: make(chan []byte)} }

func (p *pump) start() {
	p.once.Do(func() {
		p.makeProbe()
		go func() {
			for {
				buf := make([]byte, 64<<10)
				n, err := p.src.Read(buf)
				if n > 0 {
					p.mu.Lock()
					p.read += int64(n)
					p.mu.Unlock()
					p.ch <- buf[:n]
				}
				if err != nil {
					if err != io.EOF {
						p.err = err
					}
					p.eof.Store(true)
					close(p.ch)
					return
				}
			}
		}()
	})
}

// unsent is how many bytes stdin has given that no connection has sent:
// taken by a connection that has not (yet) written them, given back, or
// read by the pump and waiting for a reader.
func (p *pump) unsent() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.read - p.sent
}

// done records that n bytes a reader took were sent (or consumed).
func (p *pump) done(n int) {
	p.mu.Lock()
	p.sent += int64(n)
	p.mu.Unlock()
}

// giveBack returns bytes a reader took but did not send, to be read first
// by the next reader, in their order.
func (p *pump) giveBack(b []byte) {
	if len(b) == 0 {
		return
	}
	p.mu.Lock()
	p.left = append(append([]byte(nil), b...), p.left...)
	p.mu.Unlock()
}

// readNow reports whether stdin's next read returns without waiting: the
// pump has read its end, or its end or data is there (the platform's
// probe). Only an *os.File can tell; any other reader says no. The probe
// runs beside the pump's read and gives up after wait (on Windows it can
// wait behind that read: stdin_windows.go), which also counts as no.
func (p *pump) readNow(wait time.Duration) bool {
	if p.eof.Load() {
		return true // read by the pump, not yet by a connection
	}
	p.makeProbe()
	ch := make(chan bool, 1)
	go func() { ch <- p.probe() }()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case ready := <-ch:
		return ready
	case <-t.C:
		return false
	}
}

// makeProbe makes p.probe, once: for an *os.File, the platform's
// (newProbe); any other reader cannot tell, and says no.
func (p *pump) makeProbe() {
	p.probeOnce.Do(func() {
		p.probe = func() bool { return false }
		if f, ok := p.src.(*os.File); ok {
			p.probe = newProbe(f)
		}
	})
}

// errEnded is a reader's error once its connection has ended.
var errEnded = errors.New("the connection ended")

// reader returns a reader of stdin for one connection, which stops with
// errEnded once stop is closed. A chunk that arrives as stop closes goes
// to left, never to a reader that has stopped.
func (p *pump) reader(stop <-chan struct{}) io.Reader {
	p.start()
	return readerFunc(func(b []byte) (int, error) {
		p.mu.Lock()
		if len(p.left) > 0 {
			n := copy(b, p.left)
			p.left = p.left[n:]
			p.mu.Unlock()
			return n, nil
		}
		p.mu.Unlock()
		select {
		case <-stop:
			return 0, errEnded
		default:
		}
		select {
		case chunk, ok := <-p.ch:
			if !ok {
				if p.err != nil {
					return 0, p.err
				}
				return 0, io.EOF
			}
			p.mu.Lock()
			defer p.mu.Unlock()
			select {
			case <-stop:
				p.left = append(p.left, chunk...)
				return 0, errEnded
			default:
			}
			n := copy(b, chunk)
			p.left = append(p.left, chunk[n:]...)
			return n, nil
		case <-stop:
			return 0, errEnded
		}
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }
