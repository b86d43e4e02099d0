package namedpipe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/quirks"
	"golang.org/x/sys/windows"
)

// A local pipe's ends take the engine's fast path; a client of the same pipe
// reached through \\localhost\pipe\, that is through the SMB redirector,
// takes none: a remote read that outlasts the fast path would be cancelled
// and wait for the server's answer to the cancel. The name decides, and so
// does the handle's device (FILE_REMOTE_DEVICE) for NewConn's handles.
func TestRemoteNoFastPath(t *testing.T) {
	server, client := pair(t, &ListenConfig{AllowRemoteClients: true})
	for _, c := range []*Conn{server, client} {
		if remote, err := nt.Remote(c.f.Handle()); err != nil || remote {
			t.Fatalf("a local pipe's end reads as remote: %v, %v", remote, err)
		}
		if r, w := c.f.FastPath(); !r || w != quirks.StatusBeforeDequeue() {
			t.Fatalf("a local pipe's end: fast path for reads %v, writes %v; want reads, and writes only where a status is written before its packet is dequeued", r, w)
		}
	}

	skipOnWine(t, `\\localhost\pipe\ fails (ERROR_PATH_NOT_FOUND): Wine has no SMB redirector`)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	l, _ := listen(t, &ListenConfig{AllowRemoteClients: true})
	rname := strings.Replace(string(l.Addr().(Addr)), `\\.\`, `\\localhost\`, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			defer c.Close()
			buf := make([]byte, 5)
			if n, err := c.Read(buf); err == nil {
				c.Write(buf[:n])
			}
		}
	}()
	rc, err := Dial(ctx, rname)
	switch {
	case errors.Is(err, windows.ERROR_BAD_NETPATH), errors.Is(err, windows.ERROR_BAD_NET_NAME), errors.Is(err, windows.ERROR_PATH_NOT_FOUND):
		t.Skipf("no SMB server to reach \\\\localhost through here (%v)", err)
	case err != nil:
		t.Fatalf("Dial %s: %v", rname, err)
	}
	defer rc.Close()
	if remote, err := nt.Remote(rc.f.Handle()); err != nil || !remote {
		t.Errorf("a \\\\localhost pipe's handle reads as local: %v, %v", remote, err)
	}
	if r, w := rc.f.FastPath(); r || w {
		t.Errorf("a \\\\localhost client has the fast path (reads %v, writes %v)", r, w)
	}
	if _, err := rc.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if n, err := rc.Read(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("echo through the redirector: %q, %v", buf[:n], err)
	}
}
