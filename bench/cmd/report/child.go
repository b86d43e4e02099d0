package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
)

// A child process is this program run again with envChild set to its role
// and its parameters in the environment. It says "ready" on standard output
// when it is, and exits when its standard input closes.

// proc is a running child.
type proc struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// startChild starts this program as a child playing role, with env added to
// its environment, and waits for its "ready". extra, when set, is called on
// the command before it starts (to hand it files).
func startChild(role string, env []string, extra func(*exec.Cmd)) (*proc, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return startProgram(exec.Command(exe), append(env, envChild+"="+role), extra)
}

// startProgram starts cmd, which follows the child protocol, and waits for
// its "ready".
func startProgram(cmd *exec.Cmd, env []string, extra func(*exec.Cmd)) (*proc, error) {
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if extra != nil {
		extra(cmd)
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	p := &proc{cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		p.stop()
		return nil, fmt.Errorf("%s: %q, %v", cmd.Path, line, err)
	}
	return p, nil
}

// stop closes the child's standard input and waits for it to exit.
func (p *proc) stop() {
	p.stdin.Close()
	p.cmd.Wait()
}

// childReady tells the parent that this child is ready, and exits when the
// parent closes its standard input (or exits).
func childReady() {
	fmt.Println("ready")
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
}

// runOutput runs cmd to its end and returns its standard output.
func runOutput(cmd *exec.Cmd) ([]byte, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.Path, err)
	}
	return out, nil
}
