package main

import "flag"

func init() {
	register(&command{
		name: "info", args: "NAME", minArgs: 1, maxArgs: 1,
		summary: "describe a pipe: type, instances, quotas, server, owner, and who may connect and create instances",
		help: `
Windows: connects for a moment with no read or write access (Identification
level), as a client that comes and goes (a server that serves one client and
is waiting in Accept may take it for that client: Windows has no other way to
read a pipe's security), and reads the pipe's type, direction,
instances, quotas, the server's process ID and image, the owner and the
security descriptor (SDDL), then says in words who may connect and who may
create instances of the pipe (FILE_CREATE_PIPE_INSTANCE, the same bit as
FILE_APPEND_DATA: GA and GW grant it). Anyone but the owner, LocalSystem and
Administrators who may create instances is flagged: such a user can serve some
of the pipe's clients, who cannot tell.

Unix: the socket's owner, mode and whether something listens, and for an ipc
listener its process ID, user and executable (from the lock file it holds, in
/proc/locks on Linux: no connection is made).

JSON (--json), one object; Windows:
  {"path", "type": "byte"|"message", "direction": "duplex"|"inbound"|"outbound",
   "instances", "max_instances" (0: unlimited), "input_quota", "output_quota",
   "server_pid", "server_image", "owner", "owner_name", "sddl",
   "may_connect": [names], "may_create_instances": [names], "denied": [names],
   "others_may_create_instances": bool, "warnings": [text]}
Unix:
  {"path", "owner", "owner_name", "mode", "listening" (null: unknown),
   "server_pid" (null: unknown), "server_user", "server_image"}

Examples:
  conduit info docker_engine
  conduit info myapp --json`,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var asJSON bool
			fs.BoolVar(&asJSON, "json", false, "print JSON (see above)")
			return func(args []string) error { return infoCmd(args[0], asJSON) }
		},
	})
}
