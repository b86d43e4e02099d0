package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/conduit-ipc/conduit/mailslot"
	"github.com/conduit-ipc/conduit/namedpipe"
)

func benchPairs() []pair {
	return []pair{
		{"named pipe", func() (io.ReadWriteCloser, io.ReadWriteCloser, error) {
			name := fmt.Sprintf("conduit-bench-%d-%d", os.Getpid(), time.Now().UnixNano())
			l, err := namedpipe.Listen(name)
			if err != nil {
				return nil, nil, err
			}
			defer l.Close()
			accepted := make(chan *namedpipe.Conn, 1)
			go func() {
				c, _ := l.AcceptPipe()
				accepted <- c
			}()
			c, err := namedpipe.Dial(context.Background(), name)
			if err != nil {
				return nil, nil, err
			}
			s := <-accepted
			if s == nil {
				c.Close()
				return nil, nil, fmt.Errorf("accept failed")
			}
			return c, s, nil
		}},
		{"anonymous pipe", anonymousPair},
	}
}

// benchExtra measures mailslots: messages of 100 bytes a second.
func benchExtra(size int64, progress func(string)) ([]result, error) {
	progress("mailslot messages")
	name := fmt.Sprintf("conduit-bench-%d-%d", os.Getpid(), time.Now().UnixNano())
	s, err := mailslot.Create(name)
	if err != nil {
		return nil, err
	}
	defer s.Close()
	w, err := mailslot.Open(name)
	if err != nil {
		return nil, err
	}
	defer w.Close()
	n := int(max(size/(64<<10), 100))
	msg := make([]byte, 100)
	done := make(chan error, 1)
	go func() {
		for range n {
			if _, err := s.ReadMessage(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	start := time.Now()
	for range n {
		if _, err := w.Write(msg); err != nil {
			return nil, err
		}
	}
	if err := <-done; err != nil {
		return nil, err
	}
	return []result{{"mailslot", "messages", float64(n) / time.Since(start).Seconds(), "msg/s"}}, nil
}
