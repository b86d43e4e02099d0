package anonpipe_test

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/conduit-ipc/conduit/anonpipe"
)

func ExamplePipe() {
	r, w, err := anonpipe.Pipe()
	if err != nil {
		panic(err)
	}
	defer r.Close()

	// Nothing written yet: the read gives up at its deadline, and the pipe
	// stays usable.
	r.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	_, err = r.Read(make([]byte, 16))
	fmt.Println("timed out:", errors.Is(err, os.ErrDeadlineExceeded))

	r.SetReadDeadline(time.Time{})
	go func() {
		w.Write([]byte("hello through an asynchronous pipe"))
		w.Close()
	}()
	b, err := io.ReadAll(r)
	fmt.Printf("%s %v\n", b, err)
	// Output:
	// timed out: true
	// hello through an asynchronous pipe <nil>
}

func ExampleDuplex() {
	a, b, err := anonpipe.Duplex()
	if err != nil {
		panic(err)
	}
	defer a.Close()
	defer b.Close()
	go func() {
		buf := make([]byte, 4)
		io.ReadFull(b, buf)
		b.Write([]byte("pong"))
	}()
	a.Write([]byte("ping"))
	reply := make([]byte, 4)
	io.ReadFull(a, reply)
	fmt.Println(string(reply))
	// Output: pong
}
