package namedpipe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
// it for each pipe: EndOfFile holds the current instances and AllocationSize
// the maximum, which is what Sysinternals' PipeList shows. Both are ULONGs
// in the pipe's FCB, stored zero-extended into the LARGE_INTEGER fields
// (ReactOS's npfs, NpfsQueryDirectory: "AllocationSize.LowPart =
// PipeFcb->MaximumInstances"), so an unlimited pipe, created with -1,
// reports 0xFFFFFFFF in the low half, not -1 in the whole.
const (
	dirNextEntryOffset = 0
	dirEndOfFile       = 40
	dirAllocationSize  = 48
	dirFileNameLength  = 60
	dirFileName        = 64
)

// unlimitedInstances is MaximumInstances for a pipe with no limit, as
// NtCreateNamedPipeFile takes it and the file system reports it.
const unlimitedInstances = 0xFFFFFFFF

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
		// Only the low halves carry the counts; a file system that
		// sign-extended them would read the same.
		cur, max := le.Uint32(rec[dirEndOfFile:]), le.Uint32(rec[dirAllocationSize:])
		if max == unlimitedInstances {
			max = 0
		}
		// No pipe has 2^31 instances; such a count would be negative in
		// a 32-bit int.
		if cur > math.MaxInt32 || max > math.MaxInt32 {
			return list, fmt.Errorf("%w: record at %d: %d instances of %d", errBadRecord, off, cur, max)
		}
		list = append(list, Entry{Name: string(utf16.Decode(name)), Instances: int(cur), MaxInstances: int(max)})
		if next == 0 {
			return list, nil
		}
		off += next
	}
}
