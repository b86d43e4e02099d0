package namedpipe

import (
	"encoding/binary"
	"errors"
	"reflect"
	"testing"
	"unicode/utf16"
)

// record builds one FILE_DIRECTORY_INFORMATION record, 8-byte aligned.
func record(name string, cur, max int64, last bool) []byte {
	u := utf16.Encode([]rune(name))
	n := (dirFileName + 2*len(u) + 7) &^ 7
	b := make([]byte, n)
	le := binary.LittleEndian
	if !last {
		le.PutUint32(b[dirNextEntryOffset:], uint32(n))
	}
	le.PutUint64(b[dirEndOfFile:], uint64(cur))
	le.PutUint64(b[dirAllocationSize:], uint64(max))
	le.PutUint32(b[dirFileNameLength:], uint32(2*len(u)))
	for i, c := range u {
		le.PutUint16(b[dirFileName+2*i:], c)
	}
	return b
}

func TestParseDirectory(t *testing.T) {
	var buf []byte
	// The file system stores the maximum, a ULONG, zero-extended: an
	// unlimited pipe (created with -1) reads 0xFFFFFFFF. A sign-extended
	// -1 means unlimited too.
	buf = append(buf, record("InitShutdown", 3, 0xFFFFFFFF, false)...)
	buf = append(buf, record(`docker_engine`, 1, 254, false)...)
	buf = append(buf, record("signed", 2, -1, false)...)
	buf = append(buf, record(`a\b ünï`, 0, 1, true)...)
	got, err := parseDirectory(nil, buf)
	if err != nil {
		t.Fatal(err)
	}
	want := []Entry{{"InitShutdown", 3, 0}, {"docker_engine", 1, 254}, {"signed", 2, 0}, {`a\b ünï`, 0, 1}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("parseDirectory = %+v, want %+v", got, want)
	}
	if got[1].Path() != `\\.\pipe\docker_engine` {
		t.Errorf("Path = %q", got[1].Path())
	}
	// Appends to what earlier buffers gave.
	more, err := parseDirectory(got, record("x", 1, 1, true))
	if err != nil || len(more) != 5 || more[4].Name != "x" {
		t.Fatalf("second buffer: %+v, %v", more, err)
	}
}

func TestParseDirectoryMalformed(t *testing.T) {
	good := record("name", 1, 1, true)
	le := binary.LittleEndian
	cases := map[string][]byte{
		"empty":     {},
		"truncated": good[:dirFileName-1],
		"name past the end": func() []byte {
			b := append([]byte(nil), good...)
			le.PutUint32(b[dirFileNameLength:], 1000)
			return b
		}(),
		"odd name length": func() []byte {
			b := append([]byte(nil), good...)
			le.PutUint32(b[dirFileNameLength:], 3)
			return b
		}(),
		"next inside the record": func() []byte {
			b := append([]byte(nil), good...)
			le.PutUint32(b[dirNextEntryOffset:], 8)
			return b
		}(),
		"next past the end": func() []byte {
			b := append([]byte(nil), good...)
			le.PutUint32(b[dirNextEntryOffset:], uint32(len(b)))
			return b
		}(),
	}
	for name, buf := range cases {
		if _, err := parseDirectory(nil, buf); !errors.Is(err, errBadRecord) {
			t.Errorf("%s: err = %v, want errBadRecord", name, err)
		}
	}
}
