package namedpipe

import (
	"errors"
	"reflect"
	"testing"
)

// FuzzParseDirectory feeds parseDirectory what a file system might return
// for NtQueryDirectoryFile. It must never read past the buffer or loop, and
// what it accepts must make sense: no more entries than FILE_DIRECTORY_INFORMATION
// records fit in the buffer, no negative counts, and the entries written
// back as records (as list_test.go's record does) parse to themselves.
// Anything else is errBadRecord.
func FuzzParseDirectory(f *testing.F) {
	f.Add([]byte{})
	f.Add(record("pipe", 1, 4, true))
	f.Add(append(record("InitShutdown", 3, 0xFFFFFFFF, false), record(`a\b ünï`, 0, 1, true)...))
	f.Add(record("signed", 2, -1, true))
	f.Add(append(record("x", 1, 1, false), 0, 0, 0))
	f.Add(record("", 0, 0, true))
	// Counts past 2^31-1 were negative Instances on windows/386; they are
	// refused now, on every platform alike.
	f.Add(record("x", 0x80000000, 0x80000001, true))
	f.Fuzz(func(t *testing.T, buf []byte) {
		got, err := parseDirectory(nil, buf)
		if err != nil {
			if !errors.Is(err, errBadRecord) {
				t.Fatalf("parseDirectory: %v, not errBadRecord", err)
			}
			// The entries before the bad record are kept: callers fail
			// the whole listing anyway.
		}
		if len(got) > len(buf)/dirFileName {
			t.Fatalf("%d entries from %d bytes: records are at least %d bytes", len(got), len(buf), dirFileName)
		}
		var again []byte
		for i, e := range got {
			if e.Instances < 0 || e.MaxInstances < 0 {
				t.Fatalf("entry %d: %+v has a negative count", i, e)
			}
			again = append(again, record(e.Name, int64(e.Instances), int64(e.MaxInstances), i == len(got)-1)...)
		}
		if err != nil || len(got) == 0 {
			return
		}
		back, err := parseDirectory(nil, again)
		if err != nil || !reflect.DeepEqual(back, got) {
			t.Fatalf("entries %+v, written back as records, parse to %+v, %v", got, back, err)
		}
	})
}
