//go:build !linux && !windows

package main

import "net"

// serverCred is Linux's; elsewhere ipc's PeerCredentials would need an ipc
// connection, which the server would take for a client of its own.
func serverCred(*net.UnixConn) (int, string) { return 0, "" }
