// Command conduit is netcat, socat, npiperelay and PipeList for pipes, in
// one tool: it listens on and dials named pipes (Unix sockets on Linux and
// macOS, through package ipc), relays stdio to a pipe for WSL and SSH
// agents, bridges pipes, Unix sockets and TCP, lists pipes and tells who may
// open them, sends and receives mailslot messages, and measures pipes.
//
//	conduit listen myapp               # \\.\pipe\myapp; stdin to the client, the client to stdout
//	echo hello | conduit dial myapp    # the server's answer, then exit
//	conduit listen myapp --message --keep-open --exec sort
//	conduit relay openssh-ssh-agent --wait
//	conduit bridge unix:/tmp/agent.sock npipe:openssh-ssh-agent --keep-open
//	conduit ls --json
//	conduit info docker_engine
//	conduit mailslot send events "hello"
//	conduit bench --json
//
// Run conduit --help, and conduit COMMAND --help, for every flag. Errors are
// one line on stderr. The exit status is 0 when a transfer is complete, 1
// for a failure, a transfer cut short or data that could not be sent (a
// broken pipe, a reset, a killed peer), and 2 for a usage error.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"
	"strings"
)

// version is the command's version; a release sets it with
// -ldflags "-X main.version=...".
var version = "devel"

// A command is one of conduit's subcommands.
type command struct {
	name    string
	args    string // the positional arguments, for usage
	summary string
	help    string // more, with examples
	flags   func(fs *flag.FlagSet) func(args []string) error
	minArgs int
	maxArgs int // -1: any
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// errUsage marks an error as a usage error: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

func main() { os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }

// stdio is where a command reads and writes; tests give their own.
type stdio struct {
	in       io.Reader
	out, err io.Writer
}

var std stdio

// run runs conduit with args and returns the exit status.
func run(args []string, in io.Reader, out, errw io.Writer) int {
	std = stdio{in, out, errw}
	stdinPump = newPump(in)
	err := dispatch(args)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	}
	fmt.Fprintln(errw, "conduit: "+oneLine(err.Error()))
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func dispatch(args []string) error {
	if len(args) == 0 {
		return usagef("no command given: run conduit --help")
	}
	switch args[0] {
	case "-h", "-help", "--help", "help":
		if len(args) > 1 {
			c, ok := commands[args[1]]
			if !ok {
				return usagef("unknown command %q: run conduit --help", args[1])
			}
			commandUsage(std.out, c, flag.NewFlagSet(c.name, flag.ContinueOnError))
			return nil
		}
		usage(std.out)
		return nil
	case "-version", "--version", "version":
		fmt.Fprintln(std.out, "conduit", buildVersion())
		return nil
	}
	c, ok := commands[args[0]]
	if !ok {
		return usagef("unknown command %q: run conduit --help", args[0])
	}
	fs := flag.NewFlagSet("conduit "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	do := c.flags(fs)
	pos, err := parseInterspersed(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		commandUsage(std.out, c, flag.NewFlagSet(c.name, flag.ContinueOnError))
		return err
	}
	if err != nil {
		return usagef("%s: %v", c.name, err)
	}
	if len(pos) < c.minArgs || c.maxArgs >= 0 && len(pos) > c.maxArgs {
		if c.args == "" {
			return usagef("%s takes no arguments, got %q: run conduit %s --help", c.name, strings.Join(pos, " "), c.name)
		}
		return usagef("%s: want %s, got %d argument(s): run conduit %s --help", c.name, c.args, len(pos), c.name)
	}
	return do(pos)
}

// parseInterspersed parses flags that stand before, between or after the
// positional arguments ("conduit listen NAME --exec cat"); "--" ends the
// flags.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		// flag stops at "--" (swallowing it) or at a non-flag.
		if len(args) > len(rest) && args[len(args)-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

// buildVersion is version, or the module's version when go install built
// conduit from a tagged release.
func buildVersion() string {
	if version != "devel" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func usage(w io.Writer) {
	fmt.Fprintf(w, `conduit %s: pipes from the command line: netcat, socat, npiperelay and PipeList in one.

Usage: conduit COMMAND [ARGS] [FLAGS]   (flags may come before or after the arguments)

Commands:
`, buildVersion())
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := commands[n]
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Names: "myapp" is \\.\pipe\myapp on Windows and the socket myapp.sock in
your private runtime directory on Unix; npipe:NAME and \\.\pipe\NAME mean
the same short name everywhere, unix:PATH (and on Unix any path with a slash)
a Unix socket. Endpoints (bridge) are npipe:NAME, unix:PATH, tcp:HOST:PORT or
- for stdio. conduit listen --help gives the whole rule.

Exit status: 0 when the command did all it was asked (a transfer: complete,
both sides ended, nothing left unsent); 1, with one line on stderr, for a
failure, including a transfer cut short (broken pipe, reset, killed peer,
stdin data unsent, -T idle timeout, interrupted); 2 for a usage error. Run
conduit COMMAND --help for a command's flags, examples and exit statuses;
conduit --version for the version.
`)
}

func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	c.flags(fs)
	fmt.Fprintf(w, "Usage: conduit %s [FLAGS]\n\n%s\n", strings.Join(strings.Fields(c.name+" "+c.args), " "), c.summary)
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", strings.TrimSpace(c.help))
	}
	var any bool
	fs.VisitAll(func(*flag.Flag) { any = true })
	if any {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}
