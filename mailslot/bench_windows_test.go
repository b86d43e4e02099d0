package mailslot

import (
	"bytes"
	"fmt"
	"testing"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// BenchmarkMessages reads 100-byte messages that one writer sends as fast as
// it can: Slot.ReadMessage against a raw synchronous ReadFile loop on a
// slot created with FILE_SYNCHRONOUS_IO_NONALERT, in the same run.
func BenchmarkMessages(b *testing.B) {
	msg := bytes.Repeat([]byte("m"), 100)
	write := func(b *testing.B, name string, n int) chan error {
		done := make(chan error, 1)
		go func() {
			w, err := Open(name)
			if err != nil {
				done <- err
				return
			}
			defer w.Close()
			for range n {
				if _, err := w.Write(msg); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
		return done
	}
	b.Run("Slot.ReadMessage", func(b *testing.B) {
		s, name := create(b, nil)
		b.ResetTimer()
		done := write(b, name, b.N)
		for range b.N {
			if _, err := s.ReadMessage(); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("Slot.Read", func(b *testing.B) {
		s, name := create(b, nil)
		buf := make([]byte, 64<<10)
		b.ResetTimer()
		done := write(b, name, b.N)
		for range b.N {
			if _, err := s.Read(buf); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
	b.Run("raw-sync-ReadFile", func(b *testing.B) {
		name := testName(b)
		p, _ := windows.NewNTUnicodeString(`\??\mailslot\` + name)
		oa := windows.OBJECT_ATTRIBUTES{ObjectName: p, Attributes: windows.OBJ_CASE_INSENSITIVE}
		oa.Length = uint32(unsafe.Sizeof(oa))
		var h windows.Handle
		var iosb windows.IO_STATUS_BLOCK
		forever := int64(-1)
		if err := nt.NtCreateMailslotFile(&h, windows.GENERIC_READ|windows.SYNCHRONIZE, &oa, &iosb,
			windows.FILE_SYNCHRONOUS_IO_NONALERT, 0, 0, &forever); err != nil {
			b.Fatal(fmt.Errorf("NtCreateMailslotFile: %w", err))
		}
		defer windows.CloseHandle(h)
		// Wine reads NtCreateMailslotFile's -1 ("forever") as a tiny
		// timeout; SetMailslotInfo's encoding is the same on both.
		if err := nt.SetMailslotInfo(h, nt.MAILSLOT_WAIT_FOREVER); err != nil {
			b.Fatal(err)
		}
		buf := make([]byte, 64<<10)
		b.ResetTimer()
		done := write(b, name, b.N)
		for range b.N {
			var n uint32
			if err := windows.ReadFile(h, buf, &n, nil); err != nil {
				b.Fatal(err)
			}
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	})
}
