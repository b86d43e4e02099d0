package winio_test

import (
	"bufio"
	"fmt"
	"os"
	"time"

	"github.com/conduit-ipc/conduit/winio"
)

// A go-winio program, unchanged but for its import line: a server that
// answers one line and a client that asks.
func ExampleListenPipe() {
	const path = `\\.\pipe\conduit-winio-example`
	l, err := winio.ListenPipe(path, &winio.PipeConfig{
		MessageMode:      true, // so that connections have CloseWrite
		InputBufferSize:  65536,
		OutputBufferSize: 65536,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		line, _ := bufio.NewReader(c).ReadString('\n')
		fmt.Fprintf(c, "got %s", line)
	}()

	timeout := 5 * time.Second
	c, err := winio.DialPipe(path, &timeout)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	fmt.Fprintf(c, "hello\n")
	reply, err := bufio.NewReader(c).ReadString('\n')
	fmt.Print(reply, err)
	// Output: got hello
	// <nil>
}

// DialPipe of a pipe nobody listens on fails at once, and os.IsNotExist
// says so, as with go-winio.
func ExampleDialPipe() {
	_, err := winio.DialPipe(`\\.\pipe\conduit-winio-example-nobody`, nil)
	fmt.Println(err != nil, os.IsNotExist(err))
	// Output: true true
}
