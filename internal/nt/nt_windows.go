package nt

import (
	"os"
	"sync"
	"unsafe"

	"golang.org/x/sys/windows"
)

//sys	NtFsControlFile(file windows.Handle, event windows.Handle, apcRoutine uintptr, apcContext uintptr, iosb *windows.IO_STATUS_BLOCK, code uint32, in *byte, inLen uint32, out *byte, outLen uint32) (ntstatus error) = ntdll.NtFsControlFile
//sys	NtOpenFile(handle *windows.Handle, access uint32, oa *windows.OBJECT_ATTRIBUTES, iosb *windows.IO_STATUS_BLOCK, share uint32, options uint32) (ntstatus error) = ntdll.NtOpenFile
//sys	NtQueryInformationFile(file windows.Handle, iosb *windows.IO_STATUS_BLOCK, info *byte, infoLen uint32, class uint32) (ntstatus error) = ntdll.NtQueryInformationFile
//sys	NtQueryVolumeInformationFile(file windows.Handle, iosb *windows.IO_STATUS_BLOCK, info *byte, infoLen uint32, class uint32) (ntstatus error) = ntdll.NtQueryVolumeInformationFile
//sys	NtCreateMailslotFile(handle *windows.Handle, access uint32, oa *windows.OBJECT_ATTRIBUTES, iosb *windows.IO_STATUS_BLOCK, options uint32, quota uint32, maxMessageSize uint32, readTimeout *int64) (ntstatus error) = ntdll.NtCreateMailslotFile
//sys	PeekNamedPipe(pipe windows.Handle, buf *byte, size uint32, read *uint32, avail *uint32, leftInMessage *uint32) (err error) = kernel32.PeekNamedPipe
//sys	NtQueryObject(h windows.Handle, class uint32, info *byte, infoLen uint32, retLen *uint32) (ntstatus error) = ntdll.NtQueryObject
//sys	CancelSynchronousIo(thread windows.Handle) (err error) = kernel32.CancelSynchronousIo
//sys	GetMailslotInfo(slot windows.Handle, maxMessageSize *uint32, nextSize *uint32, messageCount *uint32, readTimeout *uint32) (err error) = kernel32.GetMailslotInfo
//sys	SetMailslotInfo(slot windows.Handle, readTimeout uint32) (err error) = kernel32.SetMailslotInfo
//sys	NtQueryDirectoryFile(file windows.Handle, event windows.Handle, apcRoutine uintptr, apcContext uintptr, iosb *windows.IO_STATUS_BLOCK, info *byte, infoLen uint32, class uint32, single bool, name *windows.NTUnicodeString, restart bool) (ntstatus error) = ntdll.NtQueryDirectoryFile
//sys	GetNamedPipeClientSessionId(pipe windows.Handle, id *uint32) (err error) = kernel32.GetNamedPipeClientSessionId
//sys	GetNamedPipeServerSessionId(pipe windows.Handle, id *uint32) (err error) = kernel32.GetNamedPipeServerSessionId
//sys	ImpersonateNamedPipeClient(pipe windows.Handle) (err error) = advapi32.ImpersonateNamedPipeClient
//sys	GetHandleInformation(h windows.Handle, flags *uint32) (err error) = kernel32.GetHandleInformation
//sys	CreateWaitableTimerEx(attrs *windows.SecurityAttributes, name *uint16, flags uint32, access uint32) (h windows.Handle, err error) [failretval==0] = kernel32.CreateWaitableTimerExW
//sys	AccessCheck(sd *windows.SECURITY_DESCRIPTOR, token windows.Token, desired uint32, mapping *GENERIC_MAPPING, privileges *byte, privilegesLen *uint32, granted *uint32, status *int32) (err error) = advapi32.AccessCheck
//sys	CreateRestrictedToken(existing windows.Token, flags uint32, disableCount uint32, disable *windows.SIDAndAttributes, deleteCount uint32, delete *windows.LUIDAndAttributes, restrictCount uint32, restrict *windows.SIDAndAttributes, token *windows.Token) (err error) = advapi32.CreateRestrictedToken
//sys	SetWaitableTimer(timer windows.Handle, dueTime *int64, period int32, completion uintptr, arg uintptr, resume bool) (err error) = kernel32.SetWaitableTimer

// GENERIC_MAPPING (winnt.h) maps generic access rights to an object type's
// specific ones.
type GENERIC_MAPPING struct {
	GenericRead    uint32
	GenericWrite   uint32
	GenericExecute uint32
	GenericAll     uint32
}

