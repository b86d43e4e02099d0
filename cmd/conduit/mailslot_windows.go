package main

import (
	"bufio"
	"errors"
	"fmt"
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
	sc := bufio.NewScanner(std.in)
	for sc.Scan() {
		if _, err := w.Write(sc.Bytes()); err != nil {
			return err
		}
	}
	return sc.Err()
}
