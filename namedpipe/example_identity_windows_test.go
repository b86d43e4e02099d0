package namedpipe_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"strings"

	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

// A server learns who its client is and acts as it.
func ExampleConn_Impersonate() {
	name := fmt.Sprintf("example-identity-%d", os.Getpid())
	l, err := namedpipe.Listen(name)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := namedpipe.Dial(context.Background(), name)
		if err != nil {
			log.Fatal(err)
		}
		c.Write([]byte("request"))
		c.Read(make([]byte, 1)) // wait for the server to finish
		c.Close()
	}()

	c, err := l.AcceptPipe()
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	c.Read(make([]byte, 64)) // a client must send before it can be impersonated

	pid, _ := c.ClientProcessID()
	fmt.Println("client is this process:", pid == uint32(os.Getpid()))

	me, _ := windows.GetCurrentProcessToken().GetTokenUser()
	client, _ := c.ClientUser()
	fmt.Println("client runs as our user:", client.Equals(me.User.Sid))

	err = c.Impersonate(func() error {
		// Checked against the client's rights; the default dial level,
		// Identification, allows queries of its token only.
		return nil
	})
	fmt.Println("impersonated:", err == nil)
	c.Write([]byte("done"))
	// Output:
	// client is this process: true
	// client runs as our user: true
	// impersonated: true
}

// A request/response round trip on a message pipe.
func ExampleCall() {
	name := fmt.Sprintf("example-call-%d", os.Getpid())
	cfg := namedpipe.ListenConfig{MessageMode: true}
	l, err := cfg.Listen(name)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.AcceptPipe()
		if err != nil {
			return
		}
		defer c.Close()
		req, _ := c.ReadMessage()
		c.Write([]byte(strings.ToUpper(string(req))))
	}()
	reply, err := namedpipe.Call(context.Background(), name, []byte("status?"))
	fmt.Printf("%s %v\n", reply, err)
	// Output: STATUS? <nil>
}
