package ipc

import (
	"testing"

	"github.com/conduit-ipc/conduit/internal/handles"
)

// openHandles counts this process's open handles.
func openHandles(t testing.TB) int {
	n, err := handles.Owned()
	if err != nil {
		t.Fatal(err)
	}
	return n
}
