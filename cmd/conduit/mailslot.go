package main

import (
	"flag"
	"time"
)

func init() {
	register(&command{
		name: "mailslot", args: "recv NAME | send NAME [MESSAGE...]", minArgs: 2, maxArgs: -1,
		summary: "receive or send mailslot messages (Windows)",
		help: `
recv creates the mailslot NAME (\\.\mailslot\NAME) and prints each message on
a line of its own, until --count messages came or --timeout passed with none
(0: forever); once the slot exists it says so on stderr. send writes each
MESSAGE as one message to NAME, which may be \\host\mailslot\x or
\\*\mailslot\x (the domain, 424 bytes at most); with no MESSAGE, each line of
stdin is one.

Examples:
  conduit mailslot recv events --count 1
  conduit mailslot send events "service started"
  conduit mailslot send '\\*\mailslot\events' "hello, domain"`,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var count int
			var timeout time.Duration
			fs.IntVar(&count, "count", 0, "recv: stop after this many messages (0: never)")
			fs.DurationVar(&timeout, "timeout", 0, "recv: stop when no message came for this long (0: never)")
			return func(args []string) error {
				switch args[0] {
				case "recv":
					if len(args) != 2 {
						return usagef("mailslot recv: want NAME")
					}
					return mailslotRecv(args[1], count, timeout)
				case "send":
					return mailslotSend(args[1], args[2:])
				}
				return usagef("mailslot: want recv or send, not %q", args[0])
			}
		},
	})
}
