//go:build unix

package anonpipe

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

func platformChild(string) (int, bool) { return 0, false }

func echoCommand(s string) *exec.Cmd { return exec.Command("/bin/sh", "-c", "echo '"+s+"'") }

// threadCount reads the Threads line of /proc/self/status (Linux).
func threadCount() (int, bool) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "Threads:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			return n, err == nil
		}
	}
	return 0, false
}

func openHandles(t testing.TB) int {
	des, err := os.ReadDir("/dev/fd")
	if err != nil {
		t.Skip("cannot list /dev/fd:", err)
	}
	return len(des)
}
