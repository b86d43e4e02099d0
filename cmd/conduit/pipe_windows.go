package main

import (
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"

	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

// listenPipe listens on a named pipe, with every option.
func listenPipe(name string, o pipeOptions) (net.Listener, error) {
	lc := namedpipe.ListenConfig{MessageMode: o.message, Backlog: o.backlog, SecurityDescriptor: o.sddl}
	l, err := lc.Listen(name)
	if errors.Is(err, namedpipe.ErrInvalidConfig) {
		return nil, usageError{err}
	}
	return l, err
}

// dialPipe connects to a named pipe, waiting for a busy one (and, with
// wait, a missing one) until the timeout.
func dialPipe(name string, o pipeOptions) (net.Conn, error) {
	ctx, cancel := dialContext(o)
	defer cancel()
	d := namedpipe.DialConfig{WaitForServer: o.wait}
	c, err := d.Dial(ctx, name)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// shellCommandWindows runs command through cmd.exe (%ComSpec%, not one
// found on PATH), the command line as it is: /s makes cmd.exe strip just
// the outer quotes added here, whatever quotes command has of its own, and
// /d skips AutoRun commands.
func shellCommandWindows(command string) *exec.Cmd {
	comspec := os.Getenv("ComSpec")
	if comspec == "" {
		comspec = filepath.Join(os.Getenv("SystemRoot"), "System32", "cmd.exe")
	}
	cmd := exec.Command(comspec)
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: `cmd.exe /d /s /c "` + command + `"`}
	return cmd
}

func isBrokenPipe(err error) bool {
	return errors.Is(err, windows.ERROR_BROKEN_PIPE) || errors.Is(err, windows.ERROR_NO_DATA) ||
		errors.Is(err, windows.ERROR_PIPE_NOT_CONNECTED)
}

// zeroIsEnd reports whether a zero-length message from c ends the stream:
// on a named pipe, by convention.
func zeroIsEnd(c any) bool {
	_, ok := c.(*namedpipe.Conn)
	return ok
}
