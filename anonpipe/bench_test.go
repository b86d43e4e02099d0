package anonpipe

import (
	"io"
	"os"
	"testing"
)

// BenchmarkThroughput moves data in 64 KiB writes through a one-way pipe:
// anonpipe's asynchronous ends against os.Pipe's (synchronous on Windows,
// non-blocking on Unix) in the same run.
func BenchmarkThroughput(b *testing.B) {
	for _, c := range []struct {
		name string
		pipe func() (*os.File, *os.File, error)
	}{
		{"anonpipe.Pipe", Pipe},
		{"anonpipe.Duplex", Duplex},
		{"os.Pipe", os.Pipe},
	} {
		b.Run(c.name, func(b *testing.B) {
			r, w, err := c.pipe()
			if err != nil {
				b.Fatal(err)
			}
			defer r.Close()
			const chunk = 64 << 10
			done := make(chan error, 1)
			go func() {
				buf := make([]byte, chunk)
				_, err := io.CopyBuffer(io.Discard, r, buf)
				done <- err
			}()
			buf := make([]byte, chunk)
			b.SetBytes(chunk)
			b.ResetTimer()
			for range b.N {
				if _, err := w.Write(buf); err != nil {
					b.Fatal(err)
				}
			}
			w.Close()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
		})
	}
}

// BenchmarkPingPong sends one byte each way per iteration over two pipes.
func BenchmarkPingPong(b *testing.B) {
	for _, c := range []struct {
		name string
		pipe func() (*os.File, *os.File, error)
	}{
		{"anonpipe.Pipe", Pipe},
		{"os.Pipe", os.Pipe},
	} {
		b.Run(c.name, func(b *testing.B) {
			r1, w1, err := c.pipe()
			if err != nil {
				b.Fatal(err)
			}
			r2, w2, err := c.pipe()
			if err != nil {
				b.Fatal(err)
			}
			// Closing w1 first ends the echo goroutine's Read with io.EOF:
			// closing a synchronous handle under a pending Read would wait
			// for that Read.
			defer func() {
				for _, f := range []*os.File{w1, r1, w2, r2} {
					f.Close()
				}
			}()
			go func() {
				one := make([]byte, 1)
				for {
					if _, err := r1.Read(one); err != nil {
						return
					}
					if _, err := w2.Write(one); err != nil {
						return
					}
				}
			}()
			one := make([]byte, 1)
			b.ResetTimer()
			for range b.N {
				w1.Write(one)
				if _, err := r2.Read(one); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
