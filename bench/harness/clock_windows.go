package harness

import (
	"time"
	"unsafe"

	"golang.org/x/sys/windows"
)

var (
	qpc     = windows.NewLazySystemDLL("kernel32.dll").NewProc("QueryPerformanceCounter")
	qpfProc = windows.NewLazySystemDLL("kernel32.dll").NewProc("QueryPerformanceFrequency")
	qpf     int64
)

func init() {
	qpfProc.Call(uintptr(unsafe.Pointer(&qpf)))
}

func now() time.Duration {
	var c int64
	qpc.Call(uintptr(unsafe.Pointer(&c)))
	if qpf <= 0 {
		return time.Duration(time.Now().UnixNano())
	}
	// Split to keep c*1e9 from overflowing.
	return time.Duration(c/qpf)*time.Second + time.Duration(c%qpf*int64(time.Second)/qpf)
}
