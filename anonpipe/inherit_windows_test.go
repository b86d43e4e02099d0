package anonpipe

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// ForChild's documentation says a child's end given only as a standard
// handle need not be inheritable: os/exec duplicates Stdin, Stdout and
// Stderr as inheritable for the child itself. A child still writes through
// an end whose inherit flag was cleared, and the parent sees io.EOF when it
// exits.
func TestForChildStdioNotInheritable(t *testing.T) {
	parent, child, err := ForChild(ChildWrites)
	if err != nil {
		t.Fatal(err)
	}
	defer parent.Close()
	h := windows.Handle(child.Fd())
	if err := windows.SetHandleInformation(h, windows.HANDLE_FLAG_INHERIT, 0); err != nil {
		t.Fatal(err)
	}
	var flags uint32
	if err := nt.GetHandleInformation(h, &flags); err != nil || flags&windows.HANDLE_FLAG_INHERIT != 0 {
		t.Fatalf("the end is still inheritable: %#x, %v", flags, err)
	}
	cmd := echoCommand("through a duplicate")
	cmd.Stdout = child
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	parent.SetReadDeadline(time.Now().Add(time.Minute))
	out, err := io.ReadAll(parent)
	cmd.Wait()
	if err != nil || strings.TrimSpace(string(out)) != "through a duplicate" {
		t.Fatalf("read %q, %v", out, err)
	}
}
