//go:build !windows

package main

import (
	"context"
	"net"

	"github.com/conduit-ipc/conduit/ipc"
)

func listenNpipe(string, bool) (net.Listener, error) {
	return nil, errWindowsOnly("npipe: endpoints are")
}

func dialNpipe(string, bool) (net.Conn, error) { return nil, errWindowsOnly("npipe: endpoints are") }

// listenUnix listens on a Unix socket as ipc does: mode 0600, a stale
// socket cleared, the name held by a lock file.
func listenUnix(path string, message bool) (net.Listener, error) {
	cfg := ipc.Config{MessageMode: message}
	return cfg.Listen(path)
}

// dialUnixEndpoint dials a unix: endpoint: a plain socket, or with
// --message ipc's message framing (whose Dial checks the server's user).
func dialUnixEndpoint(e endpoint) (net.Conn, error) {
	if e.message {
		cfg := ipc.Config{MessageMode: true}
		return cfg.Dial(context.Background(), e.addr)
	}
	return net.Dial("unix", e.addr)
}
