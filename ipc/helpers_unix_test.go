//go:build linux || darwin || freebsd

package ipc

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"testing"
)

func myUserID(t testing.TB) string { return strconv.Itoa(os.Geteuid()) }

// otherUserID is a uid no test runs as.
const otherUserID = "54321"

// framings are the ways message mode runs here: the OS's own, and the
// framing that macOS uses, forced.
func framings() []string { return []string{"native", "framed"} }

// useFraming forces the framing for one test when asked to.
func useFraming(t testing.TB, framing string) {
	was := forceFraming
	forceFraming = framing == "framed"
	t.Cleanup(func() { forceFraming = was })
}

// fakePeer makes every peer read as cred for one test.
func fakePeer(t testing.TB, cred Credentials) {
	hook := func(Credentials) Credentials { return cred }
	testHookPeer.Store(&hook)
	t.Cleanup(func() { testHookPeer.Store(nil) })
}

func isReset(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}
