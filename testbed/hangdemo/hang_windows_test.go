package hangdemo

import (
	"os"
	"runtime"
	"testing"
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
