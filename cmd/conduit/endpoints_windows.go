package main

import (
	"net"

	"github.com/conduit-ipc/conduit/namedpipe"
)

func listenNpipe(name string) (net.Listener, error) { return namedpipe.Listen(name) }

func dialNpipe(name string) (net.Conn, error) { return dialPipe(name, pipeOptions{}) }

// listenUnix listens on a Unix socket, which Windows 10 and later have.
func listenUnix(path string) (net.Listener, error) { return net.Listen("unix", path) }
