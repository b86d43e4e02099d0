package handles

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/windows"
)

//sys	ntQueryObject(h windows.Handle, class uint32, info unsafe.Pointer, size uint32, ret *uint32) (ntstatus error) = ntdll.NtQueryObject

// objectTypeInformation is OBJECT_INFORMATION_CLASS's ObjectTypeInformation
// (winternl.h, ntifs.h): NtQueryObject then writes a
// PUBLIC_OBJECT_TYPE_INFORMATION, whose first member is the type's name as
// a UNICODE_STRING pointing into the same buffer.
const objectTypeInformation = 2

// Handle is one of the process's handles.
type Handle struct {
	Value  windows.Handle
	Type   string // the object type's name ("Event", "File", "Thread", ...), or "?" if it could not be read
	Access uint32 // the access granted to the handle
}

func (h Handle) String() string {
	return fmt.Sprintf("%#x %s (access %#x)", uintptr(h.Value), h.Type, h.Access)
}

// Set is the process's handles at one moment, by value.
type Set map[windows.Handle]Handle

// List returns the current process's handles, read from the system's
// handle table (NtQuerySystemInformation(SystemExtendedHandleInformation),
// which Wine 8 implements, where GetProcessHandleCount answers 0).
func List() (Set, error) {
	buf := make([]byte, 256<<10)
	for {
		var need uint32
		err := windows.NtQuerySystemInformation(windows.SystemExtendedHandleInformation, unsafe.Pointer(&buf[0]), uint32(len(buf)), &need)
		if err == windows.STATUS_INFO_LENGTH_MISMATCH || err == windows.STATUS_BUFFER_TOO_SMALL {
			buf = make([]byte, max(2*len(buf), int(need)+64<<10))
			continue
		}
		if err != nil {
			return nil, os.NewSyscallError("NtQuerySystemInformation", err)
		}
		break
	}
	// SYSTEM_HANDLE_INFORMATION_EX (undocumented; the layout Process
	// Hacker's phnt headers declare): NumberOfHandles, Reserved, then
	// SYSTEM_HANDLE_TABLE_ENTRY_INFO_EX entries.
	type entry struct {
		Object                uintptr
		UniqueProcessID       uintptr
		HandleValue           uintptr
		GrantedAccess         uint32
		CreatorBackTraceIndex uint16
		ObjectTypeIndex       uint16
		HandleAttributes      uint32
		Reserved              uint32
	}
	const header = 2 * unsafe.Sizeof(uintptr(0))
	count := *(*uintptr)(unsafe.Pointer(&buf[0]))
	if count > (uintptr(len(buf))-header)/unsafe.Sizeof(entry{}) {
		return nil, fmt.Errorf("SystemExtendedHandleInformation: %d entries overrun %d bytes", count, len(buf))
	}
	pid := uintptr(windows.GetCurrentProcessId())
	s := make(Set)
	for _, e := range unsafe.Slice((*entry)(unsafe.Pointer(&buf[header])), count) {
		if e.UniqueProcessID != pid {
			continue
		}
		h := windows.Handle(e.HandleValue)
		s[h] = Handle{Value: h, Type: typeName(h), Access: e.GrantedAccess}
	}
	return s, nil
}

// typeName asks the object manager for the type of h's object. Asking for
// the type never waits (unlike asking for a file's name, which can block on
// a synchronous pipe handle with a read pending).
func typeName(h windows.Handle) string {
	var buf [512]uint64 // aligned for the UNICODE_STRING at its start
	var n uint32
	if ntQueryObject(h, objectTypeInformation, unsafe.Pointer(&buf[0]), uint32(unsafe.Sizeof(buf)), &n) != nil {
		return "?"
	}
	name := (*windows.NTUnicodeString)(unsafe.Pointer(&buf[0]))
	return name.String()
}

// New returns the handles of after that before does not have (by value and
// type: a value reused for another type counts as new), in value order.
func New(before, after Set) []Handle {
	var out []Handle
	for v, h := range after {
		if b, ok := before[v]; !ok || b.Type != h.Type {
			out = append(out, h)
		}
	}
	slices.SortFunc(out, func(a, b Handle) int { return int(int64(a.Value) - int64(b.Value)) })
	return out
}

// Describe lists hs in one line: "0x1a4 Event (access 0x1f0003), ...".
func Describe(hs []Handle) string {
	var parts []string
	for _, h := range hs {
		parts = append(parts, h.String())
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, ", ")
}
