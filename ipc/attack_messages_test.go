//go:build linux || darwin || freebsd || windows

package ipc

// Attacks on message mode through real connections, on every OS (issue
// 16, items 2 and 5): a peer that sends more than MaxMessageSize, and a
// write that a deadline stops part-way.

import (
	"bytes"
	"errors"
	"os"
	"sync"
	"testing"
	"time"
)

// A message longer than the reader's MaxMessageSize, from a peer whose own
// bound is higher, fails the reader's ReadMessage with ErrMessageTooLarge,
// and its reads after; the server goes on serving another client. Before
// the fix there was no bound: ReadMessage returned it whole.
func TestMessageTooLarge(t *testing.T) {
	for _, framing := range framings() {
		t.Run(framing, func(t *testing.T) {
			useFraming(t, framing)
			const max = 100 << 10 // more than a piece, less than the message
			server := Config{MessageMode: true, MaxMessageSize: max}
			l, name := listen(t, &server)
			results := make(chan error, 2)
			var wg sync.WaitGroup
			defer wg.Wait()
			wg.Add(1) // the accepter's, held while it adds its servers'
			go func() {
				defer wg.Done()
				for range 2 {
					c, err := l.AcceptIPC()
					if err != nil {
						results <- err
						return
					}
					wg.Add(1)
					go func() {
						defer wg.Done()
						defer c.Close()
						c.SetReadDeadline(time.Now().Add(watchdog))
						for {
							m, err := c.ReadMessage()
							if err != nil {
								results <- err
								return
							}
							if err := c.WriteMessage(m); err != nil {
								results <- err
								return
							}
						}
					}()
				}
			}()
			big := Config{MessageMode: true, MaxMessageSize: 1 << 20}
			attacker, err := big.Dial(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			defer attacker.Close()
			attacker.SetWriteDeadline(time.Now().Add(watchdog))
			go attacker.WriteMessage(make([]byte, max+1)) // the server may stop reading it part-way
			if err := <-results; !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("the server's ReadMessage of a message over MaxMessageSize = %v, want ErrMessageTooLarge", err)
			}
			good := Config{MessageMode: true, MaxMessageSize: max}
			c, err := good.Dial(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(watchdog))
			want := bytes.Repeat([]byte("ok"), max/2) // the largest allowed
			if err := c.WriteMessage(want); err != nil {
				t.Fatal(err)
			}
			if got, err := c.ReadMessage(); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("another client, after the attacker: %d bytes, %v", len(got), err)
			}
			if err := c.WriteMessage(make([]byte, max+1)); !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("WriteMessage over MaxMessageSize = %v, want ErrMessageTooLarge", err)
			}
		})
	}
}

// MaxMessageSize has a default, and a negative one is refused.
func TestMaxMessageSizeConfig(t *testing.T) {
	_, client := pair(t, &Config{MessageMode: true})
	client.SetWriteDeadline(time.Now().Add(watchdog)) // nobody reads: main wrote until it hung
	if err := client.WriteMessage(make([]byte, DefaultMaxMessageSize+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("WriteMessage over the default bound = %v, want ErrMessageTooLarge", err)
	}
	bad := Config{MaxMessageSize: -1}
	if l, err := bad.Listen(pathName(t)); !errors.Is(err, ErrInvalidConfig) {
		if l != nil {
			l.Close()
		}
		t.Errorf("Listen with a negative MaxMessageSize = %v, want ErrInvalidConfig", err)
	}
	if _, err := bad.Dial(t.Context(), pathName(t)); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("Dial with a negative MaxMessageSize = %v, want ErrInvalidConfig", err)
	}
}

