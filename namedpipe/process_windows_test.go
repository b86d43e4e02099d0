package namedpipe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/handles"
	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/winsec"
	"golang.org/x/sys/windows"
)

func TestChildProcessEcho(t *testing.T) {
	l, name := listen(t, nil)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=echo "+name)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c, err := l.AcceptPipe()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	n, err := c.Read(buf)
	if err != nil {
		t.Fatalf("read from child: %v (child stderr: %s)", err, stderr.String())
	}
	want := fmt.Sprintf("PING from %d server ", cmd.Process.Pid)
	if !strings.HasPrefix(string(buf[:n]), want) {
		t.Fatalf("child replied %q, want %q", buf[:n], want)
	}
	c.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v (stderr: %s)", err, stderr.String())
	}
}

func TestHTTPOverPipe(t *testing.T) {
	l, name := listen(t, nil)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Path)
	})}
	go srv.Serve(l)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return Dial(ctx, name)
		},
	}}
	defer client.CloseIdleConnections()
	for _, path := range []string{"/a", "/b", "/c"} {
		resp, err := client.Get("http://pipe" + path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(body) != "hello "+path {
			t.Fatalf("GET %s = %q, %v", path, body, err)
		}
	}
}

// TestCmdWritesToPipe has a program nobody here wrote, cmd.exe, write into
// the pipe.
func TestCmdWritesToPipe(t *testing.T) {
	l, name := listen(t, nil)
	cmd := exec.Command("cmd.exe", "/c", `echo conduit-says-hi> \\.\pipe\`+name)
	out := make(chan []byte, 1)
	go func() {
		c, err := l.AcceptPipe()
		if err != nil {
			out <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		out <- b
	}()
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("cmd: %v: %s", err, b)
	}
	got := <-out
	if strings.TrimSpace(string(got)) != "conduit-says-hi" {
		t.Fatalf("read %q from cmd.exe", got)
	}
}

func handleCount(t *testing.T) int {
	n, err := handles.Owned()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestNoLeaks runs 1,000 dial/accept/close cycles and checks that handles
// and goroutines come back to where they began.
func TestNoLeaks(t *testing.T) {
	l, name := listen(t, nil)
	// Warm up: the completion port, the pipe root, the pools.
	cycle := func() {
		c, err := Dial(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		s, err := l.AcceptPipe()
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("x"))
		s.Read(make([]byte, 1))
		c.Close()
		s.Close()
	}
	cycle()
	handles, goroutines := handleCount(t), runtime.NumGoroutine()
	threads, err := nt.ThreadCount()
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000; i++ {
		cycle()
	}
	// The goroutine that handed the last connection to Accept may still be
	// returning: yield to it, within a bound.
	for deadline := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > goroutines && time.Now().Before(deadline); {
		runtime.Gosched()
	}
	// Go's runtime keeps 4 handles for each OS thread it starts (two
	// events, the thread's handle and a timer: runtime/os_windows.go), and
	// a few are made once, on first need (the fast path's events and timers;
	// Wine's own per-thread objects): 16 more are allowed. A handle leaked
	// per cycle would be 1000 more.
	nowThreads, err := nt.ThreadCount()
	if err != nil {
		t.Fatal(err)
	}
	if h, allowed := handleCount(t), handles+4*max(nowThreads-threads, 0)+16; h > allowed {
		t.Errorf("handles: %d before, %d after 1000 cycles (allowed %d)", handles, h, allowed)
	}
	if g := runtime.NumGoroutine(); g > goroutines {
		t.Errorf("goroutines: %d before, %d after 1000 cycles", goroutines, g)
	}
	l.Close()
}

// TestDefaultSecurity reads back the pipe's descriptor: the owner and a
// protected DACL with exactly the current user and LocalSystem.
func TestDefaultSecurity(t *testing.T) {
	_, client := pair(t, nil)
	sd, err := windows.GetSecurityInfo(client.f.Handle(), windows.SE_KERNEL_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		t.Fatal(err)
	}
	user, err := winsec.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner.String() != user {
		t.Errorf("owner %v, %v; want %s", owner, err, user)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		t.Fatalf("DACL %v, %v", dacl, err)
	}
	var sids []string
	for i := uint32(0); i < uint32(dacl.AceCount); i++ {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			t.Fatal(err)
		}
		if ace.Header.AceType != windows.ACCESS_ALLOWED_ACE_TYPE {
			t.Errorf("ACE %d has type %d", i, ace.Header.AceType)
		}
		sid := (*windows.SID)(unsafe.Pointer(&ace.SidStart))
		sids = append(sids, sid.String())
	}
	want := []string{user, "S-1-5-18"}
	if user == "S-1-5-18" {
		want = want[:1]
	}
	if strings.Join(sids, ",") != strings.Join(want, ",") {
		t.Errorf("DACL grants %v, want exactly %v (SDDL %s)", sids, want, sd)
	}
	ctl, _, err := sd.Control()
	if err != nil || ctl&windows.SE_DACL_PROTECTED == 0 {
		t.Errorf("DACL not protected: control %#x, %v", ctl, err)
	}
}

// TestListenFileCreateEnforced checks Windows' own FILE_CREATE guard, without
// our existence check: creating a first instance of a name in use fails.
func TestListenFileCreateEnforced(t *testing.T) {
	skipOnWine(t, "FILE_CREATE is not enforced for named pipes: a second server with the same name succeeds")
	l, _ := listen(t, nil)
	_, err := l.create(windows.FILE_CREATE)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("FILE_CREATE of a name in use = %v, want fs.ErrExist", err)
	}
}
