package namedpipe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"unicode/utf16"
)

// Entry is one pipe on the machine, as List reports it.
type Entry struct {
	Name         string // the part after \\.\pipe\
	Instances    int    // instances that exist now, connected or listening
	MaxInstances int    // 0 for unlimited
}

// Path returns the entry's \\.\pipe\ path.
func (e Entry) Path() string { return `\\.\pipe\` + e.Name }

// FILE_DIRECTORY_INFORMATION (ntifs.h), as the named-pipe file system fills
// it: EndOfFile holds the current instances and AllocationSize the maximum
// (-1 for unlimited), which is what Sysinternals' PipeList shows.
const (
	dirNextEntryOffset = 0
	dirEndOfFile       = 40
	dirAllocationSize  = 48
	dirFileNameLength  = 60
	dirFileName        = 64
)

var errBadRecord = errors.New("malformed FILE_DIRECTORY_INFORMATION record")

// parseDirectory appends the entries of one NtQueryDirectoryFile buffer of
// FILE_DIRECTORY_INFORMATION records to list. It checks every offset and
// length against the buffer.
func parseDirectory(list []Entry, buf []byte) ([]Entry, error) {
	le := binary.LittleEndian
	for off := 0; ; {
		if off+dirFileName > len(buf) {
			return list, fmt.Errorf("%w: record at %d runs past the %d-byte buffer", errBadRecord, off, len(buf))
		}
		rec := buf[off:]
		next := int(le.Uint32(rec[dirNextEntryOffset:]))
		nameLen := int(le.Uint32(rec[dirFileNameLength:]))
		if nameLen%2 != 0 || dirFileName+nameLen > len(rec) || next != 0 && next < dirFileName+nameLen {
			return list, fmt.Errorf("%w: record at %d: name of %d bytes, next at +%d", errBadRecord, off, nameLen, next)
		}
		name := make([]uint16, nameLen/2)
		for i := range name {
			name[i] = le.Uint16(rec[dirFileName+2*i:])
		}
		e := Entry{
			Name:         string(utf16.Decode(name)),
			Instances:    int(int64(le.Uint64(rec[dirEndOfFile:]))),
			MaxInstances: int(int64(le.Uint64(rec[dirAllocationSize:]))),
		}
		if e.MaxInstances < 0 {
			e.MaxInstances = 0
		}
		list = append(list, e)
		if next == 0 {
			return list, nil
		}
		off += next
	}
}