// A WriteMessage that its deadline stops after part of the message went
// (nobody reads, so the buffers fill) leaves message writes failing with
// ErrMessageTorn: before the fix the next WriteMessage("hello") went out,
// and the reader got it glued to the first one's pieces as one message. A
// deadline that passes before anything was sent leaves the connection as
// it was (net.Conn's contract).
func TestWriteMessageTorn(t *testing.T) {
	for _, framing := range framings() {
		t.Run(framing, func(t *testing.T) {
			useFraming(t, framing)
			server, client := pair(t, &Config{MessageMode: true})
			client.SetWriteDeadline(time.Now().Add(-time.Second))
			if err := client.WriteMessage([]byte("early")); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("WriteMessage past its deadline = %v, want os.ErrDeadlineExceeded", err)
			}
			client.SetWriteDeadline(time.Time{})
			if err := client.WriteMessage([]byte("first")); err != nil {
				t.Fatalf("WriteMessage once the deadline moved: %v", err)
			}
			server.SetReadDeadline(time.Now().Add(watchdog))
			if m, err := server.ReadMessage(); err != nil || string(m) != "first" {
				t.Fatalf("ReadMessage = %q, %v; want \"first\"", m, err)
			}
			big := make([]byte, 8<<20) // far more than the buffers hold; made before the deadline is set
			for d := 100 * time.Millisecond; ; d *= 2 {
				client.SetWriteDeadline(time.Now().Add(d))
				err := client.WriteMessage(big)
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("a WriteMessage nobody reads = %v, want os.ErrDeadlineExceeded", err)
				}
				client.SetWriteDeadline(time.Now().Add(watchdog)) // main wrote it, and hung
				err = client.WriteMessage([]byte("hello"))
				if errors.Is(err, ErrMessageTorn) {
					break
				}
				if err != nil || d > watchdog {
					t.Fatalf("WriteMessage after one stopped part-way = %v, want ErrMessageTorn", err)
				}
				// The deadline passed before the big write began (a
				// loaded machine, under -race: 1 of 20 stress runs), so
				// nothing of it was sent and the connection is as it
				// was: "hello" went, alone. Again with a longer deadline.
				server.SetReadDeadline(time.Now().Add(watchdog))
				if m, err := server.ReadMessage(); err != nil || string(m) != "hello" {
					t.Fatalf("after a write its deadline stopped before it began: ReadMessage = %d bytes (%.8q), %v; want \"hello\"", len(m), m, err)
				}
				t.Logf("a %v deadline passed before the write began; again with %v", d, 2*d)
			}
			f, err := os.Open(os.Args[0])
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := client.SendFile(f); !errors.Is(err, ErrMessageTorn) {
				t.Fatalf("SendFile after a message write stopped part-way = %v, want ErrMessageTorn", err)
			}
			// The reader gets the start of a message that never ends,
			// and nothing glued to it.
			client.Close()
			server.SetReadDeadline(time.Now().Add(watchdog))
			if m, err := server.ReadMessage(); err == nil {
				t.Fatalf("the reader got a message of %d bytes from a torn write", len(m))
			}
		})
	}
}

// MessageBudget (review 16's F2): a value below MaxMessageSize, or
// negative, is refused; a budget of exactly MaxMessageSize reads message
// after message of that size (what a message held is given back when it is
// read whole), on every OS.
func TestMessageBudgetConfig(t *testing.T) {
	for _, bad := range []Config{{MessageBudget: -1}, {MaxMessageSize: 1 << 20, MessageBudget: 1<<20 - 1}, {MessageBudget: DefaultMaxMessageSize - 1}} {
		if l, err := bad.Listen(pathName(t)); !errors.Is(err, ErrInvalidConfig) {
			if l != nil {
				l.Close()
			}
			t.Errorf("Listen with MaxMessageSize %d, MessageBudget %d = %v, want ErrInvalidConfig", bad.MaxMessageSize, bad.MessageBudget, err)
		}
	}
	const size = 1 << 20
	server, client := pair(t, &Config{MessageMode: true, MaxMessageSize: size, MessageBudget: size})
	want := bytes.Repeat([]byte("0123456789abcdef"), size/16)
	go func() {
		for range 3 {
			if err := client.WriteMessage(want); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	server.SetReadDeadline(time.Now().Add(watchdog))
	for i := range 3 {
		if m, err := server.ReadMessage(); err != nil || !bytes.Equal(m, want) {
			t.Fatalf("message %d of the budget's size: %d bytes, %v", i, len(m), err)
		}
	}
}
