//go:build linux || darwin || freebsd || windows

package ipc

import (
	"context"
	"io"
	"net"
	"testing"
)

// Each benchmark runs ipc and its baseline, side by side in the same run:
// on Unix raw *net.UnixConn sockets, on Windows package namedpipe directly.
// Compare them within one run (go test -bench . -count N): this machine's
// run-to-run spread is wider than the difference they are meant to show.

// An endpoint is one way to listen and dial.
type endpoint struct {
	name   string
	listen func(b *testing.B, message bool) (net.Listener, string)
	dial   func(name string, message bool) (net.Conn, error)
}

func ipcEndpoint() endpoint {
	return endpoint{"ipc",
		func(b *testing.B, message bool) (net.Listener, string) {
			l, name := listen(b, &Config{MessageMode: message})
			return l, name
		},
		func(name string, message bool) (net.Conn, error) {
			cfg := Config{MessageMode: message}
			return cfg.Dial(context.Background(), name)
		}}
}

// serve accepts every connection of l and runs fn on it.
func serve(l net.Listener, fn func(net.Conn)) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				fn(c)
			}()
		}
	}()
}

func drain(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

func echo(c net.Conn) {
	buf := make([]byte, 64<<10)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

// connected returns a client connected to a server that runs fn.
func connected(b *testing.B, e endpoint, message bool, fn func(net.Conn)) net.Conn {
	l, name := e.listen(b, message)
	b.Cleanup(func() { l.Close() })
	serve(l, fn)
	c, err := e.dial(name, message)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

func BenchmarkThroughput(b *testing.B) {
	for _, e := range endpoints() {
		b.Run(e.name, func(b *testing.B) {
			c := connected(b, e, false, drain)
			buf := make([]byte, 64<<10)
			b.SetBytes(int64(len(buf)))
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkPingPong(b *testing.B) {
	for _, e := range endpoints() {
		b.Run(e.name, func(b *testing.B) {
			c := connected(b, e, false, echo)
			buf := make([]byte, 1)
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(buf); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(c, buf); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Message rate: 100-byte messages, each echoed as a message.
func BenchmarkMessages(b *testing.B) {
	for _, e := range messageEndpoints() {
		b.Run(e.name, func(b *testing.B) {
			c := connected(b, e, true, echo)
			msg := make([]byte, 100)
			buf := make([]byte, 200)
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
				if n, err := c.Read(buf); err != nil || n != len(msg) {
					b.Fatalf("read %d bytes, %v", n, err)
				}
			}
		})
	}
}

func BenchmarkConnect(b *testing.B) {
	for _, e := range endpoints() {
		b.Run(e.name, func(b *testing.B) {
			l, name := e.listen(b, false)
			b.Cleanup(func() { l.Close() })
			serve(l, func(net.Conn) {})
			b.ResetTimer()
			for range b.N {
				c, err := e.dial(name, false)
				if err != nil {
					b.Fatal(err)
				}
				c.Close()
			}
		})
	}
}

// Message rate, one way: 100-byte messages as fast as the server reads
// them, the shape of bench/cmd/report's message-rate row. The last message
// is a 1-byte one that the server answers, so that the time covers every
// message read.
func BenchmarkMessageRate(b *testing.B) {
	for _, e := range messageEndpoints() {
		b.Run(e.name, func(b *testing.B) {
			c := connected(b, e, true, func(c net.Conn) {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if err != nil {
						return
					}
					if n == 1 {
						if _, err := c.Write(buf[:1]); err != nil {
							return
						}
					}
				}
			})
			msg := make([]byte, 100)
			b.ResetTimer()
			for range b.N {
				if _, err := c.Write(msg); err != nil {
					b.Fatal(err)
				}
			}
			if _, err := c.Write(msg[:1]); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Read(msg); err != nil {
				b.Fatal(err)
			}
		})
	}
}

// Connect and wait for the server to close, the shape of
// bench/cmd/report's connect-rate rows: Dial's checks (the directory's and
// the server's credentials) and Accept's (the client's credentials) are in
// the time.
func BenchmarkConnectClose(b *testing.B) {
	for _, e := range endpoints() {
		b.Run(e.name, func(b *testing.B) {
			l, name := e.listen(b, false)
			b.Cleanup(func() { l.Close() })
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					c.Close()
				}
			}()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				c, err := e.dial(name, false)
				if err != nil {
					b.Fatal(err)
				}
				// The end of the stream (io.EOF on Unix; a closed pipe's
				// error may differ on Windows).
				var one [1]byte
				if n, err := c.Read(one[:]); err == nil {
					b.Fatalf("read %d bytes from a server that closes at once", n)
				}
				c.Close()
			}
		})
	}
}
