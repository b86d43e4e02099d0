package main

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// lockHolder returns the PID of the process that holds an flock on the file
// at path, read from /proc/locks: 0 if none, -1 if it cannot tell. An ipc
// listener holds its socket's lock file while it listens, so this tells
// whether it does, and who, without connecting to it (which the server
// would take for a client) and without taking the lock (which a Listen
// starting at the same moment would take for a live server).
func lockHolder(path string) int {
	fi, err := os.Stat(path)
	if err != nil {
		return 0
	}
	st := fi.Sys().(*syscall.Stat_t)
	want := fmt.Sprintf("%02x:%02x:%d", unix.Major(uint64(st.Dev)), unix.Minor(uint64(st.Dev)), st.Ino)
	f, err := os.Open("/proc/locks")
	if err != nil {
		return -1
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		// 1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF
		fields := strings.Fields(s.Text())
		if len(fields) < 6 || fields[1] != "FLOCK" { // waiters read "N: -> FLOCK ..."
			continue
		}
		if fields[5] == want {
			pid, _ := strconv.Atoi(fields[4])
			return pid
		}
	}
	return 0
}
