//go:build linux || darwin || freebsd || windows

package ipc

import (
	"context"
	"errors"
	"io/fs"
	"net"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// leakFree runs fn once to warm up, then eight times, and fails if the
// open handles (descriptors on Unix) grew by one a call (less can be a new
// runtime thread's handle on Windows).
func leakFree(t *testing.T, what string, fn func()) {
	t.Helper()
	fn()
	before := openHandles(t)
	const n = 8
	for range n {
		fn()
	}
	if after := openHandles(t); after-before >= n {
		t.Errorf("%s: %d handles before %d calls, %d after: one leaks on each", what, before, n, after)
	}
}

func wantOpError(t *testing.T, what string, err error, sentinel error) {
	t.Helper()
	var oe *net.OpError
	if !errors.As(err, &oe) || (sentinel != nil && !errors.Is(err, sentinel)) {
		t.Errorf("%s = %v, want a *net.OpError matching %v", what, err, sentinel)
	}
}

// pathName is a name for Listen that is a path on Unix (where admitting
// others needs one) and a pipe name on Windows.
func pathName(t *testing.T) string {
	if windowsOS {
		return testName()
	}
	return filepath.Join(t.TempDir(), "s")
}

// ParseAddress refuses what it cannot use with ErrUnsupportedAddress.
func TestBadInputParseAddress(t *testing.T) {
	bad := []string{"tcp://localhost:1", "http://x", "ab:x"}
	if windowsOS {
		bad = append(bad, "unix:///run/x.sock", "unix:x")
	} else {
		bad = append(bad, "npipe:////./pipe/x", "unix://host/x", "unix:", "unix:/", "unix://")
	}
	for _, a := range bad {
		got, err := ParseAddress(a)
		if !errors.Is(err, ErrUnsupportedAddress) {
			t.Errorf("ParseAddress(%q) = %q, %v; want ErrUnsupportedAddress", a, got, err)
		}
		c, err := DialAddress(context.Background(), a)
		if err == nil {
			c.Close()
		}
		wantOpError(t, "DialAddress("+strconv.Quote(a)+")", err, ErrUnsupportedAddress)
	}
}

// Listen and Dial refuse bad names and configurations with a *net.OpError
// and their reason, and leave nothing open.
func TestBadInputListenDial(t *testing.T) {
	ctx := context.Background()
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	type row struct {
		what string
		cfg  Config
		name string
		want error // nil: any *net.OpError
	}
	listens := []row{
		{"an empty name", Config{}, "", nil},
		{"a name with NUL", Config{}, "a\x00b", nil},
		{"an unknown AllowGroup", Config{AllowGroup: "conduit-no-such-group-xyzzy"}, pathName(t), ErrInvalidConfig},
	}
	if !windowsOS {
		listens = append(listens,
			row{"AllowOtherUsers with a short name", Config{AllowOtherUsers: true}, testName(), ErrInvalidConfig},
			row{"AllowGroup with a short name", Config{AllowGroup: "0"}, testName(), ErrInvalidConfig},
			row{"a path longer than a socket address", Config{}, filepath.Join(t.TempDir(), string(make([]byte, 200))+"x"), nil},
			row{"an abstract socket's name", Config{}, "@conduit/x", fs.ErrInvalid},
			row{"a negative MaxMessageSize", Config{MaxMessageSize: -1}, pathName(t), ErrInvalidConfig},
		)
	} else {
		listens = append(listens, row{"a remote pipe", Config{}, `\\otherhost\pipe\x`, nil})
	}
	for _, r := range listens {
		leakFree(t, "Listen with "+r.what, func() {
			l, err := r.cfg.Listen(r.name)
			if err == nil {
				l.Close()
			}
			wantOpError(t, "Listen with "+r.what, err, r.want)
		})
	}
	dials := []struct {
		row
		ctx context.Context
	}{
		{row{"a missing name", Config{}, testName(), fs.ErrNotExist}, ctx},
		{row{"an empty name", Config{}, "", nil}, ctx},
		{row{"an unknown AllowGroup", Config{AllowGroup: "conduit-no-such-group-xyzzy"}, testName(), ErrInvalidConfig}, ctx},
		{row{"a cancelled context, waiting for the server", Config{WaitForServer: true}, testName(), context.Canceled}, cancelled},
	}
	if !windowsOS {
		dials = append(dials, struct {
			row
			ctx context.Context
		}{row{"an abstract socket's name", Config{}, "@conduit/x", fs.ErrInvalid}, ctx})
	}
	if windowsOS {
		dials = append(dials, struct {
			row
			ctx context.Context
		}{row{"a remote pipe", Config{}, `\\otherhost\pipe\x`, ErrUnsupportedAddress}, ctx})
	}
	for _, d := range dials {
		leakFree(t, "Dial with "+d.what, func() {
			c, err := d.cfg.Dial(d.ctx, d.name)
			if err == nil {
				c.Close()
			}
			wantOpError(t, "Dial with "+d.what, err, d.want)
		})
	}
}

// A negative Backlog is a bad Config on every OS alike. It was silently
// the default on Unix (listen used it only when positive), and on Windows
// namedpipe's ErrInvalidConfig, which ipc.ErrInvalidConfig does not match.
func TestBadInputBacklog(t *testing.T) {
	l, err := (&Config{Backlog: -1}).Listen(pathName(t))
	if err == nil {
		l.Close()
	}
	wantOpError(t, "Listen with Backlog -1", err, ErrInvalidConfig)
}

// A bad name is refused with a reason callers can test for: fs.ErrInvalid.
// It was an untyped error on Unix, and on Windows internal/ipcname's, which
// callers cannot import.
func TestBadInputNameTyped(t *testing.T) {
	for _, name := range []string{"", "a\x00b"} {
		_, err := Listen(name)
		if !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("Listen(%q) = %v on %s: matches no sentinel", name, err, runtime.GOOS)
		}
	}
}
