//go:build !windows

package main

import (
	"net"

	"github.com/conduit-ipc/conduit/ipc"
)

func listenNpipe(string) (net.Listener, error) {
	return nil, errWindowsOnly("npipe: endpoints are")
}

func dialNpipe(string) (net.Conn, error) { return nil, errWindowsOnly("npipe: endpoints are") }

// listenUnix listens on a Unix socket as ipc does: mode 0600, a stale
// socket cleared, the name held by a lock file.
func listenUnix(path string) (net.Listener, error) {
	var cfg ipc.Config
	return cfg.Listen(path)
}
