package ipc

// Attacks on ipc's Windows side (issue 16, items 2 and 6): a read deadline
// in the middle of a message, and a handle value pushed by a peer that
// could not have put a handle in this process.

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// A read deadline that passes between the reads of one long message leaves
// the Conn where it was: the next ReadMessage returns the whole message,
// never its rest as a message of its own (which namedpipe's ReadMessage,
// which ipc used before, documents that it does).
func TestReadMessageDeadlineMidMessageWindows(t *testing.T) {
	server, client := pair(t, &Config{MessageMode: true})
	want := bytes.Repeat([]byte("0123456789"), 100<<10) // 1 MiB: many reads
	go func() {
		client.WriteMessage(want)
		client.WriteMessage([]byte("next"))
	}()
	fired := false
	testHookMidMessage = func(c *Conn) {
		if !fired {
			fired = true
			c.SetReadDeadline(time.Now().Add(-time.Second))
		}
	}
	defer func() { testHookMidMessage = nil }()
	if m, err := server.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadMessage, its deadline passing mid-message = %d bytes, %v; want os.ErrDeadlineExceeded", len(m), err)
	}
	server.SetReadDeadline(time.Now().Add(watchdog))
	if m, err := server.ReadMessage(); err != nil || !bytes.Equal(m, want) {
		t.Fatalf("ReadMessage after the deadline moved = %d bytes, %v; want the whole message of %d", len(m), err, len(want))
	}
	if m, err := server.ReadMessage(); err != nil || string(m) != "next" {
		t.Fatalf("then ReadMessage = %q, %v; want \"next\"", m, err)
	}
}

// pushVerdict refuses a peer below this process's integrity (the same user
// unelevated, against an elevated process: item 6) and one in an
// AppContainer.
func TestPushVerdict(t *testing.T) {
	const medium, high = 0x2000, 0x3000
	for _, c := range []struct {
		il, self  uint32
		container bool
		ok        bool
	}{
		{high, high, false, true},
		{0x4000, high, false, true}, // System
		{medium, high, false, false},
		{medium, medium, true, false},
		{0x1000, medium, false, false},
	} {
		err := pushVerdict("S-1-5-21-1-2-3-1000", c.il, c.self, c.container)
		if c.ok != (err == nil) || (err != nil && !errors.Is(err, fs.ErrPermission)) {
			t.Errorf("integrity %#x against %#x, AppContainer %v: %v", c.il, c.self, c.container, err)
		}
	}
}

// A server of this user at low integrity, which cannot open this (medium)
// process, sends a file item whose handle value is one of this process's
// own handles: ReadMessage must refuse it, never wrap the handle as a
// received file, and Close must not close it. Before the fix only the
// user was compared, and the value was taken as a handle the peer had
// given. (Medium against elevated is the same rule; a test cannot elevate.
// Here the lower side is the server because a low-integrity client could
// not open a medium process's pipe at all.)
func TestPushFromLowerIntegrity(t *testing.T) {
	own, err := os.Open(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	defer own.Close()
	h := windows.Handle(own.Fd())
	name := testName()
	tok, err := lowIntegrityToken()
	if err != nil {
		if nt.Wine() {
			t.Skipf("wine: a token's integrity level cannot be lowered (%v); on Windows it can", err)
		}
		t.Fatal(err)
	}
	defer tok.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("%s=lowserver %s %d", childEnv, name, uint64(h)))
	cmd.SysProcAttr = &syscall.SysProcAttr{Token: syscall.Token(tok)}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	cfg := Config{MessageMode: true, WaitForServer: true}
	ctx, cancel := context.WithTimeout(t.Context(), watchdog)
	defer cancel()
	c, err := cfg.Dial(ctx, name)
	if err != nil {
		cmd.Process.Kill()
		t.Fatalf("Dial: %v (the child: %s)", err, stderr.String())
	}
	c.SetReadDeadline(time.Now().Add(watchdog))
	m, err := c.ReadMessage()
	if err == nil && string(m) == "not low" {
		c.Close()
		if nt.Wine() {
			t.Skip("wine: the child's token kept its integrity level; on Windows it is low")
		}
		t.Fatal("the child runs above low integrity")
	}
	if err != nil || string(m) != "" {
		t.Fatalf("the child's first message = %q, %v; want its file item", m, err)
	}
	m, err = c.ReadMessage()
	if !errors.Is(err, fs.ErrPermission) {
		if f, ferr := c.ReceiveFile(); ferr == nil {
			f.Close() // closes this process's own handle: h is gone now
			t.Fatalf("a file item from a lower integrity level was taken: ReadMessage = %v, and ReceiveFile wrapped this process's handle %#x", err, h)
		}
		t.Fatalf("ReadMessage of a file item from a lower integrity level = %q, %v; want fs.ErrPermission", m, err)
	}
	c.Close()
	if _, err := windows.GetFileType(h); err != nil {
		t.Fatalf("this process's handle %#x was closed: %v", h, err)
	}
}

