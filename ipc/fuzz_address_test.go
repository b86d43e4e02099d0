//go:build linux || darwin || freebsd || windows

package ipc

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseAddress checks what ParseAddress promises for any input: an
// error is ErrUnsupportedAddress; an address without a scheme comes back
// unchanged; a unix: address becomes a path (it holds a slash, so Listen
// and Dial never take it for a short name in the private directory); an
// npipe: address becomes a \\ path; and the scheme that is not this OS's
// is refused.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"myapp", "/run/app.sock", "unix:///run/app.sock", "unix:/run/app.sock", "unix:app.sock", "unix:rel/app.sock",
		"unix://host/run/app.sock", "unix://", "unix:", "unix:/", "UNIX:x", "npipe:////./pipe/docker_engine",
		"npipe://./pipe/x", "npipe:", `\\.\pipe\x`, `C:\x`, "tcp://localhost:1", "unix:a:b", "unix:ab:c/d",
		"a:b", ":x", "unix:////x", "npipe:x:y", "unix:\x00", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, address string) {
		got, err := ParseAddress(address)
		scheme, _, hasScheme := strings.Cut(address, ":")
		scheme = strings.ToLower(scheme)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedAddress) {
				t.Fatalf("ParseAddress(%q) = %v, not ErrUnsupportedAddress", address, err)
			}
			if !hasScheme {
				t.Fatalf("ParseAddress(%q) = %v for an address without a scheme", address, err)
			}
			return
		}
		switch {
		case got == address:
		case !hasScheme:
			t.Fatalf("ParseAddress(%q) = %q: an address without a scheme changed", address, got)
		case scheme == "unix" && windowsOS, scheme == "npipe" && !windowsOS:
			t.Fatalf("ParseAddress(%q) = %q: a scheme this OS has not", address, got)
		case scheme == "unix" && !strings.Contains(got, "/"):
			t.Fatalf("ParseAddress(%q) = %q: a unix: address that reads as a short name", address, got)
		case scheme == "npipe" && !strings.HasPrefix(got, `\\`):
			t.Fatalf("ParseAddress(%q) = %q: an npipe: address that is not a \\\\ path", address, got)
		case scheme != "unix" && scheme != "npipe":
			t.Fatalf("ParseAddress(%q) = %q: changed by an unknown scheme", address, got)
		}
		if got == "" && hasScheme {
			t.Fatalf("ParseAddress(%q) = \"\", nil", address)
		}
	})
}
