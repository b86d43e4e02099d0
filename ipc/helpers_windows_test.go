package ipc

import (
	"errors"
	"testing"

	"github.com/conduit-ipc/conduit/internal/winsec"
	"golang.org/x/sys/windows"
)

func myUserID(t testing.TB) string {
	t.Helper()
	u, err := winsec.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// otherUserID is a SID no test runs as.
const otherUserID = "S-1-5-21-1-2-3-1001"

// framings are the ways message mode runs here: named-pipe message mode.
func framings() []string { return []string{"native"} }

func useFraming(testing.TB, string) {}

// fakePeer makes every peer read as cred for one test.
func fakePeer(t testing.TB, cred Credentials) {
	hook := func(Credentials) Credentials { return cred }
	testHookPeer.Store(&hook)
	t.Cleanup(func() { testHookPeer.Store(nil) })
}

func isReset(err error) bool {
	return errors.Is(err, windows.ERROR_BROKEN_PIPE) || errors.Is(err, windows.ERROR_NO_DATA) ||
		errors.Is(err, windows.ERROR_PIPE_NOT_CONNECTED)
}

// Dial of a pipe on another machine is refused before anything goes over
// the network.
func TestRemoteRefused(t *testing.T) {
	for _, name := range []string{`\\otherhost\pipe\x`, `//otherhost/pipe/x`} {
		if _, err := Dial(t.Context(), name); !errors.Is(err, ErrUnsupportedAddress) {
			t.Errorf("Dial(%q) = %v, want ErrUnsupportedAddress", name, err)
		}
	}
	name, err := ParseAddress("npipe:////otherhost/pipe/x")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Dial(t.Context(), name); !errors.Is(err, ErrUnsupportedAddress) {
		t.Errorf("Dial(%q) = %v, want ErrUnsupportedAddress", name, err)
	}
}

// osChildren play the Windows-only child roles.
var osChildren []func(args []string) (int, bool)

// platformChild plays the Windows-only child roles.
func platformChild(args []string) (int, bool) {
	for _, child := range osChildren {
		if code, ok := child(args); ok {
			return code, true
		}
	}
	return 0, false
}
