package main

import (
	"os"
	"testing"

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
