package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	winio "github.com/Microsoft/go-winio"
	"github.com/conduit-ipc/conduit/namedpipe"
	cwinio "github.com/conduit-ipc/conduit/winio"
	"golang.org/x/sys/windows"
	"gopkg.in/natefinch/npipe.v2"
)

// The named-pipe contenders: servers and clients, and how a server is run
// in this process or in a child.

var pipeSeq atomic.Int64

func pipePath() string {
	return fmt.Sprintf(`\\.\pipe\conduit-bench-%d-%d`, os.Getpid(), pipeSeq.Add(1))
}

// Server kinds.
const (
	srvConduit = "conduit"      // namedpipe.Listen
	srvSync    = "sync"         // CreateNamedPipe and ConnectNamedPipe, synchronous
	srvNpipe   = "npipe"        // natefinch/npipe's Listen
	srvWinio   = "go-winio"     // go-winio's ListenPipe
	srvWinio64 = "go-winio-64k" // go-winio's ListenPipe with 64 KiB buffers, as Docker's
	srvDropin  = "winio"        // conduit's winio (go-winio's API on namedpipe), 64 KiB buffers
	srvCOver   = "c-overlapped" // bench/c/pipebench.exe, overlapped
	srvCSync   = "c-sync"       // bench/c/pipebench.exe, synchronous
)

// listen starts an in-process listener of kind.
func listen(kind, path string, message bool) (net.Listener, error) {
	switch kind {
	case srvConduit:
		return (&namedpipe.ListenConfig{MessageMode: message}).Listen(path)
	case srvSync:
		return listenSync(path, message)
	case srvNpipe:
		return npipe.Listen(path)
	case srvWinio:
		return winio.ListenPipe(path, &winio.PipeConfig{MessageMode: message})
	case srvWinio64:
		return winio.ListenPipe(path, &winio.PipeConfig{MessageMode: message, InputBufferSize: 64 << 10, OutputBufferSize: 64 << 10})
	case srvDropin:
		return cwinio.ListenPipe(path, &cwinio.PipeConfig{MessageMode: message, InputBufferSize: 64 << 10, OutputBufferSize: 64 << 10})
	}
	return nil, fmt.Errorf("no listener %q", kind)
}

// startServer runs the server s describes and returns its pipe's path and
// how to stop it.
func startServer(cfg config, s serverSpec) (string, func(), error) {
	path := pipePath()
	switch {
	case s.kind == srvCOver || s.kind == srvCSync:
		flavour := "overlapped"
		if s.kind == srvCSync {
			flavour = "sync"
		}
		p, err := startProgram(exec.Command(cexe(cfg), "server", flavour, s.mode, path), nil, nil)
		if err != nil {
			return "", nil, err
		}
		return path, p.stop, nil
	case s.child:
		msg := ""
		if s.message {
			msg = "1"
		}
		p, err := startChild("server", []string{"KIND=" + s.kind, "MODE=" + s.mode, "PIPE=" + path, "MESSAGE=" + msg}, nil)
		if err != nil {
			return "", nil, err
		}
		return path, p.stop, nil
	}
	l, err := listen(s.kind, path, s.message)
	if err != nil {
		return "", nil, err
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		serveAll(l, s.mode)
	}()
	return path, func() {
		l.Close()
		wg.Wait()
	}, nil
}

func cexe(cfg config) string { return filepath.Join(cfg.cdir, "pipebench.exe") }

// serverChild is the "server" child role.
func serverChild() int {
	l, err := listen(os.Getenv("KIND"), os.Getenv("PIPE"), os.Getenv("MESSAGE") != "")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	childReady()
	serveAll(l, os.Getenv("MODE"))
	return 1
}

// syncListener is the raw server: an instance at a time made with
// CreateNamedPipe (no FILE_FLAG_OVERLAPPED) and connected with a blocking
// ConnectNamedPipe; each connection's calls block their thread.
type syncListener struct {
	path    string
	message bool
	mu      sync.Mutex
	h       windows.Handle // the instance waiting in ConnectNamedPipe
	closed  bool
}

func listenSync(path string, message bool) (*syncListener, error) {
	l := &syncListener{path: path, message: message}
	h, err := l.instance()
	if err != nil {
		return nil, err
	}
	l.h = h
	return l, nil
}

