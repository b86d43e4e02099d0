//go:build linux || darwin || freebsd

package ipc

import (
	"net"
	"path/filepath"
	"testing"
)

// rawEndpoint is the baseline: *net.UnixConn as package net makes it, with
// no peer check, in the same directory.
func rawEndpoint(net_ string) endpoint {
	return endpoint{"raw-" + net_,
		func(b *testing.B, message bool) (net.Listener, string) {
			path := filepath.Join(b.TempDir(), "raw.sock")
			l, err := net.Listen(net_, path)
			if err != nil {
				b.Fatal(err)
			}
			return l, path
		},
		func(path string, message bool) (net.Conn, error) { return net.Dial(net_, path) }}
}

func endpoints() []endpoint { return []endpoint{ipcEndpoint(), rawEndpoint("unix")} }

// messageEndpoints compares ipc's message mode with raw SOCK_SEQPACKET
// where the OS has it.
func messageEndpoints() []endpoint {
	if !seqpacket {
		return []endpoint{ipcEndpoint()}
	}
	return []endpoint{ipcEndpoint(), rawEndpoint("unixpacket")}
}
