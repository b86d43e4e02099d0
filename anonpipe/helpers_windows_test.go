package anonpipe

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/handles"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// platformChild plays the Windows-only child roles.
func platformChild(role string) (int, bool) {
	if role != "inherited" {
		return 0, false
	}
	// Writes the payload to the handle whose value the parent passed in the
	// environment, inherited through AdditionalInheritedHandles.
	h, err := strconv.ParseUint(os.Getenv("CONDUIT_ANONPIPE_HANDLE"), 10, 64)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, true
	}
	f := os.NewFile(uintptr(h), "inherited")
	if _, err := f.Write(payload(64 << 10)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1, true
	}
	return 0, true
}

func echoCommand(s string) *exec.Cmd { return exec.Command("cmd.exe", "/c", "echo "+s) }

func threadCount() (int, bool) {
	n, err := nt.ThreadCount()
	return n, err == nil && n > 0
}

func openHandles(t testing.TB) int {
	n, err := handles.Owned()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// handleOf returns f's handle without (*os.File).Fd, which would take an
// asynchronous handle off the runtime's completion port.
func handleOf(t testing.TB, f *os.File) windows.Handle {
	rc, err := f.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var h windows.Handle
	rc.Control(func(fd uintptr) { h = windows.Handle(fd) })
	return h
}

func inheritable(t testing.TB, f *os.File) bool {
	var flags uint32
	if err := nt.GetHandleInformation(handleOf(t, f), &flags); err != nil {
		t.Fatal(err)
	}
	return flags&windows.HANDLE_FLAG_INHERIT != 0
}

func synchronous(t testing.TB, f *os.File) bool {
	sync, err := nt.Synchronous(handleOf(t, f))
	if err != nil {
		t.Fatal(err)
	}
	return sync
}

func TestEndModes(t *testing.T) {
	r, w, err := Pipe()
	if err != nil {
		t.Fatal(err)
	}
	parent, child, err := ForChild(ChildReadsWrites)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, r, w, parent, child)
	for _, c := range []struct {
		name        string
		f           *os.File
		inherit, sy bool
	}{
		{"Pipe r", r, false, false},
		{"Pipe w", w, false, false},
		{"ForChild parent", parent, false, false},
		{"ForChild child", child, true, true},
	} {
		if got := inheritable(t, c.f); got != c.inherit {
			t.Errorf("%s: inheritable = %v, want %v", c.name, got, c.inherit)
		}
		if got := synchronous(t, c.f); got != c.sy {
			t.Errorf("%s: synchronous = %v, want %v", c.name, got, c.sy)
		}
	}
	// A duplex ForChild pair carries data both ways. The child end is
	// read only once its write has returned: Go's os.File adds a write's
	// count to a file offset after the data has gone, unsynchronised with
	// Read's (internal/poll FD.addOffset), which -race reports (1 of 6
	// loaded runs).
	wrote := make(chan struct{})
	go func() { child.Write([]byte("up")); close(wrote) }()
	b := make([]byte, 2)
	parent.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(parent, b); err != nil || string(b) != "up" {
		t.Fatalf("parent read %q, %v", b, err)
	}
	<-wrote
	parent.Write([]byte("down"))
	b = make([]byte, 4)
	if _, err := io.ReadFull(child, b); err != nil || string(b) != "down" {
		t.Fatalf("child read %q, %v", b, err)
	}
}

// The child's end goes to a child process through
// SysProcAttr.AdditionalInheritedHandles, not as a standard handle.
func TestAdditionalInheritedHandles(t *testing.T) {
	parent, child, err := ForChild(ChildWrites)
	if err != nil {
		t.Fatal(err)
	}
	closeAll(t, parent)
	h := child.Fd() // a synchronous handle: Fd detaches nothing
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"=inherited", "CONDUIT_ANONPIPE_HANDLE="+strconv.FormatUint(uint64(h), 10))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{AdditionalInheritedHandles: []syscall.Handle{syscall.Handle(h)}}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	parent.SetReadDeadline(time.Now().Add(60 * time.Second))
	got, err := io.ReadAll(parent)
	if werr := cmd.Wait(); werr != nil {
		t.Fatalf("child: %v", werr)
	}
	if err != nil || sum(got) != sum(payload(64<<10)) {
		t.Fatalf("read %d bytes from the inherited handle, %v", len(got), err)
	}
}
