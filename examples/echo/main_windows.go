// Command echo runs an echo server and a client over a named pipe in one
// process, prints what passes between them, then times a bulk transfer and a
// round trip.
//
//	go run ./examples/echo
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"time"

	"github.com/conduit-ipc/conduit/namedpipe"
)

func main() {
	name := flag.String("pipe", fmt.Sprintf("conduit-echo-%d", os.Getpid()), "pipe name")
	total := flag.Int("mb", 64, "MiB to send in the bulk transfer")
	flag.Parse()

	l, err := namedpipe.Listen(*name)
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	fmt.Printf("server: listening on %s\n", l.Addr())
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := namedpipe.Dial(ctx, *name)
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	buf := make([]byte, 64<<10)
	for _, line := range []string{"hello, pipe", "conduit echoes this"} {
		if _, err := c.Write([]byte(line)); err != nil {
			log.Fatal(err)
		}
		n, err := io.ReadFull(c, buf[:len(line)])
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("client -> server -> client: %q\n", buf[:n])
	}

	// Round trips of one byte.
	const trips = 2000
	start := time.Now()
	for i := 0; i < trips; i++ {
		if _, err := c.Write(buf[:1]); err != nil {
			log.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:1]); err != nil {
			log.Fatal(err)
		}
	}
	rtt := time.Since(start) / trips
	fmt.Printf("round trip (1 byte): %v\n", rtt)

	// Bulk: write in 64 KiB pieces while reading the echo back.
	data := bytes.Repeat([]byte("conduit!"), len(buf)/8)
	n := *total << 20 / len(data)
	start = time.Now()
	done := make(chan error, 1)
	go func() {
		for i := 0; i < n; i++ {
			if _, err := c.Write(data); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	got := 0
	for got < n*len(data) {
		m, err := c.Read(buf)
		if err != nil {
			log.Fatal(err)
		}
		got += m
	}
	if err := <-done; err != nil {
		log.Fatal(err)
	}
	secs := time.Since(start).Seconds()
	fmt.Printf("echoed %d MiB in %.2fs: %.0f MB/s each way\n", got>>20, secs, float64(got)/secs/1e6)
}
