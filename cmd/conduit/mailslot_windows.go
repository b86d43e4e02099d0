package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/conduit-ipc/conduit/mailslot"
)

func mailslotRecv(name string, count int, timeout time.Duration) error {
	cfg := mailslot.Config{ReadTimeout: timeout}
	s, err := cfg.Create(name)
	if err != nil {
		return err
	}
	defer s.Close()
	fmt.Fprintf(std.err, "conduit: receiving on %s\n", s.Name())
	w := bufio.NewWriter(std.out)
	defer w.Flush()
	for n := 0; count == 0 || n < count; n++ {
		m, err := s.ReadMessage()
		if errors.Is(err, mailslot.ErrTimeout) {
			if n == 0 {
				return fmt.Errorf("no message came within %v", timeout)
			}
			return nil
		}
		if err != nil {
			return err
		}
		w.Write(m)
		w.WriteByte('\n')
		w.Flush()
	}
	return nil
}

func mailslotSend(name string, messages []string) error {
	w, err := mailslot.Open(name)
	if err != nil {
		return err
	}
	defer w.Close()
	if len(messages) > 0 {
		for _, m := range messages {
			if _, err := w.Write([]byte(m)); err != nil {
				return err
			}
		}
		return nil
	}
	// Each line one message, of any length (a Scanner would stop at 64 KiB
	// with "token too long"); the mailslot says whether it takes it.
	r := bufio.NewReaderSize(std.in, 64<<10)
	for {
		line, err := r.ReadBytes('\n')
		msg := bytes.TrimSuffix(bytes.TrimSuffix(line, []byte("\n")), []byte("\r"))
		if len(line) > 0 {
			if _, werr := w.Write(msg); werr != nil {
				return fmt.Errorf("mailslot send: a message of %d bytes: %w", len(msg), werr)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("reading stdin: %w", err)
		}
	}
}
