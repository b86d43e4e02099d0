package mailslot

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/stacktest"
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

// waitReadPending waits until a read of s is under way: parked on the
// completion port, or in the synchronous slices that read a synchronous
// handle (Wine).
func waitReadPending(t testing.TB, s *Slot) {
	t.Helper()
	if s.sync != nil {
		stacktest.WaitParked(t, 1, "mailslot.(*Slot).", "quirks.(*SyncMailslot).read(")
	} else {
		stacktest.WaitParked(t, 1, "mailslot.(*Slot).", parkedFrame)
	}
}

// parkedFrame is the frame of a read parked on the completion port, waiting
// for its packet.
const parkedFrame = "iocp.(*Op).await("
