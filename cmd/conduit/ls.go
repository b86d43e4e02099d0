package main

import (
	"encoding/json"
	"flag"
	"io"
	"path"
	"strings"
)

func init() {
	register(&command{
		name: "ls", args: "[PATTERN]", minArgs: 0, maxArgs: 1,
		summary: "list the machine's pipes (Windows), or the sockets in your runtime directory (Unix)",
		help: `
PATTERN, a shell pattern (* ? [...]), keeps the names that match it.

Windows: every pipe with its current and maximum instances, as Sysinternals'
PipeList shows them (read from the named-pipe file system's directory; no pipe
is opened, so type, server and owner are for conduit info NAME, which opens
one). Unix: the sockets in your private runtime directory with their type
(stream or message), whether something listens, and the listening process's
ID and user (Linux: from /proc, without connecting). --stale lists only what
no one listens on, and the lock files no socket needs; conduit rm removes them.

JSON (--json), one array:
  Windows: [{"name": "docker_engine", "path": "\\\\.\\pipe\\docker_engine", "instances": 2, "max_instances": 0}]
           max_instances 0 means unlimited.
  Unix:    [{"name": "myapp", "path": "/run/user/1000/myapp.sock", "type": "stream"|"message"|"",
             "listening": true, "server_pid": 1234, "server_user": "alice", "owner": "alice"}]
           listening and server_pid are null where the OS does not say.

Examples:
  conduit ls
  conduit ls "myapp*"
  conduit ls --stale
  conduit ls --json | jq -r '.[].name'`,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var asJSON, stale bool
			fs.BoolVar(&asJSON, "json", false, "print JSON (see above)")
			fs.BoolVar(&stale, "stale", false, "only the names no one listens on (Unix), which conduit rm removes")
			return func(args []string) error {
				pattern := "*"
				if len(args) > 0 {
					pattern = args[0]
				}
				if _, err := path.Match(pattern, ""); err != nil {
					return usagef("ls: pattern %q: %v", pattern, err)
				}
				return lsCmd(lsOptions{asJSON: asJSON, stale: stale, pattern: pattern})
			}
		},
	})
	register(&command{
		name: "rm", args: "NAME...", minArgs: 1, maxArgs: -1,
		summary: "remove a stale socket and its lock file (Unix): one no server listens on",
		help: `
A socket whose server died (kill -9, a crash) stays in the runtime directory
until the next listen on its name clears it; rm clears it now, with its lock
file. A socket something listens on is refused (exit 1): stop its server.
Windows pipes vanish with their last handle: there is nothing to remove.

Examples:
  conduit rm myapp
  conduit ls --stale --json | jq -r '.[].name' | xargs conduit rm`,
		flags: func(fs *flag.FlagSet) func([]string) error {
			return func(args []string) error { return rmCmd(args) }
		},
	})
}

type lsOptions struct {
	asJSON, stale bool
	pattern       string
}

func (o lsOptions) match(name string) bool {
	ok, _ := path.Match(o.pattern, name)
	if !ok && strings.EqualFold(o.pattern, name) {
		ok = true
	}
	return ok
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}
