package main

import (
	"encoding/json"
	"flag"
	"io"
)

func init() {
	register(&command{
		name: "ls", args: "", minArgs: 0, maxArgs: 0,
		summary: "list the machine's pipes (Windows), or the sockets in your runtime directory (Unix)",
		help: `
Windows: every pipe with its current and maximum instances, as Sysinternals'
PipeList shows them (read from the named-pipe file system's directory; no pipe
is opened). Unix: the sockets in your private runtime directory, and whether
something listens on each (Linux).

JSON (--json), one array:
  Windows: [{"name": "docker_engine", "path": "\\\\.\\pipe\\docker_engine", "instances": 2, "max_instances": 0}]
           max_instances 0 means unlimited.
  Unix:    [{"name": "myapp", "path": "/run/user/1000/myapp.sock", "listening": true}]
           listening is null where the OS does not say.

Examples:
  conduit ls
  conduit ls --json | jq -r '.[].name'`,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var asJSON bool
			fs.BoolVar(&asJSON, "json", false, "print JSON (see above)")
			return func([]string) error { return lsCmd(asJSON) }
		},
	})
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(v)
}
