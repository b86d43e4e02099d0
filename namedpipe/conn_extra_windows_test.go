package namedpipe

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/stacktest"
	"golang.org/x/sys/windows"
)

// An empty Write sends nothing, on a message pipe too: fmt.Fprint(c, "")
// must not send the zero-length message that ends the peer's stream.
// WriteMessage sends an empty message when asked to.
func TestEmptyWrite(t *testing.T) {
	server, client := pair(t, &ListenConfig{MessageMode: true})
	if n, err := fmt.Fprint(client, ""); n != 0 || err != nil {
		t.Fatalf("Fprint of nothing = %d, %v", n, err)
	}
	if _, err := client.Write([]byte("after")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 16)
	if n, err := server.Read(buf); err != nil || string(buf[:n]) != "after" {
		t.Fatalf("Read = %q, %v; want the message after the empty Write, not EOF", buf[:n], err)
	}
	if err := client.WriteMessage(nil); err != nil {
		t.Fatal(err)
	}
	if m, err := server.ReadMessage(); err != nil || m == nil || len(m) != 0 {
		t.Fatalf("ReadMessage = %q (nil %v), %v; want an empty message", m, m == nil, err)
	}
	_, bc := pair(t, nil)
	if err := bc.WriteMessage([]byte("x")); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("WriteMessage on a byte pipe = %v, want errors.ErrUnsupported", err)
	}
}

// Both ends: a second Close reports net.ErrClosed.
func TestCloseTwice(t *testing.T) {
	server, client := pair(t, nil)
	for _, c := range []*Conn{client, server} {
		if err := c.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := c.Close(); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("second Close = %v, want net.ErrClosed", err)
		}
	}
}

// Transact cannot run beside a Read (the pipe allows no other read during a
// transaction, and the Read may be waiting for the very reply): it fails at
// once with ErrBusy instead of deadlocking.
func TestTransactBusy(t *testing.T) {
	server, client := pair(t, &ListenConfig{MessageMode: true})
	readDone := make(chan error, 1)
	go func() {
		_, err := client.Read(make([]byte, 16))
		readDone <- err
	}()
	stacktest.WaitParked(t, 1, "namedpipe.(*Conn).Read(", parkedFrames...)
	if _, err := client.Transact(t.Context(), []byte("req")); !errors.Is(err, ErrBusy) {
		t.Fatalf("Transact beside a pending Read = %v, want ErrBusy", err)
	}
	server.Write([]byte("for the read"))
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	// With the Read done, a transaction goes through.
	go func() {
		if m, err := server.ReadMessage(); err == nil {
			server.Write(bytes.ToUpper(m))
		}
	}()
	if r, err := client.Transact(t.Context(), []byte("req")); err != nil || string(r) != "REQ" {
		t.Fatalf("Transact = %q, %v", r, err)
	}
}

// Conn.SyscallConn hands out the handle without detaching it.
func TestConnSyscallConn(t *testing.T) {
	_, client := pair(t, &ListenConfig{MessageMode: true})
	var sc syscall.Conn = client
	rc, err := sc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	checkRawConn(t, rc, client.Close, false)
}

// checkRawConn checks what a pipe's syscall.RawConn offers: Control gives a
// handle of a message pipe's server or client end, which GetNamedPipeInfo
// answers for; Read and Write are unsupported; after close (which closes
// what rc is of), Control fails with net.ErrClosed.
func checkRawConn(t *testing.T, rc syscall.RawConn, close func() error, server bool) {
	t.Helper()
	var flags uint32
	var infoErr error
	if err := rc.Control(func(fd uintptr) {
		infoErr = windows.GetNamedPipeInfo(windows.Handle(fd), &flags, nil, nil, nil)
	}); err != nil || infoErr != nil {
		t.Fatalf("Control: %v, GetNamedPipeInfo: %v", err, infoErr)
	}
	if flags&windows.PIPE_SERVER_END != 0 != server || flags&windows.PIPE_TYPE_MESSAGE == 0 {
		t.Fatalf("GetNamedPipeInfo flags %#x, want a message pipe's end (server %v)", flags, server)
	}
	if err := rc.Read(func(uintptr) bool { return true }); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Read = %v, want errors.ErrUnsupported", err)
	}
	if err := rc.Write(func(uintptr) bool { return true }); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Write = %v, want errors.ErrUnsupported", err)
	}
	close()
	if err := rc.Control(func(uintptr) {}); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Control after close = %v, want net.ErrClosed", err)
	}
}

