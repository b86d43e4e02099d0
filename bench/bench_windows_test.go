package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"sync/atomic"
	"testing"
	"time"

	winio "github.com/Microsoft/go-winio"
	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

var seq atomic.Int64

func pipeName() string { return fmt.Sprintf(`\\.\pipe\conduit-bench-%d-%d`, os.Getpid(), seq.Add(1)) }

const chunk = 64 << 10

// A client is how one benchmark row opens the client end.
type client struct {
	name string
	dial func(path string) (io.ReadWriteCloser, error)
}

var clients = []client{
	{"conduit", func(p string) (io.ReadWriteCloser, error) { return namedpipe.Dial(context.Background(), p) }},
	{"go-winio", func(p string) (io.ReadWriteCloser, error) { t := time.Second; return winio.DialPipe(p, &t) }},
	{"os.File-poller", func(p string) (io.ReadWriteCloser, error) { return openFile(p, windows.FILE_FLAG_OVERLAPPED) }},
	{"sync", func(p string) (io.ReadWriteCloser, error) { return openFile(p, 0) }},
}

// openFile opens the client end with CreateFile: overlapped handles go to
// Go's runtime poller through os.NewFile, synchronous ones block a thread.
func openFile(path string, flags uint32) (io.ReadWriteCloser, error) {
	p, _ := windows.UTF16PtrFromString(path)
	h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING, flags, 0)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(h), path), nil
}

// A server is how one benchmark row listens.
type server struct {
	name   string
	listen func(path string) (net.Listener, error)
}

// go-winio's own listener is left out: it keeps a first instance opened
// with SYNCHRONIZE access only, which Windows leaves disconnected but Wine
// connects clients to, and nobody ever reads from it there.
var servers = []server{
	{"conduit", func(p string) (net.Listener, error) { return namedpipe.Listen(p) }},
}

// discard reads everything in 64 KiB pieces (io.Discard's ReadFrom would
// read 8 KiB at a time).
func discard(r io.Reader) {
	buf := make([]byte, chunk)
	for {
		if _, err := r.Read(buf); err != nil {
			return
		}
	}
}

// echo writes back what it reads, in up to 64 KiB pieces.
func echo(rw io.ReadWriter) {
	buf := make([]byte, chunk)
	for {
		n, err := rw.Read(buf)
		if err != nil {
			return
		}
		if _, err := rw.Write(buf[:n]); err != nil {
			return
		}
	}
}

// serveAll serves each connection l accepts with serve, on a goroutine of
// its own, until l is closed.
func serveAll(l net.Listener, serve func(io.ReadWriter)) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			serve(c)
		}()
	}
}

// syncPair is the raw baseline: a synchronous server instance
// (CreateNamedPipe without FILE_FLAG_OVERLAPPED) and a synchronous client,
// each call blocking its thread.
func syncPair(b *testing.B, serve func(io.ReadWriter)) io.ReadWriteCloser {
	path := pipeName()
	p, _ := windows.UTF16PtrFromString(path)
	h, err := windows.CreateNamedPipe(p, windows.PIPE_ACCESS_DUPLEX, windows.PIPE_TYPE_BYTE|windows.PIPE_READMODE_BYTE|windows.PIPE_WAIT,
		1, chunk, chunk, 0, nil)
	if err != nil {
		b.Fatal(err)
	}
	srv := os.NewFile(uintptr(h), path)
	connected := make(chan error, 1)
	go func() {
		err := windows.ConnectNamedPipe(h, nil)
		if err == windows.ERROR_PIPE_CONNECTED {
			err = nil
		}
		connected <- err
		if err == nil {
			serve(srv)
		}
		srv.Close()
	}()
	c, err := openFile(path, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := <-connected; err != nil {
		b.Fatal(err)
	}
	return c
}

func rows(b *testing.B, serveFn func(io.ReadWriter), run func(b *testing.B, conn io.ReadWriteCloser)) {
	b.Run("sync-server/sync-client", func(b *testing.B) {
		conn := syncPair(b, serveFn)
		defer conn.Close()
		run(b, conn)
	})
	for _, s := range servers {
		for _, c := range clients {
			b.Run(s.name+"-server/"+c.name+"-client", func(b *testing.B) {
				path := pipeName()
				l, err := s.listen(path)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				go serveAll(l, serveFn)
				conn, err := c.dial(path)
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				run(b, conn)
			})
		}
	}
}

// BenchmarkThroughput moves data one way in 64 KiB writes.
func BenchmarkThroughput(b *testing.B) {
	rows(b, func(rw io.ReadWriter) { discard(rw) }, throughput)
}

func throughput(b *testing.B, conn io.ReadWriteCloser) {
	buf := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkPingPong sends one byte and waits for its echo.
func BenchmarkPingPong(b *testing.B) { rows(b, echo, pingPong) }

func pingPong(b *testing.B, conn io.ReadWriteCloser) {
	buf := make([]byte, 1)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := conn.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(conn, buf); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkConnect measures dial, accept and close of both ends.
func BenchmarkConnect(b *testing.B) {
	for _, s := range servers {
		for _, c := range clients[:2] {
			b.Run(s.name+"-server/"+c.name+"-client", func(b *testing.B) {
				path := pipeName()
				l, err := s.listen(path)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				accepted := make(chan error, 1)
				go func() {
					for {
						c, err := l.Accept()
						if err != nil {
							accepted <- err
							return
						}
						c.Close()
						accepted <- nil
					}
				}()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					conn, err := c.dial(path)
					if err != nil {
						b.Fatal(err)
					}
					if err := <-accepted; err != nil {
						b.Fatal(err)
					}
					conn.Close()
				}
			})
		}
	}
}

// BenchmarkParallelPingPong runs one-byte ping-pong on 8 x GOMAXPROCS
// connections at once, each with its own goroutine: many operations in
// flight, as in a busy server. The listener keeps enough instances waiting
// for all of them to connect at once, since the raw clients do not retry on
// ERROR_PIPE_BUSY.
func BenchmarkParallelPingPong(b *testing.B) {
	for _, c := range clients {
		b.Run("conduit-server/"+c.name+"-client", func(b *testing.B) {
			path := pipeName()
			l, err := (&namedpipe.ListenConfig{Backlog: 64}).Listen(path)
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			go serveAll(l, echo)
			b.SetParallelism(8)
			b.RunParallel(func(pb *testing.PB) {
				conn, err := c.dial(path)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				buf := make([]byte, 1)
				for pb.Next() {
					if _, err := conn.Write(buf); err != nil {
						b.Error(err)
						return
					}
					if _, err := io.ReadFull(conn, buf); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
