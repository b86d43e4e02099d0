package main

import (
	"os"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/winsec"
)

func onWine() bool { return nt.Wine() }

func socketPath(t *testing.T, n string) string { t.Fatal("no sockets on Windows"); return "" }

func checkInfo(t *testing.T, info map[string]any) {
	t.Helper()
	me, err := winsec.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	if info["type"] != "byte" || info["direction"] != "duplex" || info["owner"] != me || info["sddl"] == "" {
		t.Errorf("info %v: want a duplex byte pipe owned by %s, with its SDDL", info, me)
	}
	if n, _ := info["instances"].(float64); n < 1 {
		t.Errorf("info %v: no instances", info)
	}
	if c, _ := info["may_connect"].([]any); len(c) == 0 {
		t.Errorf("info %v: no one may connect", info)
	}
	if info["others_may_create_instances"] != false {
		t.Errorf("info %v: a default pipe flagged", info)
	}
}

// refusedAccess would need a second user on Windows: namedpipe's
// TestSecurityEnforced covers DACLs with a restricted token.
func refusedAccess(t *testing.T) {
	t.Log("refused access is tested on Unix; on Windows it takes a second user (namedpipe's TestSecurityEnforced)")
}

var sigterm = os.Kill

// waitNamedPipe is kernel32's WaitNamedPipeW: it says whether an instance
// of a pipe is listening without connecting to it (a one-shot server's one
// instance stays free for the client under test). x/sys has no binding.
var waitNamedPipe = windows.NewLazySystemDLL("kernel32.dll").NewProc("WaitNamedPipeW")

// serverUp reports whether something listens on the NAME argument n: a
// pipe instance is waiting for a client (WaitNamedPipe with a 1 ms time-out
// succeeds at once then, and fails at once for a name with no instance),
// or for unix:PATH, the socket file is there.
func serverUp(t *testing.T, n string) bool {
	t.Helper()
	tg, err := resolveName(n)
	if err != nil {
		t.Fatal(err)
	}
	if tg.kind == "unix" {
		_, err := os.Stat(tg.name)
		return err == nil
	}
	p := tg.name
	if !strings.HasPrefix(p, `\\`) {
		p = `\\.\pipe\` + p
	}
	u, err := windows.UTF16PtrFromString(p)
	if err != nil {
		t.Fatal(err)
	}
	r, _, _ := waitNamedPipe.Call(uintptr(unsafe.Pointer(u)), 1)
	return r != 0
}

// terminate stops a server. Windows has no SIGTERM for a child process of
// another console group, so it is killed, and its exit status is not the
// one an interrupted server gives (false).
func terminate(p *os.Process) bool { p.Kill(); return false }

// nameInUse reports whether a server listens on n.
func nameInUse(t *testing.T, n string) bool { return serverUp(t, n) }

// exampleDir is a directory for an example's files. Not t.TempDir: under
// Wine its removal fails ("unlinkat: Invalid function") once a child has
// had it as its working directory, which fails the test; here the removal
// is the best that can be done.
func exampleDir(t *testing.T) string {
	d, err := os.MkdirTemp("", "conduit-example-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func sigEarlyChild(string) {} // Unix signals only
