#!/usr/bin/env bash
# conduit's demonstration, as `make run` runs it: conduit.exe under Wine, set
# up by testbed/setup.sh (the wrapper go_windows_amd64_exec is on PATH). The
# same commands work on Windows as they are, without the wrapper.
set -euo pipefail
exe=${1:?usage: demo.sh path/to/conduit.exe}
conduit() { go_windows_amd64_exec "$exe" "$@"; }
step() {
	printf '\n== %s\n' "$1"
	[ $# -gt 1 ] && printf '$ conduit %s\n' "${*:2}"
	return 0
}
pipe=conduit-demo-$$

step "a server: its client's messages go to a child (more, an echo) over anonymous pipes, and back" \
	listen "$pipe" --message --exec more
conduit listen "$pipe" --message --exec more &
server=$!

step "a client, which waits for the server; each line is a message" dial "$pipe" --message --wait
coproc client { conduit dial "$pipe" --message --wait --timeout 20s; }
echo "hello, pipe" >&"${client[1]}"
read -r -t 60 reply <&"${client[0]}"
echo "the client read back: $reply"

step "the machine's pipes (Wine cannot enumerate them: its one-line error says so)" ls
conduit ls || true

step "who may open the pipe, and who may create instances of it" info "$pipe"
conduit info "$pipe"

step "the client's second message, then the end of its input"
echo "second message" >&"${client[1]}"
read -r -t 60 reply <&"${client[0]}"
echo "the client read back: $reply"
exec {client[1]}>&- # a half-close: the child sees the end, and all of them exit
wait "$server"

step "a mailslot message" mailslot recv "slot-$$" --count 1
conduit mailslot recv "slot-$$" --count 1 --timeout 20s &
recv=$!
for try in $(seq 300); do # until recv has made the slot, at most 30 s
	conduit mailslot send "slot-$$" "a message through a mailslot" 2>/dev/null && break
	sleep 0.1
done
wait $recv

step "a short benchmark" bench --size 8MiB --rounds 300
conduit bench --size 8MiB --rounds 300
