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

// dialUnixEndpoint dials a unix: endpoint as ipc (and conduit dial) does,
// with ipc's message framing under --message: the server must run as this
// user, or the dial fails with ipc's PeerError, so that a socket another
// user put at the path never gets what A's clients send (issue 16, item
// 10).
func dialUnixEndpoint(e endpoint) (net.Conn, error) {
	cfg := ipc.Config{MessageMode: e.message}
	return cfg.Dial(context.Background(), e.addr)
}
