package mailslot

// The reliability suite (issue 11) for mailslots: Close racing pending
// reads and writes, many times over, with resource accounting. A bounded
// version runs by default; CONDUIT_SOAK=1 runs the long one. Every bound is a
// watchdog that fails the test, never a sleep that lets it pass.

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/handles"
	"github.com/conduit-ipc/conduit/internal/hangcheck"
)

// sized returns bounded for a plain run and long under CONDUIT_SOAK.
func sized(bounded, long int) int {
	if os.Getenv("CONDUIT_SOAK") != "" {
		return long
	}
	return bounded
}

// watchdog is how long any one operation of these tests may take before the
// test fails as hung.
const watchdog = 10 * time.Second

// usage is what a leak would show in: handles, events, OS threads and
// goroutines, counted so that what Go's runtime keeps for its threads is
// not taken for a leak (internal/handles).
type usage = handles.Usage

func measure(t *testing.T) usage {
	t.Helper()
	u, err := handles.Measure()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// settle waits, within the watchdog, until usage is back to base, give or
// take threads OS threads, and fails the test if it does not get there.
func settle(t *testing.T, what string, base usage, threads int) usage {
	t.Helper()
	deadline := time.Now().Add(watchdog)
	for {
		now := measure(t)
		if now.Within(base, usage{Threads: threads}) {
			return now
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %v, against %v at the start and a tolerance of %d threads; the handles now, events aside: %s",
				what, now, base, threads, nonEvents(t))
		}
		time.Sleep(time.Millisecond) // a poll: the condition decides
	}
}

// TestSlotCloseDuringRead closes a slot while one to three readers wait on
// it (Read and ReadMessage), with a writer sending to it meanwhile in every
// other round; Close comes at once (racing the reads' start), after a yield,
// or once a read is pending. Close returns, and every reader ends with an
// *os.PathError wrapping os.ErrClosed, within the watchdog; each message a
// reader got is one that was sent, once. 40 rounds (400 under
// CONDUIT_SOAK); then handles and goroutines are back where they were, and
// OS threads within 4 (under Wine a waiting read holds its thread).
func TestSlotCloseDuringRead(t *testing.T) {
	rounds := sized(40, 400)
	var base usage
	var slowest time.Duration
	for round := -1; round < rounds; round++ {
		if round == 0 { // after one round to warm up
			base = measure(t)
		}
		name := testName(t)
		s, err := Create(name)
		if err != nil {
			t.Fatal(err)
		}
		readers := 1 + (round+3)%3
		var mu sync.Mutex
		got := map[string]int{}
		var sent []string
		var wg sync.WaitGroup
		ended := make(chan error, readers)
		for i := range readers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				buf := make([]byte, 64<<10)
				for {
					var msg []byte
					var err error
					if i%2 == 0 {
						msg, err = s.ReadMessage()
					} else {
						var n int
						n, err = s.Read(buf)
						msg = buf[:n]
					}
					if err != nil {
						ended <- err
						return
					}
					mu.Lock()
					got[string(msg)]++
					mu.Unlock()
				}
			}()
		}
		writing := make(chan struct{})
		if round%2 == 1 {
			w, err := Open(name)
			if err != nil {
				t.Fatal(err)
			}
			go func() {
				defer close(writing)
				defer w.Close()
				for k := range 20 {
					msg := fmt.Sprintf("round %d message %d", round, k)
					if _, err := w.Write([]byte(msg)); err != nil {
						// The slot closed under the writer: what Windows
						// answers then is not documented; nothing more is
						// sent.
						return
					}
					mu.Lock()
					sent = append(sent, msg)
					mu.Unlock()
				}
			}()
		} else {
			close(writing)
		}
		switch (round + 3) % 3 {
		case 1:
			runtime.Gosched()
		case 2:
			waitReadPending(t, s)
		}
		closed := time.Now()
		hangcheck.Within(t, watchdog, "Slot.Close", func() {
			if err := s.Close(); err != nil {
				t.Errorf("round %d: Close: %v", round, err)
			}
		})
		hangcheck.Within(t, watchdog, "the readers after Close", wg.Wait)
		slowest = max(slowest, time.Since(closed))
		hangcheck.Within(t, watchdog, "the writer after Close", func() { <-writing })
		for range readers {
			err := <-ended
			var pe *os.PathError
			if !errors.Is(err, os.ErrClosed) || !errors.As(err, &pe) {
				t.Fatalf("round %d: read during Close = %v (%T), want an *os.PathError wrapping os.ErrClosed", round, err, err)
			}
		}
		mu.Lock()
		for msg, n := range got {
			if !strings.HasPrefix(msg, fmt.Sprintf("round %d ", round)) || n != 1 {
				t.Fatalf("round %d: read %q %d times, not one that was sent (sent %d)", round, msg, n, len(sent))
			}
		}
		mu.Unlock()
	}
	after := settle(t, fmt.Sprintf("after %d rounds", rounds), base, 4)
	t.Logf("slowest Close to the last reader's return: %v; before: %v; after: %v", slowest, base, after)
}

