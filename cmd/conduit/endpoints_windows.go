package main

import (
	"errors"
	"net"

	"github.com/conduit-ipc/conduit/namedpipe"
)

func listenNpipe(name string, message bool) (net.Listener, error) {
	lc := namedpipe.ListenConfig{MessageMode: message}
	return lc.Listen(name)
}

func dialNpipe(name string, message bool) (net.Conn, error) {
	return dialPipe(target{"pipe", name}, pipeOptions{message: message})
}

// listenUnix listens on a Unix socket, which Windows 10 and later have.
func listenUnix(path string, message bool) (net.Listener, error) {
	if message {
		return nil, errors.New("unix: endpoints have no message mode on Windows")
	}
	l, err := net.Listen("unix", path)
	return l, unixSocketError(err)
}

// dialUnixEndpoint dials a unix: endpoint.
func dialUnixEndpoint(e endpoint) (net.Conn, error) {
	if e.message {
		return nil, errors.New("unix: endpoints have no message mode on Windows")
	}
	c, err := net.Dial("unix", e.addr)
	return c, unixSocketError(err)
}