// rawPair makes a pipe with CreateNamedPipe and CreateFile, as another
// program would, and returns its handles.
func rawPair(t *testing.T, message bool, clientFlags uint32, inherit bool) (name string, server, client windows.Handle) {
	t.Helper()
	name = `\\.\pipe\` + testPipe(t)
	p, _ := windows.UTF16PtrFromString(name)
	mode := uint32(windows.PIPE_TYPE_BYTE | windows.PIPE_READMODE_BYTE)
	if message {
		mode = windows.PIPE_TYPE_MESSAGE | windows.PIPE_READMODE_MESSAGE
	}
	sh, err := windows.CreateNamedPipe(p, windows.PIPE_ACCESS_DUPLEX|windows.FILE_FLAG_OVERLAPPED, mode, 1, 4096, 4096, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	sa := &windows.SecurityAttributes{InheritHandle: 1}
	sa.Length = uint32(unsafe.Sizeof(*sa))
	if !inherit {
		sa = nil
	}
	ch, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, sa, windows.OPEN_EXISTING, clientFlags, 0)
	if err != nil {
		windows.CloseHandle(sh)
		t.Fatal(err)
	}
	return name, sh, ch
}

// NewConn adopts handles that conduit did not open: here both ends of a
// pipe made with CreateNamedPipe and CreateFile.
func TestNewConn(t *testing.T) {
	name, sh, ch := rawPair(t, true, windows.FILE_FLAG_OVERLAPPED, false)
	server, err := NewConn(sh)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	// The client end is in byte read mode until told otherwise: set it
	// to message, as a client of a message pipe would.
	m := uint32(windows.PIPE_READMODE_MESSAGE)
	if err := windows.SetNamedPipeHandleState(ch, &m, nil, nil); err != nil {
		t.Fatal(err)
	}
	client, err := NewConn(ch)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	if !server.server || client.server || !server.message || !client.message {
		t.Fatalf("server end %v/%v message %v/%v; want a server and a client end, both reading messages",
			server.server, client.server, server.message, client.message)
	}
	if !strings.EqualFold(server.LocalAddr().String(), name) {
		t.Errorf("Addr %q, want %q", server.LocalAddr(), name)
	}
	go client.Write([]byte("adopted"))
	if got, err := server.ReadMessage(); err != nil || string(got) != "adopted" {
		t.Fatalf("ReadMessage = %q, %v", got, err)
	}
	if _, err := server.ClientProcessID(); err != nil {
		t.Errorf("ClientProcessID of an adopted server end: %v", err)
	}
}

// NewConn refuses what it cannot drive, and leaves the handle to the caller.
func TestNewConnRefuses(t *testing.T) {
	_, sh, ch := rawPair(t, false, 0, false) // a synchronous client end
	defer windows.CloseHandle(sh)
	if _, err := NewConn(ch); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("NewConn of a synchronous handle = %v, want errors.ErrUnsupported", err)
	}
	if err := windows.CloseHandle(ch); err != nil {
		t.Errorf("the refused handle was not left open: %v", err)
	}
	f, err := os.CreateTemp("", "conduit-newconn")
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	var oe *net.OpError
	if _, err := NewConn(windows.Handle(f.Fd())); !errors.As(err, &oe) {
		t.Errorf("NewConn of a file = %v, want a *net.OpError", err)
	}
}

// A child process adopts a pipe end it inherited, the way a service hands a
// connection to its successor: the parent keeps the other end and talks to
// the child through it.
func TestNewConnInherited(t *testing.T) {
	_, sh, ch := rawPair(t, false, windows.FILE_FLAG_OVERLAPPED, true)
	server, err := NewConn(sh)
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=adopt "+strconv.FormatUint(uint64(ch), 10))
	cmd.SysProcAttr = &syscall.SysProcAttr{AdditionalInheritedHandles: []syscall.Handle{syscall.Handle(ch)}}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	windows.CloseHandle(ch) // the child has its own now
	if _, err := server.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	n, err := server.Read(buf)
	if err != nil {
		t.Fatalf("read from the child: %v (stderr: %s)", err, stderr.String())
	}
	if want := fmt.Sprintf("PING from %d server ", cmd.Process.Pid); !strings.HasPrefix(string(buf[:n]), want) {
		t.Fatalf("child replied %q, want %q", buf[:n], want)
	}
	server.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v (stderr: %s)", err, stderr.String())
	}
}
