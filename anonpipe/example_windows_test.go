package anonpipe_test

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/conduit-ipc/conduit/anonpipe"
)

func ExampleForChild() {
	parent, child, err := anonpipe.ForChild(anonpipe.ChildWrites)
	if err != nil {
		panic(err)
	}
	defer parent.Close()
	cmd := exec.Command("cmd.exe", "/c", "echo hello from a child")
	cmd.Stdout = child // synchronous and inheritable: what a child expects
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	child.Close() // the child holds its own copy

	parent.SetReadDeadline(time.Now().Add(time.Minute))
	out, err := io.ReadAll(parent) // io.EOF once the child exits
	cmd.Wait()
	fmt.Println(strings.TrimSpace(string(out)), err)
	// Output: hello from a child <nil>
}

// The child's end of ForChild is inheritable from the moment it is made
// until it is closed. Go's os/exec passes a child only the handles it lists
// (the standard handles, which it duplicates as inheritable itself, and
// SysProcAttr.AdditionalInheritedHandles) in an explicit handle list
// (PROC_THREAD_ATTRIBUTE_HANDLE_LIST), so the end goes to that child alone.
// Hand it over the same way when it is not a standard handle: list it, and
// close it once the child has started.
func ExampleForChild_handleList() {
	parent, child, err := anonpipe.ForChild(anonpipe.ChildWrites)
	if err != nil {
		panic(err)
	}
	defer parent.Close()
	h := syscall.Handle(child.Fd()) // synchronous: Fd detaches nothing
	cmd := exec.Command(os.Args[0]) // this test binary plays the child
	cmd.Env = append(os.Environ(), "CONDUIT_ANONPIPE_CHILD=inherited", fmt.Sprintf("CONDUIT_ANONPIPE_HANDLE=%d", h))
	cmd.SysProcAttr = &syscall.SysProcAttr{AdditionalInheritedHandles: []syscall.Handle{h}}
	if err := cmd.Start(); err != nil {
		panic(err)
	}
	child.Close() // now: until then another spawner could pass it on too

	parent.SetReadDeadline(time.Now().Add(time.Minute))
	out, err := io.ReadAll(parent)
	cmd.Wait()
	fmt.Println(len(out), "bytes through the listed handle,", err)
	// Output: 65536 bytes through the listed handle, <nil>
}