func (l *syncListener) instance() (windows.Handle, error) {
	p, _ := windows.UTF16PtrFromString(l.path)
	mode := uint32(windows.PIPE_TYPE_BYTE | windows.PIPE_READMODE_BYTE)
	if l.message {
		mode = windows.PIPE_TYPE_MESSAGE | windows.PIPE_READMODE_MESSAGE
	}
	return windows.CreateNamedPipe(p, windows.PIPE_ACCESS_DUPLEX, mode|windows.PIPE_WAIT,
		windows.PIPE_UNLIMITED_INSTANCES, 64<<10, 64<<10, 0, nil)
}

func (l *syncListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	h := l.h
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return nil, net.ErrClosed
	}
	err := windows.ConnectNamedPipe(h, nil)
	if err != nil && err != windows.ERROR_PIPE_CONNECTED {
		return nil, err
	}
	next, err := l.instance()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		// h is Close's to close: it read l.h, which is h, and closes it.
		// Closing it here too closed it twice, and the second close could
		// hit whatever handle had reused the number in between (a runtime
		// thread's event: "setevent failed; errno=6", and a hung run).
		if err == nil {
			windows.CloseHandle(next)
		}
		return nil, net.ErrClosed
	}
	if err != nil {
		return nil, err
	}
	l.h = next
	return fileConn{os.NewFile(uintptr(h), l.path)}, nil
}

// Close ends a waiting Accept by connecting to its instance, since a
// synchronous ConnectNamedPipe cannot be cancelled otherwise, then closes.
func (l *syncListener) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	h := l.h
	l.mu.Unlock()
	if c, err := dialSync(l.path); err == nil {
		c.Close()
	}
	return windows.CloseHandle(h)
}

func (l *syncListener) Addr() net.Addr { return pipeAddr(l.path) }

type pipeAddr string

func (a pipeAddr) Network() string { return "pipe" }
func (a pipeAddr) String() string  { return string(a) }

// fileConn makes an *os.File a net.Conn for serveAll.
type fileConn struct{ *os.File }

func (fileConn) LocalAddr() net.Addr  { return pipeAddr("") }
func (fileConn) RemoteAddr() net.Addr { return pipeAddr("") }

// Client kinds.
const (
	cliConduit = "conduit"
	cliWinio   = "go-winio"
	cliDropin  = "winio" // conduit's winio DialPipe
	cliNpipe   = "npipe"
	cliSync    = "sync"
)

// dial opens the client end of kind. Clients learn a pipe's type from the
// pipe itself.
func dial(kind, path string, _ bool) (io.ReadWriteCloser, error) {
	switch kind {
	case cliConduit:
		return namedpipe.Dial(context.Background(), path)
	case cliWinio:
		t := 5 * time.Second
		return winio.DialPipe(path, &t)
	case cliDropin:
		t := 5 * time.Second
		return cwinio.DialPipe(path, &t)
	case cliNpipe:
		return npipe.DialTimeout(path, 5*time.Second)
	case cliSync:
		return dialSync(path)
	}
	return nil, fmt.Errorf("no client %q", kind)
}

// dialSync is the raw client: CreateFile without FILE_FLAG_OVERLAPPED, and
// WaitNamedPipe while every instance is busy, as Windows' documentation
// says a client should.
func dialSync(path string) (*os.File, error) {
	p, _ := windows.UTF16PtrFromString(path)
	for {
		h, err := windows.CreateFile(p, windows.GENERIC_READ|windows.GENERIC_WRITE, 0, nil, windows.OPEN_EXISTING, 0, 0)
		if err == nil {
			return os.NewFile(uintptr(h), path), nil
		}
		if err != windows.ERROR_PIPE_BUSY {
			return nil, &os.PathError{Op: "open", Path: path, Err: err}
		}
		if err := waitNamedPipe(p, 5000); err != nil {
			return nil, &os.PathError{Op: "WaitNamedPipe", Path: path, Err: err}
		}
	}
}

var procWaitNamedPipeW = windows.NewLazySystemDLL("kernel32.dll").NewProc("WaitNamedPipeW")

func waitNamedPipe(name *uint16, ms uint32) error {
	r, _, err := procWaitNamedPipeW.Call(uintptr(unsafe.Pointer(name)), uintptr(ms))
	if r == 0 {
		return err
	}
	return nil
}

func isMoreData(err error) bool { return errors.Is(err, windows.ERROR_MORE_DATA) }
