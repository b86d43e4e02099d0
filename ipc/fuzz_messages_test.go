//go:build linux || darwin || freebsd || windows

package ipc

import (
	"errors"
	"os"
	"testing"
	"time"
)

// watchdog bounds a read that the test expects to end: one still waiting
// then has hung, and fails the test.
const watchdog = 10 * time.Second

// A file after an empty message reaches ReceiveFile when the receiver
// reads with Read, which skips the empty message, and the message after the
// file comes next. Found by FuzzFramedRead: Read kept the skipped message
// pending, so on the framing (macOS, FreeBSD) ReceiveFile failed with
// ErrNoFile for ever, and elsewhere ReadMessage returned the empty message
// after the file that followed it.
func TestReadEmptyMessageThenFile(t *testing.T) {
	for _, framing := range framings() {
		t.Run(framing, func(t *testing.T) {
			useFraming(t, framing)
			server, client := pair(t, &Config{MessageMode: true})
			f, err := os.Open(os.Args[0])
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			go func() {
				if err := client.WriteMessage(nil); err != nil {
					t.Error(err)
				}
				if err := client.SendFile(f); err != nil {
					t.Error(err)
				}
				client.WriteMessage([]byte("after"))
			}()
			server.SetReadDeadline(time.Now().Add(watchdog))
			if n, err := server.Read(make([]byte, 8)); !errors.Is(err, ErrFileNext) {
				t.Fatalf("Read = %d, %v; want ErrFileNext", n, err)
			}
			got, err := server.ReceiveFile()
			if err != nil {
				t.Fatalf("ReceiveFile after an empty message: %v", err)
			}
			got.Close()
			if m, err := server.ReadMessage(); err != nil || string(m) != "after" {
				t.Fatalf("ReadMessage after the file = %q, %v", m, err)
			}
		})
	}
}
