//go:build linux || darwin || freebsd || windows

package ipc_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/conduit-ipc/conduit/ipc"
)

// An HTTP server and client over ipc, in one line each: the listener is a
// net.Listener, and Dialer fills http.Transport's DialContext.
func Example_http() {
	name := "example-http-" + strconv.Itoa(os.Getpid())
	l, err := ipc.Listen(name) // this user only, on every OS
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", r.URL.Path)
	}))

	var cfg ipc.Config
	client := &http.Client{Transport: &http.Transport{DialContext: cfg.Dialer(name)}}
	resp, err := client.Get("http://ipc/status") // the host is not used
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(string(body))
	// Output: hello from /status
}

// Who is on the other end: the server learns the client's process and
// user, and the client the server's.
func ExampleConn_PeerCredentials() {
	name := "example-cred-" + strconv.Itoa(os.Getpid())
	l, err := ipc.Listen(name)
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		c, err := l.AcceptIPC()
		if err != nil {
			return
		}
		defer c.Close()
		cred, _ := c.PeerCredentials()
		fmt.Fprintf(c, "%t", cred.PID == os.Getpid())
	}()
	c, err := ipc.Dial(context.Background(), name)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	reply, _ := io.ReadAll(c)
	fmt.Println("the server saw this process:", string(reply))
	// Output: the server saw this process: true
}

// Message mode keeps boundaries on every OS, empty messages included.
func ExampleConfig_messages() {
	cfg := ipc.Config{MessageMode: true}
	name := "example-msg-" + strconv.Itoa(os.Getpid())
	l, err := cfg.Listen(name)
	if err != nil {
		panic(err)
	}
	defer l.Close()
	go func() {
		c, err := l.AcceptIPC()
		if err != nil {
			return
		}
		defer c.Close()
		c.WriteMessage([]byte("one"))
		c.WriteMessage(nil)
		c.WriteMessage([]byte("three"))
	}()
	c, err := cfg.Dial(context.Background(), name)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	for range 3 {
		m, _ := c.ReadMessage()
		fmt.Printf("%q\n", m)
	}
	// Output:
	// "one"
	// ""
	// "three"
}

// MaxMessageSize bounds what a peer can make this side hold: a longer
// message fails the read, and that connection's reads after it, with
// ErrMessageTooLarge.
func ExampleConfig_maxMessageSize() {
	server := ipc.Config{MessageMode: true, MaxMessageSize: 1 << 10}
	name := "example-max-" + strconv.Itoa(os.Getpid())
	l, err := server.Listen(name)
	if err != nil {
		panic(err)
	}
	defer l.Close()
	done := make(chan error)
	go func() {
		c, err := l.AcceptIPC()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		m, _ := c.ReadMessage()
		fmt.Println("read", len(m), "bytes")
		_, err = c.ReadMessage()
		done <- err
	}()
	client := ipc.Config{MessageMode: true, MaxMessageSize: 1 << 20} // more than the server takes
	c, err := client.Dial(context.Background(), name)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	c.WriteMessage(make([]byte, 1<<10))
	go c.WriteMessage(make([]byte, 1<<10+1)) // the server may not read all of it
	fmt.Println(errors.Is(<-done, ipc.ErrMessageTooLarge))
	// Output:
	// read 1024 bytes
	// true
}