// File and pipe access rights (winnt.h) that x/sys does not declare.
const (
	// FILE_CREATE_PIPE_INSTANCE, on a pipe, is the right to create
	// another server instance of it. It is the same bit as
	// FILE_APPEND_DATA, so FILE_GENERIC_WRITE (GW) and GENERIC_ALL (GA)
	// include it.
	FILE_CREATE_PIPE_INSTANCE = 0x4
	FILE_GENERIC_EXECUTE      = 0x1200A0
	FILE_ALL_ACCESS           = 0x1F01FF
)

// Pipe file-system controls (winioctl.h, ntifs.h) that x/sys does not
// declare: CTL_CODE(FILE_DEVICE_NAMED_PIPE, function, METHOD_BUFFERED,
// FILE_ANY_ACCESS).
const (
	FSCTL_PIPE_DISCONNECT               = 0x00110004 // end a server instance's connection, dropping unread data
	FSCTL_PIPE_LISTEN                   = 0x00110008 // wait for a client on a server instance
	FSCTL_PIPE_IMPERSONATE              = 0x0011001C // impersonate the client on the calling thread (ImpersonateNamedPipeClient)
	FSCTL_PIPE_GET_PIPE_ATTRIBUTE       = 0x00110028 // a named attribute of the pipe ("ServerProcessId", "ServerSessionId")
	FSCTL_PIPE_GET_CONNECTION_ATTRIBUTE = 0x00110030 // a named attribute of the connection ("ClientProcessId", "ClientSessionId")
)

// FILE_PIPE_PEEK_BUFFER (ntifs.h) is FSCTL_PIPE_PEEK's output: this header,
// then as much of the waiting data as the buffer holds.
type FILE_PIPE_PEEK_BUFFER struct {
	NamedPipeState    uint32 // FILE_PIPE_*_STATE
	ReadDataAvailable uint32 // bytes waiting, over all queued messages
	NumberOfMessages  uint32 // message pipes: messages waiting
	MessageLength     uint32 // message pipes: what is left of the next message
}

// CreateWaitableTimerEx flags and access (synchapi.h, winnt.h).
const (
	CREATE_WAITABLE_TIMER_MANUAL_RESET    = 0x1      // a notification timer: signalled until set again
	CREATE_WAITABLE_TIMER_HIGH_RESOLUTION = 0x2      // Windows 10 1803 and later: expires on time, not on the next clock tick
	TIMER_ALL_ACCESS                      = 0x1F0003 // TIMER_QUERY_STATE | TIMER_MODIFY_STATE | SYNCHRONIZE | STANDARD_RIGHTS_REQUIRED
)

// File information classes (FILE_INFORMATION_CLASS, wdm.h) for
// NtQueryInformationFile.
const (
	FileDirectoryInformation = 1  // FILE_DIRECTORY_INFORMATION records, for NtQueryDirectoryFile
	FileModeInformation      = 16 // a ULONG: FILE_SYNCHRONOUS_IO_* bits tell a synchronous handle from an overlapped one
	FilePipeInformation      = 23 // FILE_PIPE_INFORMATION
	FilePipeLocalInformation = 24 // FILE_PIPE_LOCAL_INFORMATION
)

// FILE_PIPE_INFORMATION (ntifs.h): one end's read and completion mode.
type FILE_PIPE_INFORMATION struct {
	ReadMode       uint32 // FILE_PIPE_BYTE_STREAM_MODE or FILE_PIPE_MESSAGE_MODE
	CompletionMode uint32 // FILE_PIPE_QUEUE_OPERATION or FILE_PIPE_COMPLETE_OPERATION
}

// Mailslot constants (winbase.h).
const (
	MAILSLOT_NO_MESSAGE   = 0xFFFFFFFF // GetMailslotInfo's next size when none is queued
	MAILSLOT_WAIT_FOREVER = 0xFFFFFFFF // a read timeout of forever, in milliseconds
)

// FILE_PIPE_LOCAL_INFORMATION (ntifs.h) describes a pipe as seen from one of
// its ends.
type FILE_PIPE_LOCAL_INFORMATION struct {
	NamedPipeType          uint32
	NamedPipeConfiguration uint32
	MaximumInstances       uint32
	CurrentInstances       uint32
	InboundQuota           uint32
	ReadDataAvailable      uint32
	OutboundQuota          uint32
	WriteQuotaAvailable    uint32
	NamedPipeState         uint32 // FILE_PIPE_*_STATE
	NamedPipeEnd           uint32 // FILE_PIPE_CLIENT_END or FILE_PIPE_SERVER_END
}

// FILE_PIPE_WAIT_FOR_BUFFER is the input of FSCTL_PIPE_WAIT (ntifs.h). Name
// holds NameLength bytes of UTF-16, the pipe's name relative to
// \Device\NamedPipe\; the structure is followed in memory by the rest of the
// name, so callers allocate it with room to spare.
type FILE_PIPE_WAIT_FOR_BUFFER struct {
	Timeout          int64
	NameLength       uint32
	TimeoutSpecified uint8
	_                uint8
	Name             [1]uint16 // at offset 14
}

