package namedpipe

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/hangcheck"
	"github.com/conduit-ipc/conduit/internal/stacktest"
	"golang.org/x/sys/windows"
)

// An end that cannot write has nothing to flush: Flush returns nil at once
// (FlushFileBuffers needs FILE_WRITE_DATA and failed with
// ERROR_ACCESS_DENIED), and CloseWrite, which cannot send its mark, fails
// with an error that says so and wraps ERROR_ACCESS_DENIED. The end that
// writes flushes and closes its side as usual. Fails without the fix on
// Windows (Flush: Access is denied) and under Wine (CloseWrite's error did
// not say which end cannot write).
func TestReadOnlyEndFlushCloseWrite(t *testing.T) {
	for _, dir := range []Direction{Inbound, Outbound} {
		t.Run(dir.String(), func(t *testing.T) {
			server, client := pair(t, &ListenConfig{MessageMode: true, Direction: dir})
			reader, writer := server, client
			if dir == Outbound {
				reader, writer = client, server
			}
			if err := reader.Flush(); err != nil {
				t.Errorf("Flush on the end that cannot write = %v, want nil", err)
			}
			err := reader.CloseWrite()
			if !errors.Is(err, windows.ERROR_ACCESS_DENIED) || !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), "cannot write") {
				t.Errorf("CloseWrite on the end that cannot write = %v, want an error wrapping ERROR_ACCESS_DENIED that says so", err)
			}
			done := make(chan error, 1)
			go func() {
				if _, err := writer.Write([]byte("data")); err != nil {
					done <- err
					return
				}
				done <- writer.CloseWrite() // flushes: waits for the read below
			}()
			buf := make([]byte, 16)
			if n, err := reader.Read(buf); err != nil || string(buf[:n]) != "data" {
				t.Fatalf("read %q, %v", buf[:n], err)
			}
			if err := <-done; err != nil {
				t.Fatalf("the writing end's CloseWrite = %v", err)
			}
		})
	}
}

// A client opened for reading only, of a duplex pipe, cannot write either,
// though the pipe's direction says both ends may: Flush returns nil and
// CloseWrite says it cannot write, from the handle's granted access
// (review of issue 15: the direction alone left Flush failing with
// ERROR_ACCESS_DENIED there).
func TestReadOnlyClientFlushCloseWrite(t *testing.T) {
	l, _ := listen(t, &ListenConfig{MessageMode: true})
	name16, err := windows.UTF16PtrFromString(l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	// FILE_WRITE_ATTRIBUTES: to set the handle's read mode, which a
	// message pipe's client does; no FILE_WRITE_DATA.
	h, err := windows.CreateFile(name16, windows.GENERIC_READ|windows.FILE_WRITE_ATTRIBUTES, 0, nil, windows.OPEN_EXISTING, windows.FILE_FLAG_OVERLAPPED, 0)
	if err != nil {
		t.Fatal(err)
	}
	mode := uint32(windows.PIPE_READMODE_MESSAGE)
	if err := windows.SetNamedPipeHandleState(h, &mode, nil, nil); err != nil {
		windows.CloseHandle(h)
		t.Fatal(err)
	}
	c, err := NewConn(h)
	if err != nil {
		windows.CloseHandle(h)
		t.Fatal(err)
	}
	defer c.Close()
	server, err := l.AcceptPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	if err := c.Flush(); err != nil {
		t.Errorf("Flush on a read-only client = %v, want nil", err)
	}
	err = c.CloseWrite()
	if !errors.Is(err, windows.ERROR_ACCESS_DENIED) || !strings.Contains(err.Error(), "cannot write") {
		t.Errorf("CloseWrite on a read-only client = %v, want an error wrapping ERROR_ACCESS_DENIED that says so", err)
	}
	// It still reads.
	if _, err := server.Write([]byte("data")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if n, err := c.Read(buf); err != nil || string(buf[:n]) != "data" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
}

// A peer that closes without reading what was written to it loses that
// data (Windows discards an end's unread data when the other end closes):
// Flush, which waits for the peer to read everything, says so instead of
// returning nil as for a peer that left having read it all (issue 17: the
// conduit command exited 0 after such a loss on Windows).
func TestFlushPeerClosedUnread(t *testing.T) {
	for _, read := range []bool{false, true} {
		t.Run(fmt.Sprint("read=", read), func(t *testing.T) {
			server, client := pair(t, nil)
			if _, err := server.Write([]byte("unread data")); err != nil {
				t.Fatal(err)
			}
			if read {
				buf := make([]byte, 64)
				if n, err := client.Read(buf); err != nil || n != len("unread data") {
					t.Fatalf("read %d, %v", n, err)
				}
			}
			if !read {
				skipOnWine(t, "FlushFileBuffers returns success when the peer closes with data unread, and WriteQuotaAvailable always reads 0")
			}
			done := make(chan error, 1)
			go func() { done <- server.Flush() }()
			if !read {
				// Close the client while the flush waits in
				// FlushFileBuffers: before that, closing would discard
				// the data before Flush could see it queued.
				stacktest.WaitParked(t, 1, "namedpipe.(*Conn).Flush(", "syscall.SyscallN(", "syscall.Syscall(", "windows.FlushFileBuffers(")
				client.Close()
			}
			var err error
			hangcheck.Within(t, 20*time.Second, "Flush", func() { err = <-done })
			if read {
				if err != nil {
					t.Fatalf("Flush after the peer read everything = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, windows.ERROR_BROKEN_PIPE) || !strings.Contains(err.Error(), "unread") {
				t.Fatalf("Flush after the peer closed with data unread = %v, want an error wrapping ERROR_BROKEN_PIPE that says data was unread", err)
			}
		})
	}
}
