package anonpipe_test

import (
	"fmt"
	"io"
	"os/exec"
	"strings"
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