// Wine reports whether the process runs under Wine rather than Windows.
//
// Wine's ntdll exports wine_get_version; Windows' does not. Tests use it to
// skip, with the reason, what Wine does not emulate faithfully, and the few
// places that work around a Wine difference use it too. It looks the export
// up once; nothing is called.
var Wine = sync.OnceValue(func() bool {
	return modntdll.NewProc("wine_get_version").Find() == nil
})

// QueryInformationFile returns the information of class (a FILE_*_INFORMATION
// structure, T) about h, with the NTSTATUS turned into a windows.Errno.
func QueryInformationFile[T any](h windows.Handle, class uint32) (T, error) {
	var info T
	var iosb windows.IO_STATUS_BLOCK
	err := NtQueryInformationFile(h, &iosb, (*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), class)
	if err != nil {
		return info, err.(windows.NTStatus).Errno()
	}
	return info, nil
}

// FileFsDeviceInformation is the FS_INFORMATION_CLASS (wdm.h) of
// FILE_FS_DEVICE_INFORMATION, for NtQueryVolumeInformationFile.
const FileFsDeviceInformation = 4

// FILE_FS_DEVICE_INFORMATION (wdm.h) describes the device a file is on.
type FILE_FS_DEVICE_INFORMATION struct {
	DeviceType      uint32
	Characteristics uint32 // FILE_REMOTE_DEVICE and others
}

// FILE_REMOTE_DEVICE (wdm.h), in FILE_FS_DEVICE_INFORMATION's
// Characteristics: the file is on another machine, reached through a
// network redirector (a \\host\pipe\ name, \\localhost's included).
const FILE_REMOTE_DEVICE = 0x10

// FILE_DEVICE_NULL (devioctl.h), in FILE_FS_DEVICE_INFORMATION's
// DeviceType: the NUL device, whose reads end at once.
const FILE_DEVICE_NULL = 0x15

// Device returns the device h is on (NtQueryVolumeInformationFile's
// FileFsDeviceInformation).
func Device(h windows.Handle) (FILE_FS_DEVICE_INFORMATION, error) {
	var info FILE_FS_DEVICE_INFORMATION
	var iosb windows.IO_STATUS_BLOCK
	err := NtQueryVolumeInformationFile(h, &iosb, (*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), FileFsDeviceInformation)
	if err != nil {
		return info, err.(windows.NTStatus).Errno()
	}
	return info, nil
}

// Remote reports whether h is a file on another machine: its device's
// characteristics have FILE_REMOTE_DEVICE.
func Remote(h windows.Handle) (bool, error) {
	info, err := Device(h)
	return err == nil && info.Characteristics&FILE_REMOTE_DEVICE != 0, err
}

// Synchronous reports whether h was opened for synchronous I/O: its
// FileModeInformation has FILE_SYNCHRONOUS_IO_ALERT or _NONALERT.
func Synchronous(h windows.Handle) (bool, error) {
	mode, err := QueryInformationFile[uint32](h, FileModeInformation)
	return mode&(windows.FILE_SYNCHRONOUS_IO_ALERT|windows.FILE_SYNCHRONOUS_IO_NONALERT) != 0, err
}

// ThreadCount counts the current process's threads.
func ThreadCount() (int, error) {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return 0, os.NewSyscallError("CreateToolhelp32Snapshot", err)
	}
	defer windows.CloseHandle(snap)
	pid := windows.GetCurrentProcessId()
	te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
	n := 0
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID == pid {
			n++
		}
	}
	return n, nil
}

// ObjectBasicInformation is OBJECT_INFORMATION_CLASS's
// ObjectBasicInformation (winternl.h), whose answer is a
// PUBLIC_OBJECT_BASIC_INFORMATION.
const ObjectBasicInformation = 0

// PUBLIC_OBJECT_BASIC_INFORMATION (winternl.h).
type PUBLIC_OBJECT_BASIC_INFORMATION struct {
	Attributes    uint32
	GrantedAccess uint32
	HandleCount   uint32
	PointerCount  uint32
	Reserved      [10]uint32
}

// GrantedAccess returns the access granted to the handle h
// (NtQueryObject(ObjectBasicInformation)).
func GrantedAccess(h windows.Handle) (uint32, error) {
	var info PUBLIC_OBJECT_BASIC_INFORMATION
	if err := NtQueryObject(h, ObjectBasicInformation, (*byte)(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info)), nil); err != nil {
		return 0, os.NewSyscallError("NtQueryObject", err)
	}
	return info.GrantedAccess, nil
}
