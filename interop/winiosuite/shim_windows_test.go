package winiosuite

import (
	"net"

	"golang.org/x/sys/windows"
)

// win32MessageBytePipe stands in for go-winio's unexported message-pipe
// connection, which go-winio's TestMessageReadMode asserts a connection to
// be before it reads the type's unexported handle field. conduit's winio has
// no such type; the stand-in only lets go-winio's file compile. That test is
// skipped (see skippedTests in ../gowinio_suite_test.go), and winio's
// TestMessageReadModeSwitched does the same through the connection's Fd.
type win32MessageBytePipe struct {
	net.Conn
	handle windows.Handle
}
