package namedpipe

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

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
