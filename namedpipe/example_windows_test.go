package namedpipe_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/conduit-ipc/conduit/namedpipe"
)

// A server that echoes and a client that dials it.
func Example() {
	name := fmt.Sprintf("example-echo-%d", os.Getpid())
	l, err := namedpipe.Listen(name)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		io.Copy(c, c)
	}()

	c, err := namedpipe.Dial(context.Background(), name)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", buf)
	// Output: hello
}

// Message pipes keep message boundaries.
func ExampleListenConfig_messages() {
	name := fmt.Sprintf("example-messages-%d", os.Getpid())
	cfg := namedpipe.ListenConfig{MessageMode: true, MaxInstances: 1}
	l, err := cfg.Listen(name)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := namedpipe.Dial(context.Background(), name)
		if err != nil {
			return
		}
		c.Write([]byte("first"))
		c.Write([]byte("second message"))
		c.CloseWrite() // the zero-length message: the server's Read sees io.EOF
	}()
	c, err := l.AcceptPipe()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	for {
		msg, err := c.ReadMessage()
		if err != nil {
			log.Fatal(err)
		}
		if len(msg) == 0 {
			fmt.Println("end of stream")
			break
		}
		fmt.Printf("%q\n", msg)
	}
	// Output:
	// "first"
	// "second message"
	// end of stream
}

// Dial waits for a busy pipe until its context ends.
func ExampleDialConfig() {
	d := namedpipe.DialConfig{WaitForServer: true}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := d.Dial(ctx, fmt.Sprintf("nobody-listens-%d", os.Getpid()))
	fmt.Println(err != nil)
	// Output: true
}
