package hangdemo

import (
	"os"
	"os/exec"
	"runtime"
	"testing"
	"time"
)

func TestHangInWine(t *testing.T) {
	if os.Getenv("CONDUIT_HANG_DEMO") != "1" {
		t.Skip("the test bed's hang demonstration: make hang-demo")
	}
	runtime.LockOSThread()
	t.Log("freezing: every other thread stopped, this one in a wait that never ends")
	Freeze()
	t.Fatal("Freeze returned")
}

// TestMain runs the child TestLeaveChild leaves behind: it waits, as a
// process a test forgot would.
func TestMain(m *testing.M) {
	if os.Getenv("CONDUIT_LEFT_CHILD") == "1" {
		time.Sleep(10 * time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestLeaveChild(t *testing.T) {
	if os.Getenv("CONDUIT_LEFT_DEMO") != "1" {
		t.Skip("the test bed's demonstration of a child left running: make hang-demo")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "CONDUIT_LEFT_CHILD=1")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Logf("started pid %d and left it running", cmd.Process.Pid)
}
