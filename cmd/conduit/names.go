package main

import (
	"fmt"
	"runtime"
	"strings"
)

// namesHelp is the naming rule, the same in every command.
const namesHelp = `Names, the same rule in every command and on every OS:
  NAME                 a short name: \\.\pipe\NAME on Windows; on Unix the socket
                       NAME.sock in your private runtime directory ($XDG_RUNTIME_DIR
                       if it is private to you, else $TMPDIR/conduit-UID; a warning
                       says when XDG_RUNTIME_DIR is passed over). A short name that
                       ends in .sock names the same socket as the name without it.
  \\.\pipe\NAME, npipe:NAME, npipe://./pipe/NAME, npipe:////./pipe/NAME
                       the pipe NAME on Windows; the short name NAME on Unix.
  unix:PATH, unix://PATH, or (Unix) a path with a slash
                       the Unix socket at PATH (Windows 10 and later have them too).`

// A target is what a NAME argument names: a pipe (a short name, or on
// Windows any name package namedpipe takes) or a Unix socket's path.
type target struct {
	kind string // "pipe" or "unix"
	name string
}

func (t target) String() string {
	if t.kind == "unix" {
		return "unix:" + t.name
	}
	return t.name
}

// resolveName reads a NAME argument by namesHelp's rule.
func resolveName(arg string) (target, error) {
	if arg == "" {
		return target{}, usagef("empty name: want NAME, a path, unix:PATH or npipe:NAME")
	}
	if strings.ContainsRune(arg, 0) {
		return target{}, usagef("name %q has a NUL byte", arg)
	}
	if rest, ok := strings.CutPrefix(arg, "unix:"); ok {
		// unix:///abs and unix:/abs (absolute), unix:rel (relative): gRPC's forms.
		if strings.HasPrefix(rest, "//") {
			rest = rest[2:]
		}
		if rest == "" {
			return target{}, usagef("%q: no path after unix:", arg)
		}
		if !strings.ContainsAny(rest, `/\`) {
			rest = "./" + rest // a path, never a short name
		}
		return target{"unix", rest}, nil
	}
	if name, ok, err := pipeName(arg); ok || err != nil {
		if err != nil {
			return target{}, err
		}
		return pipeTarget(name, true)
	}
	return pipeTarget(arg, false)
}

// pipeName reads the pipe forms: \\.\pipe\NAME and npipe: with its
// variants. ok is false for anything else.
func pipeName(arg string) (name string, ok bool, err error) {
	lower := strings.ToLower(arg)
	var rest string
	switch {
	case strings.HasPrefix(lower, `\\.\pipe\`):
		rest = arg[len(`\\.\pipe\`):]
	case strings.HasPrefix(lower, "npipe:"):
		rest = strings.TrimLeft(arg[len("npipe:"):], "/")
		// npipe:////./pipe/NAME and npipe://./pipe/NAME (Docker's), npipe:NAME
		if strings.HasPrefix(strings.ToLower(rest), "./pipe/") {
			rest = rest[len("./pipe/"):]
		} else if strings.HasPrefix(strings.ToLower(rest), `.\pipe\`) {
			rest = rest[len(`.\pipe\`):]
		}
	default:
		return "", false, nil
	}
	if rest == "" {
		return "", false, usagef("%q: no pipe name", arg)
	}
	if runtime.GOOS != "windows" && strings.ContainsAny(rest, `/\`) {
		return "", false, usagef("%q: a pipe name has no slashes here", arg)
	}
	return rest, true, nil
}

// errName wraps a name that cannot be used as a usage error.
func errName(arg string, err error) error { return usagef("name %q: %v", arg, err) }

var _ = fmt.Sprint
