// Package anonpipe makes anonymous pipes whose ends can be asynchronous: on
// Go's runtime poller, with read and write deadlines, and no OS thread
// blocked per pending read. Pipe is a one-way pair, Duplex a two-way one, and
// ForChild a pair whose one end is ready to hand to a child process.
//
//	r, w, err := anonpipe.Pipe()
//	r.SetReadDeadline(time.Now().Add(time.Second))
//
//	parent, child, err := anonpipe.ForChild(anonpipe.ChildWrites)
//	cmd := exec.Command("tool")
//	cmd.Stdout = child
//	cmd.Start()
//	child.Close() // the child has its own copy now
//	io.Copy(dst, parent)
//
// On Windows a pair is one unnamed named-pipe instance: the server end is
// created with NtCreateNamedPipeFile relative to \Device\NamedPipe\ with no
// name, and the client end opened with NtOpenFile relative to the server
// handle, as CreatePipe has done since Windows 7. There is no name to guess
// or squat, and each end's mode (overlapped or synchronous) and
// inheritability are chosen separately, which CreatePipe cannot do. On Unix a
// pair is pipe2 or socketpair with close-on-exec set; asynchronous ends are
// non-blocking and on the runtime poller, a child's end is blocking.
//
// Errors from the constructors wrap ErrInvalidConfig for a bad Config or
// Direction, and are *os.SyscallError for a system call that failed; reads
// and writes return what *os.File returns (io.EOF once the other end is
// closed and drained, os.ErrDeadlineExceeded, os.ErrClosed).
package anonpipe

import (
	"errors"
	"fmt"
	"os"
)

// Direction says which way data flows between the parent and its child.
type Direction int

const (
	ChildReads       Direction = iota + 1 // the parent writes, the child reads (the child's stdin)
	ChildWrites                           // the child writes, the parent reads (its stdout or stderr)
	ChildReadsWrites                      // both ends read and write
)

func (d Direction) String() string {
	switch d {
	case ChildReads:
		return "ChildReads"
	case ChildWrites:
		return "ChildWrites"
	case ChildReadsWrites:
		return "ChildReadsWrites"
	}
	return fmt.Sprintf("Direction(%d)", int(d))
}

// DefaultBufferSize is the buffer size used when Config.BufferSize is 0.
const DefaultBufferSize = 64 << 10

// ErrInvalidConfig is wrapped by the error for a bad Config or Direction.
var ErrInvalidConfig = errors.New("anonpipe: invalid configuration")

// Config configures the pipes its methods make. The zero value is the
// default.
type Config struct {
	// BufferSize is how many bytes the pipe holds in each direction before a
	// writer waits for the reader. 0 means DefaultBufferSize (64 KiB).
	//
	// Windows: the inbound and outbound quotas of NtCreateNamedPipeFile.
	// Linux: F_SETPIPE_SZ for a pipe (rounded up to a page multiple by the
	// kernel, and limited by /proc/sys/fs/pipe-max-size), SO_SNDBUF and
	// SO_RCVBUF for Duplex's socket pair. Other Unix systems keep their own
	// default.
	BufferSize int
}

func (c *Config) bufferSize() (int, error) {
	switch {
	case c == nil || c.BufferSize == 0:
		return DefaultBufferSize, nil
	case c.BufferSize < 0 || c.BufferSize > 1<<30:
		return 0, fmt.Errorf("%w: BufferSize %d, want 0 to 1 GiB", ErrInvalidConfig, c.BufferSize)
	}
	return c.BufferSize, nil
}

// end describes one end of a pair.
type end struct {
	read, write bool
	async       bool // overlapped (Windows) or non-blocking (Unix), on the runtime poller
	inherit     bool // inheritable (Windows); on Unix every end is close-on-exec and exec.Cmd dups what it is given
}

// Pipe returns a one-way pipe with the zero Config: data written to w is
// read from r. Both ends are asynchronous and neither is inherited by child
// processes.
func Pipe() (r, w *os.File, err error) {
	var c Config
	return c.Pipe()
}

// Pipe returns a one-way pipe: data written to w is read from r. Both ends
// are asynchronous and neither is inherited by child processes.
func (c *Config) Pipe() (r, w *os.File, err error) {
	return c.pair(end{read: true, async: true}, end{write: true, async: true}, false)
}

// Duplex returns a two-way pipe with the zero Config: what is written to a is
// read from b, and the other way round. Both ends are asynchronous and
// neither is inherited by child processes.
func Duplex() (a, b *os.File, err error) {
	var c Config
	return c.Duplex()
}

// Duplex returns a two-way pipe: what is written to a is read from b, and
// the other way round. Both ends are asynchronous and neither is inherited
// by child processes.
//
// One goroutine may read an end while another writes it; on Windows the
// ends are overlapped, so neither waits for the other. Built with -race, such
// a program may still get a report from inside the standard library: Go's
// os.File on Windows (as of Go 1.26) adds every transfer to one file offset
// from Read and from Write under separate locks (internal/poll,
// FD.addOffset). The named-pipe file system ignores the offset, so the data
// is unaffected; the report is about Go's bookkeeping, not the pipe.
func (c *Config) Duplex() (a, b *os.File, err error) {
	return c.pair(end{read: true, write: true, async: true}, end{read: true, write: true, async: true}, true)
}

// ForChild returns a pipe with the zero Config for talking to a child
// process. See Config.ForChild.
func ForChild(dir Direction) (parent, child *os.File, err error) {
	var c Config
	return c.ForChild(dir)
}

// ForChild returns a pipe for talking to a child process. The parent's end is
// asynchronous and not inherited. The child's end is synchronous, as child
// processes expect of their standard handles, and ready to give to
// exec.Cmd's Stdin, Stdout or Stderr, or, on Windows, to
// SysProcAttr.AdditionalInheritedHandles (it is marked inheritable, which
// that list requires; Go passes only the listed handles to the child). Close
// the child's end once the child has started, so that the parent sees
// io.EOF when the child exits.
//
// On Windows the child's end is inheritable from the moment ForChild makes
// it until it is closed. Go's os/exec hands a child only the handles it
// lists, but a process that calls CreateProcess with bInheritHandles and no
// handle list meanwhile (a C library, another language's runtime in the
// same process) passes every inheritable handle to its child, this one
// included: the parent then sees io.EOF only once that unrelated child has
// exited too. Keep the window short: call ForChild just before starting
// the child, and close the child's end right after Start (the
// ExampleForChild_handleList example). Where only exec.Cmd's Stdin, Stdout
// or Stderr receive it, the end need not be inheritable at all (os/exec
// duplicates those as inheritable for the child itself):
// windows.SetHandleInformation(h, windows.HANDLE_FLAG_INHERIT, 0) on
// child.Fd() narrows the window to the time between ForChild and that call
// (os/exec's own inheritable copies live only while it creates the
// process, syscall/exec_windows.go).
func (c *Config) ForChild(dir Direction) (parent, child *os.File, err error) {
	p := end{async: true}
	ch := end{inherit: true}
	switch dir {
	case ChildReads:
		p.write, ch.read = true, true
	case ChildWrites:
		p.read, ch.write = true, true
	case ChildReadsWrites:
		p.read, p.write, ch.read, ch.write = true, true, true, true
	default:
		return nil, nil, fmt.Errorf("%w: %v", ErrInvalidConfig, dir)
	}
	return c.pair(p, ch, dir == ChildReadsWrites)
}
