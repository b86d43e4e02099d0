package mailslot

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
)

// The test binary doubles as a writer process: with CONDUIT_MAILSLOT_CHILD
// set to a slot name it writes CONDUIT_MAILSLOT_COUNT messages "child-i"
// there and exits.
const childEnv = "CONDUIT_MAILSLOT_CHILD"

func TestMain(m *testing.M) {
	if name := os.Getenv(childEnv); name != "" {
		os.Exit(child(name))
	}
	os.Exit(m.Run())
}

func child(name string) int {
	n, _ := strconv.Atoi(os.Getenv("CONDUIT_MAILSLOT_COUNT"))
	w, err := Open(name)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer w.Close()
	for i := range n {
		if _, err := fmt.Fprintf(w, "child-%d", i); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

var seq atomic.Int64

func testName(t testing.TB) string {
	r := strings.NewReplacer("/", "-", " ", "-")
	return fmt.Sprintf("conduit-test-%d-%s-%d", os.Getpid(), r.Replace(t.Name()), seq.Add(1))
}

func create(t testing.TB, c *Config) (*Slot, string) {
	t.Helper()
	name := testName(t)
	if c == nil {
		c = &Config{}
	}
	s, err := c.Create(name)
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	t.Cleanup(func() { s.Close() })
	return s, name
}

func open(t testing.TB, name string) *Writer {
	t.Helper()
	w, err := Open(name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func onWine() bool { return nt.Wine() }

func skipOnWine(t testing.TB, gap string) {
	t.Helper()
	if onWine() {
		t.Skip("wine: " + gap)
	}
}

// waitReadPending waits until a read is waiting for a message: in the
// kernel on a synchronous handle (Wine), or parked on the runtime poller.
func waitReadPending(t testing.TB, s *Slot) {
	t.Helper()
	buf := make([]byte, 1<<20)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if s.sf != nil {
			s.mu.Lock()
			pending := s.reading
			s.mu.Unlock()
			if pending {
				return
			}
		} else if k := runtime.Stack(buf, true); strings.Contains(string(buf[:k]), "[IO wait") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("no read became pending")
		}
		runtime.Gosched()
	}
}
