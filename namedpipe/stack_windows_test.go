package namedpipe

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/conduit-ipc/conduit/internal/stacktest"
)

// The kernel writes a pending read's data, and reads a pending write's,
// after the call that issued it has returned. A buffer on the caller's
// goroutine stack must therefore not move meanwhile, and the garbage
// collector moves stacks: it shrinks a goroutine's stack that uses little
// of what it has. These tests read and write through stack buffers on a
// goroutine whose stack was grown first, and run the collector while the
// operation is parked on the completion port, past any fast path.
//
// They fail on code that lets such a buffer stay on the stack (the
// compiler keeps it there when nothing makes it escape), as conduit did.
// Pinning it, as iocp does, also makes it escape to the heap, so on fixed
// code the buffer is never on the stack at all: the tests then guard
// against that changing back.

// parkedFrames are the frames of an operation parked on the completion
// port, waiting for its packet.
var parkedFrames = []string{"iocp.(*Op).await("}

// whileParked runs op on a goroutine with a grown stack and, once op's
// operation is parked in call, collects garbage (which moves that stack) and
// calls then, which must complete the operation. It returns op's error.
func whileParked(t *testing.T, call string, op func() error, then func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		stacktest.Grow(256)
		done <- op()
	}()
	stacktest.WaitParked(t, 1, call, parkedFrames...)
	runtime.GC()
	runtime.GC()
	then()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func stackPattern(i int) byte { return byte(i*7 + 3) }

func TestStackBufferRead(t *testing.T) {
	for _, message := range []bool{false, true} {
		t.Run(fmt.Sprint("message=", message), func(t *testing.T) {
			server, client := pair(t, &ListenConfig{MessageMode: message})
			var want [64]byte
			for i := range want {
				want[i] = stackPattern(i)
			}
			whileParked(t, "namedpipe.(*Conn).Read(", func() error {
				var buf [64]byte // on this goroutine's stack
				n, err := client.Read(buf[:])
				if err != nil {
					return err
				}
				if got := buf; n != len(want) || got != want {
					// got is a copy: buf itself must not escape.
					return fmt.Errorf("read %d bytes %x, want %x", n, got[:n], want)
				}
				return nil
			}, func() {
				if _, err := server.Write(want[:]); err != nil {
					t.Error(err)
				}
			})
		})
	}
}

func TestStackBufferReadMessage(t *testing.T) {
	server, client := pair(t, &ListenConfig{MessageMode: true})
	want := bytes.Repeat([]byte("stack"), 2000) // longer than ReadMessage's first buffer
	whileParked(t, "namedpipe.(*Conn).ReadMessage(", func() error {
		got, err := client.ReadMessage()
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("ReadMessage: %d bytes, differing from the %d sent", len(got), len(want))
		}
		return nil
	}, func() {
		if _, err := server.Write(want); err != nil {
			t.Error(err)
		}
	})
}

// A write larger than the pipe's quota stays pending until the reader
// reads; its data is taken from the caller's stack buffer meanwhile.
func TestStackBufferWrite(t *testing.T) {
	parked := parkedFrames
	server, client := pair(t, &ListenConfig{InputBufferSize: 4096, OutputBufferSize: 4096})
	const size = 32 << 10
	done := make(chan error, 1)
	go func() {
		stacktest.Grow(256)
		var buf [size]byte // on this goroutine's stack
		for i := range buf {
			buf[i] = stackPattern(i)
		}
		_, err := client.Write(buf[:])
		done <- err
	}()
	stacktest.WaitParked(t, 1, "namedpipe.(*Conn).Write(", parked...)
	runtime.GC()
	runtime.GC()
	got := make([]byte, size)
	if _, err := io.ReadFull(server, got); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, b := range got {
		if b != stackPattern(i) {
			t.Fatalf("byte %d of the write is %#x, want %#x", i, b, stackPattern(i))
		}
	}
}

// Transact's request comes from the caller; its reply is read while the
// transaction is parked.
func TestStackBufferTransact(t *testing.T) {
	server, client := pair(t, &ListenConfig{MessageMode: true})
	reply := []byte("the reply")
	got := make(chan []byte, 1)
	whileParked(t, "namedpipe.(*Conn).Transact(", func() error {
		var req [64]byte // on this goroutine's stack
		for i := range req {
			req[i] = stackPattern(i)
		}
		r, err := client.Transact(context.Background(), req[:])
		got <- r
		return err
	}, func() {
		m, err := server.ReadMessage()
		if err != nil {
			t.Error(err)
			return
		}
		for i, b := range m {
			if b != stackPattern(i) {
				t.Errorf("request byte %d is %#x, want %#x", i, b, stackPattern(i))
				break
			}
		}
		if _, err := server.Write(reply); err != nil {
			t.Error(err)
		}
	})
	if r := <-got; !bytes.Equal(r, reply) {
		t.Fatalf("Transact reply %q, want %q", r, reply)
	}
}
