//go:build linux || darwin || freebsd

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A bridge dials a unix: B as ipc does (issue 16, item 10): a server of
// another user at B's path gets nothing from A's client, and the bridge
// says why. Before, it dialled with net.Dial and carried the data to
// whoever listened there. Runs as root, to start that server as another
// uid.
func TestBridgeRefusesOtherUsersServer(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("starting a server as another user takes root")
	}
	const uid = 54329 // no account has it
	dir, err := os.MkdirTemp("", "conduit-bridge")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	bin := filepath.Join(dir, "conduit.test")
	data, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// The other user's directory, and its server in it.
	home := filepath.Join(dir, "other")
	if err := os.Mkdir(home, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chown(home, uid, uid)
	sock := filepath.Join(home, "s.sock")
	server := exec.Command(bin, "listen", sock, "--keep-open", "--exec", bin+" __upper")
	server.Env = append(os.Environ(), mainEnv+"=1")
	server.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	background(t, server, nil)
	// Up once its socket is in place (ipc moves it there listening).
	for deadline := time.Now().Add(20 * time.Second); ; {
		if fi, err := os.Lstat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the other user's server never made its socket")
		}
		time.Sleep(10 * time.Millisecond) // polling a condition, with a bound
	}
	stdout, stderr, code := runResult(t, conduit("bridge", "-", "unix:"+sock), []byte("secret"))
	if code == 0 || strings.Contains(stdout, "SECRET") {
		t.Fatalf("bridge to another user's server: exit %d, %q reached it (stderr %s)", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "refused") {
		t.Errorf("bridge's error does not say the server was refused: %s", stderr)
	}
}
