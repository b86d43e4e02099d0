package namedpipe

import (
	"os"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// List returns every pipe on this machine with its current and maximum
// instances, read from the named-pipe file system's directory
// (NtQueryDirectoryFile on \Device\NamedPipe\), as Sysinternals' PipeList
// does. It opens no pipe. Errors are *os.PathError.
func List() ([]Entry, error) {
	const root = `\Device\NamedPipe\`
	fail := func(err error) ([]Entry, error) {
		return nil, &os.PathError{Op: "list", Path: root, Err: err}
	}
	name, err := windows.NewNTUnicodeString(root)
	if err != nil {
		return fail(err)
	}
	oa := windows.OBJECT_ATTRIBUTES{ObjectName: name, Attributes: windows.OBJ_CASE_INSENSITIVE}
	oa.Length = uint32(unsafe.Sizeof(oa))
	var h windows.Handle
	var iosb windows.IO_STATUS_BLOCK
	// A handle of its own: the enumeration's position belongs to the
	// handle, so calls in parallel must not share one. Synchronous, so each
	// query completes before it returns.
	err = nt.NtOpenFile(&h, windows.FILE_LIST_DIRECTORY|windows.SYNCHRONIZE, &oa, &iosb,
		windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, windows.FILE_SYNCHRONOUS_IO_NONALERT|windows.FILE_DIRECTORY_FILE)
	if err != nil {
		return fail(err.(windows.NTStatus).Errno())
	}
	defer windows.CloseHandle(h)
	buf := make([]byte, 64<<10)
	var list []Entry
	for restart := true; ; restart = false {
		err := nt.NtQueryDirectoryFile(h, 0, 0, 0, &iosb, &buf[0], uint32(len(buf)), nt.FileDirectoryInformation,
			false, nil, restart)
		if err != nil {
			if err == windows.STATUS_NO_MORE_FILES {
				return list, nil
			}
			return fail(err.(windows.NTStatus).Errno())
		}
		if list, err = parseDirectory(list, buf[:iosb.Information]); err != nil {
			return fail(err)
		}
	}
}
