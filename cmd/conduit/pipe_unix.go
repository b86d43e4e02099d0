//go:build !windows

package main

import (
	"errors"
	"net"
	"os/exec"
	"syscall"

	"github.com/conduit-ipc/conduit/ipc"
)

// listenPipe listens on an ipc name: a socket, private to this user.
func listenPipe(name string, o pipeOptions) (net.Listener, error) {
	if o.sddl != "" {
		return nil, usagef("--sddl is for Windows pipes: Unix sockets have a mode, 0600")
	}
	cfg := ipc.Config{MessageMode: o.message, Backlog: o.backlog}
	return cfg.Listen(name)
}

// dialPipe connects to an ipc name.
func dialPipe(name string, o pipeOptions) (net.Conn, error) {
	ctx, cancel := dialContext(o)
	defer cancel()
	cfg := ipc.Config{MessageMode: o.message, WaitForServer: o.wait}
	c, err := cfg.Dial(ctx, name)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func shellCommandWindows(string) *exec.Cmd { panic("unreachable") }

func isBrokenPipe(err error) bool {
	return errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET)
}

// zeroIsEnd reports whether a zero-length message from c ends the stream:
// not on ipc sockets, whose CloseWrite is a shutdown.
func zeroIsEnd(any) bool { return false }