// TestWriterCloseDuringWrites closes a Writer while four goroutines write
// through it: Close returns, and every Write either sends its message or
// fails with an *os.PathError wrapping os.ErrClosed, within the watchdog;
// the slot reads exactly the messages whose Write succeeded. 40 rounds (400
// under CONDUIT_SOAK), then handles and goroutines are back where they
// were.
func TestWriterCloseDuringWrites(t *testing.T) {
	// Under Wine a slot holds only about 278 unread messages of this size
	// (its queue is a socket's buffer; measured) before a Write waits for
	// the reader, which Windows' never does; a round writes fewer.
	const writers, perWriter = 4, 40
	rounds := sized(40, 400)
	s, name := create(t, nil)
	var base usage
	var refused atomic.Int64 // writes that Close ended
	for round := -1; round < rounds; round++ {
		if round == 0 {
			base = measure(t)
		}
		w, err := Open(name)
		if err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		var sent []string
		var wg sync.WaitGroup
		for i := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for k := 0; k < perWriter; k++ {
					msg := fmt.Sprintf("round %d writer %d message %d", round, i, k)
					if _, err := w.Write([]byte(msg)); err != nil {
						var pe *os.PathError
						if !errors.Is(err, os.ErrClosed) || !errors.As(err, &pe) {
							t.Errorf("Write during Close = %v (%T), want an *os.PathError wrapping os.ErrClosed", err, err)
						}
						refused.Add(1)
						return
					}
					mu.Lock()
					sent = append(sent, msg)
					mu.Unlock()
				}
			}()
		}
		if (round+2)%2 == 1 {
			runtime.Gosched()
		}
		hangcheck.Within(t, watchdog, "Writer.Close", func() {
			if err := w.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
		hangcheck.Within(t, watchdog, "the writes after Close", wg.Wait)
		if t.Failed() {
			t.FailNow()
		}
		// Every message sent is queued, once, in each writer's order.
		got := map[string]bool{}
		last := map[int]int{} // writer: the last message number read
		hangcheck.Within(t, watchdog, "reading what was sent", func() {
			for range sent {
				msg, err := s.ReadMessage()
				if err != nil {
					t.Errorf("ReadMessage: %v", err)
					return
				}
				var r, i, k int
				if _, err := fmt.Sscanf(string(msg), "round %d writer %d message %d", &r, &i, &k); err != nil || r != round {
					t.Errorf("round %d: read %q, not one of this round's messages", round, msg)
					return
				}
				if prev, ok := last[i]; ok && k <= prev {
					t.Errorf("round %d: writer %d's message %d read after its message %d", round, i, k, prev)
				}
				last[i] = k
				got[string(msg)] = true
			}
		})
		for _, msg := range sent {
			if !got[msg] {
				t.Fatalf("round %d: %q was sent but not read", round, msg)
			}
		}
		if info, err := s.Info(); err != nil || info.NextSize != -1 {
			t.Fatalf("round %d: after reading what was sent, Info = %+v, %v; want nothing queued", round, info, err)
		}
	}
	after := settle(t, fmt.Sprintf("after %d rounds", rounds), base, 4)
	t.Logf("%d writes refused after Close; before: %v; after: %v", refused.Load(), base, after)
	if refused.Load() == 0 {
		t.Errorf("Close never came while a writer was still writing: the race was not run")
	}
}

// TestWriteNeverWaits writes 2,000 messages that nobody reads: as the package
// documents, every Write returns at once, having queued its message or
// refused it, and the reader then finds the queued ones in order.
func TestWriteNeverWaits(t *testing.T) {
	skipOnWine(t, "a slot holds about 250 to 280 unread small messages (its queue is a socket's buffer; measured), then a Write waits until the reader reads")
	const messages = 2000
	s, name := create(t, nil)
	w := open(t, name)
	queued := 0
	hangcheck.Within(t, watchdog, "2,000 writes with no reader", func() {
		for i := range messages {
			if _, err := fmt.Fprintf(w, "unread message %d", i); err != nil {
				t.Logf("Write %d refused: %v", i, err)
				return
			}
			queued++
		}
	})
	for i := range queued {
		msg, err := s.ReadMessage()
		if want := fmt.Sprintf("unread message %d", i); err != nil || string(msg) != want {
			t.Fatalf("message %d = %q, %v; want %q", i, msg, err, want)
		}
	}
	if queued == 0 {
		t.Fatal("not even the first message was queued")
	}
}

// nonEvents lists the process's handles other than events, in value order:
// what a failed settle names, to tell a leak from a thread's own.
func nonEvents(t *testing.T) string {
	set, err := handles.List()
	if err != nil {
		return err.Error()
	}
	var hs []handles.Handle
	for _, h := range set {
		if h.Type != "Event" {
			hs = append(hs, h)
		}
	}
	slices.SortFunc(hs, func(a, b handles.Handle) int { return int(int64(a.Value) - int64(b.Value)) })
	return handles.Describe(hs)
}
