package ipc

import (
	"testing"

	"github.com/conduit-ipc/conduit/internal/nt"
)

// openHandles counts this process's open handles.
func openHandles(t testing.TB) int {
	n, err := nt.HandleCount()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
