//go:build !windows

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/conduit-ipc/conduit/ipc"
)

func benchPairs() []pair {
	return []pair{
		{"ipc socket", func() (io.ReadWriteCloser, io.ReadWriteCloser, error) {
			dir, err := os.MkdirTemp("", "conduit-bench")
			if err != nil {
				return nil, nil, err
			}
			defer os.RemoveAll(dir)
			path := filepath.Join(dir, fmt.Sprintf("b%d.sock", time.Now().UnixNano()))
			l, err := ipc.Listen(path)
			if err != nil {
				return nil, nil, err
			}
			defer l.Close()
			accepted := make(chan *ipc.Conn, 1)
			go func() {
				c, _ := l.AcceptIPC()
				accepted <- c
			}()
			c, err := ipc.Dial(context.Background(), path)
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

func benchExtra(int64, func(string)) ([]result, error) { return nil, nil }
