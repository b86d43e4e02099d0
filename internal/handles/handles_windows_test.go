package handles

import (
	"testing"

	"golang.org/x/sys/windows"
)

// TestListSeesHandlesComeAndGo opens ten mutexes and closes them: List
// names each, by value and type, and forgets each once closed. Mutexes,
// not events: Go's runtime makes events on its threads at any time, and one
// may take a closed event's value (seen in a stress run).
func TestListSeesHandlesComeAndGo(t *testing.T) {
	before, err := List()
	if err != nil {
		t.Fatal(err)
	}
	var evs []windows.Handle
	for range 10 {
		ev, err := windows.CreateMutex(nil, false, nil)
		if err != nil {
			t.Fatal(err)
		}
		evs = append(evs, ev)
	}
	during, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if h, ok := during[ev]; !ok || h.Type != "Mutant" {
			t.Errorf("mutex %#x: listed as %+v (present: %v), want a Mutant", uintptr(ev), h, ok)
		}
	}
	if n := len(New(before, during)); n < len(evs) {
		t.Errorf("New found %d new handles, want at least the %d mutexes", n, len(evs))
	}
	for _, ev := range evs {
		windows.CloseHandle(ev)
	}
	after, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range evs {
		if h, ok := after[ev]; ok && h.Type == "Mutant" {
			t.Errorf("mutex %#x: still listed after CloseHandle", uintptr(ev))
		}
	}
}

// TestListFindsEveryHandle compares List with GetProcessHandleCount where
// the system answers it (Windows; Wine 8 answers 0).
func TestListFindsEveryHandle(t *testing.T) {
	var n uint32
	if err := getProcessHandleCount(windows.CurrentProcess(), &n); err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Skip("wine: GetProcessHandleCount answers 0")
	}
	// Handles come and go on the runtime's threads meanwhile: compare
	// within a few.
	s, err := List()
	if err != nil {
		t.Fatal(err)
	}
	if d := len(s) - int(n); d < -4 || d > 4 {
		t.Errorf("List found %d handles, GetProcessHandleCount says %d", len(s), n)
	}
}
