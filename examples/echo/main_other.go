//go:build !windows

// Command echo runs an echo server and a client over a named pipe; named
// pipes are Windows', so elsewhere it only says so.
package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Fprintln(os.Stderr, "echo: named pipes need Windows (on Linux: make run, under Wine)")
	os.Exit(1)
}
