package ipc

import (
	"context"
	"net"
	"testing"

	"github.com/conduit-ipc/conduit/namedpipe"
)

// namedpipeEndpoint is the baseline: package namedpipe directly, with its
// defaults (no peer check).
func namedpipeEndpoint() endpoint {
	return endpoint{"namedpipe",
		func(b *testing.B, message bool) (net.Listener, string) {
			name := testName()
			lc := namedpipe.ListenConfig{MessageMode: message}
			l, err := lc.Listen(name)
			if err != nil {
				b.Fatal(err)
			}
			return l, name
		},
		func(name string, message bool) (net.Conn, error) {
			return namedpipe.Dial(context.Background(), name)
		}}
}

func endpoints() []endpoint        { return []endpoint{ipcEndpoint(), namedpipeEndpoint()} }
func messageEndpoints() []endpoint { return endpoints() }
