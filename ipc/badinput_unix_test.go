//go:build linux || darwin || freebsd

package ipc

import (
	"os"
	"testing"
)

// openHandles counts this process's open file descriptors.
func openHandles(t testing.TB) int {
	fds, err := os.ReadDir("/dev/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds) - 1 // less the one reading the directory
}