// Integrity levels (winnt.h's SECURITY_MANDATORY_*_RID).
const (
	lowRID    = 0x1000
	mediumRID = 0x2000
)

func init() { osChildren = append(osChildren, lowServerChild) }

// lowServerChild plays "lowserver NAME HANDLE": it listens on NAME in
// message mode and sends its client a file item of HANDLE's value, raw:
// first a message saying whether it runs at low integrity ("" if so), then
// the item; then it waits for the client to leave.
func lowServerChild(args []string) (int, bool) {
	if args[0] != "lowserver" {
		return 0, false
	}
	fail := func(what string, err error) (int, bool) {
		fmt.Fprintln(os.Stderr, "lowserver", what+":", err)
		return 2, true
	}
	v, err := strconv.ParseUint(args[2], 10, 64)
	if err != nil {
		return fail("handle", err)
	}
	cfg := Config{MessageMode: true}
	l, err := cfg.Listen(args[1])
	if err != nil {
		return fail("listen", err)
	}
	defer l.Close()
	c, err := l.AcceptIPC()
	if err != nil {
		return fail("accept", err)
	}
	defer c.Close()
	first := ""
	if il, err := integrity(windows.GetCurrentProcessToken()); err != nil || il >= mediumRID {
		first = "not low"
	}
	if err := c.WriteMessage([]byte(first)); err != nil {
		return fail("write", err)
	}
	item := make([]byte, fileSize)
	item[0] = msgFile
	binary.LittleEndian.PutUint64(item[1:], v)
	if err := c.pc.WriteMessage(item); err != nil {
		return fail("write the item", err)
	}
	c.SetReadDeadline(time.Now().Add(watchdog))
	c.ReadMessage() // until the client leaves
	return 0, true
}

// lowIntegrityToken returns a primary token of this process's, lowered to
// low integrity (as in Microsoft's "Designing Applications to Run at a Low
// Integrity Level": a restricted version of the caller's own token, which
// CreateProcessAsUser takes without privileges).
func lowIntegrityToken() (windows.Token, error) {
	var self windows.Token
	if err := windows.OpenProcessToken(windows.CurrentProcess(), windows.TOKEN_DUPLICATE|windows.TOKEN_QUERY|windows.TOKEN_ADJUST_DEFAULT|windows.TOKEN_ASSIGN_PRIMARY, &self); err != nil {
		return 0, err
	}
	defer self.Close()
	var tok windows.Token
	if err := windows.DuplicateTokenEx(self, 0, nil, windows.SecurityImpersonation, windows.TokenPrimary, &tok); err != nil {
		return 0, err
	}
	low, err := windows.CreateWellKnownSid(windows.WinLowLabelSid)
	if err != nil {
		tok.Close()
		return 0, err
	}
	tml := windows.Tokenmandatorylabel{Label: windows.SIDAndAttributes{Sid: low, Attributes: windows.SE_GROUP_INTEGRITY}}
	if err := windows.SetTokenInformation(tok, windows.TokenIntegrityLevel, (*byte)(unsafe.Pointer(&tml)), tml.Size()); err != nil {
		tok.Close()
		return 0, err
	}
	if il, err := integrity(tok); err != nil || il != lowRID {
		tok.Close()
		return 0, fmt.Errorf("the token's integrity level reads %#x, %v after it was set low", il, err)
	}
	return tok, nil
}
