package hangdemo

import (
	"unsafe"

	"golang.org/x/sys/windows"
)

//sys	suspendThread(thread windows.Handle) (count uint32, err error) [failretval==0xffffffff] = kernel32.SuspendThread

// Freeze stops every thread of the process but the calling one, then
// blocks that one for ever in a wait on the process itself (which ends
// only when the process does). No Go code runs after it: not the timer
// that would end the test at its -timeout, not the runtime's monitor.
func Freeze() {
	self := windows.GetCurrentThreadId()
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err == nil {
		pid := windows.GetCurrentProcessId()
		te := windows.ThreadEntry32{Size: uint32(unsafe.Sizeof(windows.ThreadEntry32{}))}
		for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
			if te.OwnerProcessID != pid || te.ThreadID == self {
				continue
			}
			if th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID); err == nil {
				suspendThread(th)
			}
		}
	}
	windows.WaitForSingleObject(windows.CurrentProcess(), windows.INFINITE)
}
