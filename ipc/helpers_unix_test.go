//go:build linux || darwin || freebsd

package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
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

// osChildren play the child roles of one Unix OS's tests.
var osChildren []func(args []string) (int, bool)

// platformChild plays the Unix-only child roles:
//   - "unprivileged SOCKET SECRET": checks it cannot open SECRET itself,
//     dials SOCKET (a server of another user), receives a file and sends
//     back what it reads from it as one message.
func platformChild(args []string) (int, bool) {
	for _, child := range osChildren {
		if code, ok := child(args); ok {
			return code, true
		}
	}
	if args[0] != "unprivileged" {
		return 0, false
	}
	if f, err := os.Open(args[2]); err == nil {
		f.Close()
		fmt.Fprintln(os.Stderr, "child: the secret opens without the server's help")
		return 2, true
	}
	cfg := Config{MessageMode: true, AllowOtherUsers: true}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := cfg.Dial(ctx, args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "child dial:", err)
		return 2, true
	}
	defer c.Close()
	f, err := c.ReceiveFile()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child receive:", err)
		return 2, true
	}
	data, err := io.ReadAll(f)
	f.Close()
	if err != nil {
		fmt.Fprintln(os.Stderr, "child read:", err)
		return 2, true
	}
	if err := c.WriteMessage(data); err != nil {
		fmt.Fprintln(os.Stderr, "child write:", err)
		return 2, true
	}
	return 0, true
}
