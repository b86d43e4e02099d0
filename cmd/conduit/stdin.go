package main

import (
	"errors"
	"io"
	"sync"
)

// stdin is read by one goroutine for the life of the process, whatever the
// connections that come and go: a connection takes what it reads from the
// pump, and one that ends leaves what it has not taken for the next
// (listen --keep-open), and leaves no reader behind that would take the
// next connection's input.
type pump struct {
	once sync.Once
	src  io.Reader
	ch   chan []byte // chunks read; closed at the end of stdin
	err  error       // why stdin ended, once ch is closed
	mu   sync.Mutex
	left []byte // of a chunk taken, what a reader had no room for
}

var stdinPump *pump

func newPump(src io.Reader) *pump { return &pump{src: src, ch: make(chan []byte)} }

func (p *pump) start() {
	p.once.Do(func() {
		go func() {
			for {
				buf := make([]byte, 64<<10)
				n, err := p.src.Read(buf)
				if n > 0 {
					p.ch <- buf[:n]
				}
				if err != nil {
					if err != io.EOF {
						p.err = err
					}
					close(p.ch)
					return
				}
			}
		}()
	})
}

// errEnded is a reader's error once its connection has ended.
var errEnded = errors.New("the connection ended")

// reader returns a reader of stdin for one connection, which stops with
// errEnded once done is closed.
func (p *pump) reader(done <-chan struct{}) io.Reader {
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
		case chunk, ok := <-p.ch:
			if !ok {
				if p.err != nil {
					return 0, p.err
				}
				return 0, io.EOF
			}
			n := copy(b, chunk)
			p.mu.Lock()
			p.left = append(p.left, chunk[n:]...)
			p.mu.Unlock()
			return n, nil
		case <-done:
			return 0, errEnded
		}
	})
}

type readerFunc func([]byte) (int, error)

func (f readerFunc) Read(b []byte) (int, error) { return f(b) }
