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

step "a server: each client's messages go to a child of its own (more, an echo) over anonymous pipes, and back" \
	listen "$pipe" --message --keep-open --exec more
go_windows_amd64_exec "$exe" listen "$pipe" --message --keep-open --exec more & # $! is conduit.exe itself
server=$!

step "a client, which waits for the server; each line is a message" dial "$pipe" --message --wait
coproc client { conduit dial "$pipe" --message --wait --timeout 20s; }
echo "hello, pipe" >&"${client[1]}"
read -r -t 60 reply <&"${client[0]}"
echo "the client read back: $reply"

step "the machine's pipes: on Windows each with its instances, as PipeList shows them (Wine 8 cannot list \\.\pipe\, and ls says so in one line)" ls
conduit ls || true

step "who may open the pipe, and who may create instances of it" info "$pipe"
conduit info "$pipe"

step "the client's second message, then the end of its input"
echo "second message" >&"${client[1]}"
read -r -t 60 reply <&"${client[0]}"
echo "the client read back: $reply"
exec {client[1]}>&- # a half-close: the child sees the end, and the client exits 0
wait "$client_PID"
# A --keep-open server runs until stopped (Ctrl-C on Windows; Wine passes
# no SIGTERM on to a Windows program, so here it is killed).
kill -KILL "$server" && wait "$server" 2>/dev/null || true

step "a one-shot transfer over a byte pipe: each side ends by itself once the other has read everything (-t), exit status 0; -v logs the peer" \
	listen "$pipe-bytes" -v
echo "from the server" | conduit listen "$pipe-bytes" -v &
server=$!
echo "from the client" | conduit dial "$pipe-bytes" --wait --timeout 20s
wait "$server"
echo "both exited 0"

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
