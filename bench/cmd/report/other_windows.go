package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/anonpipe"
	"github.com/conduit-ipc/conduit/bench/harness"
	"github.com/conduit-ipc/conduit/mailslot"
	"golang.org/x/sys/windows"
)

// Anonymous pipes and mailslots, the children's roles, and what this
// process reports about itself.

const (
	sectionAnon     = "Anonymous pipes (Windows, under Wine)"
	sectionMailslot = "Mailslots (Windows, under Wine)"
)

func child(role string) int {
	switch role {
	case "server":
		return serverChild()
	case "anon-discard":
		// Reads standard input, a synchronous pipe end, to its end.
		buf := make([]byte, 64<<10)
		for {
			if _, err := os.Stdin.Read(buf); err != nil {
				return 0
			}
		}
	case "anon-echo":
		// Writes back to standard output what standard input brings.
		buf := make([]byte, 64<<10)
		for {
			n, err := os.Stdin.Read(buf)
			if err != nil {
				return 0
			}
			if _, err := os.Stdout.Write(buf[:n]); err != nil {
				return 1
			}
		}
	case "mailslot-writer":
		w, err := openSlotWriter(os.Getenv("WRITER"), os.Getenv("SLOT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		childReady()
		msg := bytes.Repeat([]byte{'m'}, 100)
		for {
			if _, err := w.Write(msg); err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
		}
	}
	fmt.Fprintln(os.Stderr, "unknown child role", role)
	return 2
}

// platformMeta is what the Windows run says of its platform.
func platformMeta() map[string]string {
	m := map[string]string{}
	if v, ok := wineVersion(); ok {
		m["wine"] = "Wine " + v
	}
	return m
}

// wineVersion returns Wine's version, if this runs under Wine: ntdll.dll
// exports wine_get_version there.
func wineVersion() (string, bool) {
	p := windows.NewLazySystemDLL("ntdll.dll").NewProc("wine_get_version")
	if p.Find() != nil {
		return "", false
	}
	r, _, _ := p.Call()
	// A pointer to a static string in ntdll, which the collector never
	// sees.
	return windows.BytePtrToString(*(**byte)(unsafe.Pointer(&r))), true
}

// threadCount returns the number of this process's threads, from a
// Toolhelp snapshot.
func threadCount() (int, error) {
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return 0, os.NewSyscallError("CreateToolhelp32Snapshot", err)
	}
	defer windows.CloseHandle(snap)
	pid := windows.GetCurrentProcessId()
	var e windows.ThreadEntry32
	e.Size = uint32(unsafe.Sizeof(e))
	n := 0
	for err = windows.Thread32First(snap, &e); err == nil; err = windows.Thread32Next(snap, &e) {
		if e.OwnerProcessID == pid {
			n++
		}
	}
	if err != windows.ERROR_NO_MORE_FILES {
		return 0, os.NewSyscallError("Thread32Next", err)
	}
	return n, nil
}

// Anonymous pipes: anonpipe against os.Pipe, with both ends in this process
// (a goroutine at the other end) and with the other end in a child process
// (its standard input and output, synchronous in both cases).

type pipeMaker func() (r, w *os.File, err error)

// forChild makes a pipe whose child end is dir's: the parent's end is
// anonpipe's asynchronous one, or for os.Pipe the plain synchronous one.
type childPipeMaker func(childReads bool) (parent, child *os.File, err error)

func anonForChild(childReads bool) (*os.File, *os.File, error) {
	if childReads {
		return anonpipe.ForChild(anonpipe.ChildReads)
	}
	return anonpipe.ForChild(anonpipe.ChildWrites)
}

func osForChild(childReads bool) (*os.File, *os.File, error) {
	r, w, err := os.Pipe()
	if childReads {
		return w, r, err
	}
	return r, w, err
}

func anonThroughput(mk pipeMaker) func(d time.Duration) (harness.Sample, error) {
	return func(d time.Duration) (harness.Sample, error) {
		r, w, err := mk()
		if err != nil {
			return nil, err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			buf := make([]byte, 64<<10)
			for {
				if _, err := r.Read(buf); err != nil {
					return
				}
			}
		}()
		s, err := throughput(64<<10)(w, d)
		w.Close() // the reader sees io.EOF
		<-done
		r.Close()
		return s, err
	}
}

func anonPingPong(mk pipeMaker) func(d time.Duration) (harness.Sample, error) {
	return func(d time.Duration) (harness.Sample, error) {
		r1, w1, err := mk()
		if err != nil {
			return nil, err
		}
		r2, w2, err := mk()
		if err != nil {
			r1.Close()
			w1.Close()
			return nil, err
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			one := make([]byte, 1)
			for {
				if _, err := r1.Read(one); err != nil {
					return
				}
				if _, err := w2.Write(one); err != nil {
					return
				}
			}
		}()
		s, err := pingPong(rw{r2, w1}, d)
		// Closing w1 ends the echo's Read with io.EOF first: closing a
		// synchronous end under a pending Read would wait for that Read.
		w1.Close()
		<-done
		r1.Close()
		w2.Close()
		r2.Close()
		return s, err
	}
}

// rw reads from one pipe and writes to another.
type rw struct {
	r io.Reader
	w io.Writer
}

func (p rw) Read(b []byte) (int, error)  { return p.r.Read(b) }
func (p rw) Write(b []byte) (int, error) { return p.w.Write(b) }
func (p rw) Close() error                { return nil }

// anonChild runs work against a child process whose standard input (and,
// for echo, output) are pipes that mk makes.
func anonChild(mk childPipeMaker, role string, work func(c io.ReadWriteCloser, d time.Duration) (harness.Sample, error)) func(d time.Duration) (harness.Sample, error) {
	return func(d time.Duration) (harness.Sample, error) {
		exe, err := os.Executable()
		if err != nil {
			return nil, err
		}
		toChild, childIn, err := mk(true)
		if err != nil {
			return nil, err
		}
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), envChild+"="+role)
		cmd.Stdin, cmd.Stderr = childIn, os.Stderr
		var fromChild *os.File
		if role == "anon-echo" {
			var childOut *os.File
			fromChild, childOut, err = mk(false)
			if err != nil {
				toChild.Close()
				childIn.Close()
				return nil, err
			}
			cmd.Stdout = childOut
			defer fromChild.Close()
			defer childOut.Close()
		}
		err = cmd.Start()
		childIn.Close() // the child has its own copy now
		if cmd.Stdout != nil {
			cmd.Stdout.(*os.File).Close()
		}
		if err != nil {
			toChild.Close()
			return nil, err
		}
		var c io.ReadWriteCloser = rw{w: toChild}
		if fromChild != nil {
			c = rw{r: fromChild, w: toChild}
		}
		s, err := work(c, d)
		toChild.Close() // the child sees EOF and exits
		if werr := cmd.Wait(); err == nil && werr != nil {
			err = werr
		}
		return s, err
	}
}

func anonWorkloads(cfg config) []harness.Workload {
	const (
		anonNote = "anonpipe.Pipe: overlapped ends on Go's runtime poller"
		osNote   = "os.Pipe: CreatePipe, synchronous ends"
		childAn  = "anonpipe.ForChild: the parent's end overlapped, the child's synchronous"
		childOS  = "os.Pipe: both ends synchronous"
	)
	return []harness.Workload{
		{Section: sectionAnon, Name: "throughput, 64 KiB writes", Placement: "both ends in one process", Metrics: throughputMetric,
			Contenders: []harness.Contender{
				{Name: "anonpipe", Note: anonNote, Ref: true, Run: anonThroughput(anonpipe.Pipe)},
				{Name: "os.Pipe", Note: osNote, Target: 1.0, Run: anonThroughput(os.Pipe)},
			}},
		{Section: sectionAnon, Name: "ping-pong, 1 byte", Placement: "both ends in one process", Metrics: harness.LatencyMetrics,
			Contenders: []harness.Contender{
				{Name: "anonpipe", Note: anonNote + "; two pipes", Ref: true, Run: anonPingPong(anonpipe.Pipe)},
				{Name: "os.Pipe", Note: osNote + "; two pipes", Target: 1.0, Run: anonPingPong(os.Pipe)},
			}},
		{Section: sectionAnon, Name: "throughput, 64 KiB writes", Placement: "to a child process's stdin", Metrics: throughputMetric,
			Contenders: []harness.Contender{
				{Name: "anonpipe", Note: childAn, Ref: true, Run: anonChild(anonForChild, "anon-discard", throughput(64<<10))},
				{Name: "os.Pipe", Note: childOS, Target: 1.0, Run: anonChild(osForChild, "anon-discard", throughput(64<<10))},
			}},
		{Section: sectionAnon, Name: "ping-pong, 1 byte", Placement: "through a child process's stdin and stdout", Metrics: harness.LatencyMetrics,
			Contenders: []harness.Contender{
				{Name: "anonpipe", Note: childAn, Ref: true, Run: anonChild(anonForChild, "anon-echo", pingPong)},
				{Name: "os.Pipe", Note: childOS, Target: 1.0, Run: anonChild(osForChild, "anon-echo", pingPong)},
			}},
	}
}

// Mailslots: a reader here, a writer sending 100-byte messages as fast as
// it can, in this process or in a child; the reader's rate is timed.

var slotSeq atomic.Int64

// slotWriter is what a writer needs.
type slotWriter interface {
	Write([]byte) (int, error)
	Close() error
}

// openSlotWriter opens the slot for writing: conduit's mailslot.Open, or a
// raw CreateFile.
func openSlotWriter(kind, name string) (slotWriter, error) {
	if kind == "conduit" {
		return mailslot.Open(name)
	}
	p, _ := windows.UTF16PtrFromString(`\\.\mailslot\` + name)
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE, windows.FILE_SHARE_READ, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	return os.NewFile(uintptr(h), name), nil
}

var (
	kernel32            = windows.NewLazySystemDLL("kernel32.dll")
	procCreateMailslotW = kernel32.NewProc("CreateMailslotW")
	procSetMailslotInfo = kernel32.NewProc("SetMailslotInfo")
)

// rawSlot is the raw reader: CreateMailslotW and synchronous ReadFile.
type rawSlot struct {
	h   windows.Handle
	buf []byte
}

func createRawSlot(name string) (*rawSlot, error) {
	p, _ := windows.UTF16PtrFromString(`\\.\mailslot\` + name)
	const forever = 0xffffffff // MAILSLOT_WAIT_FOREVER
	r, _, err := procCreateMailslotW.Call(uintptr(unsafe.Pointer(p)), 0, forever, 0)
	if windows.Handle(r) == windows.InvalidHandle {
		return nil, os.NewSyscallError("CreateMailslotW", err)
	}
	h := windows.Handle(r)
	// Wine reads the create call's "forever" as no wait at all; set it again.
	if r, _, err := procSetMailslotInfo.Call(uintptr(h), forever); r == 0 {
		windows.CloseHandle(h)
		return nil, os.NewSyscallError("SetMailslotInfo", err)
	}
	return &rawSlot{h: h, buf: make([]byte, 64<<10)}, nil
}

func (s *rawSlot) read() (int, error) {
	var n uint32
	err := windows.ReadFile(s.h, s.buf, &n, nil)
	return int(n), err
}

func mailslotRun(reader, writer string, child bool) func(d time.Duration) (harness.Sample, error) {
	return func(d time.Duration) (harness.Sample, error) {
		name := fmt.Sprintf("conduit-bench-%d-%d", os.Getpid(), slotSeq.Add(1))
		var read func() (int, error)
		var closeSlot func()
		if reader == "conduit" {
			s, err := mailslot.Create(name)
			if err != nil {
				return nil, err
			}
			// Read into one buffer, as the raw reader does: ReadMessage
			// would add an allocation and a copy per message.
			buf := make([]byte, 64<<10)
			read = func() (int, error) { return s.Read(buf) }
			closeSlot = func() { s.Close() }
		} else {
			s, err := createRawSlot(name)
			if err != nil {
				return nil, err
			}
			read = s.read
			closeSlot = func() { windows.CloseHandle(s.h) }
		}
		defer closeSlot()
		var stopWriter func() error
		if child {
			// The child exits when told to, even in the middle of a write.
			p, err := startChild("mailslot-writer", []string{"SLOT=" + name, "WRITER=" + writer}, nil)
			if err != nil {
				return nil, err
			}
			stopWriter = func() error { p.stop(); return nil }
		} else {
			w, err := openSlotWriter(writer, name)
			if err != nil {
				return nil, err
			}
			var stop atomic.Bool
			go func() {
				msg := bytes.Repeat([]byte{'m'}, 100)
				for !stop.Load() {
					if _, err := w.Write(msg); err != nil {
						break
					}
				}
				w.Write([]byte{'.'})
			}()
			// Under Wine a write waits while the slot's queue is full
			// (Windows queues every message), and neither closing the
			// slot nor the writer's handle ends that wait: so the writer
			// is told to stop, and the slot read until the 1-byte message
			// that the writer sends last.
			stopWriter = func() error {
				stop.Store(true)
				defer w.Close()
				for {
					n, err := read()
					if err != nil {
						return err
					}
					if n == 1 {
						return nil
					}
				}
			}
		}
		rate, err := harness.Rate(d, func() error { _, err := read(); return err })
		if serr := stopWriter(); err == nil {
			err = serr
		}
		if err != nil {
			return nil, err
		}
		return harness.Sample{"rate": rate}, nil
	}
}

func mailslotWorkloads(cfg config) []harness.Workload {
	var ws []harness.Workload
	for _, child := range []bool{true, false} {
		pl := "writer in a child process"
		if !child {
			pl = "writer in the same process"
		}
		ws = append(ws, harness.Workload{Section: sectionMailslot, Name: "messages read, 100 bytes each", Placement: pl,
			Metrics: []harness.Metric{{Name: "rate", Unit: "msg/s", HigherBetter: true}},
			Contenders: []harness.Contender{
				{Name: "conduit", Note: "Slot.Read into one buffer; mailslot.Open writer", Ref: true, Run: mailslotRun("conduit", "conduit", child)},
				{Name: "raw ReadFile", Note: "CreateMailslotW, synchronous ReadFile; mailslot.Open writer", Run: mailslotRun("raw", "conduit", child)},
				{Name: "conduit, raw writer", Note: "Slot.Read into one buffer; CreateFile + WriteFile writer", Run: mailslotRun("conduit", "raw", child)},
				{Name: "raw both ends", Note: "synchronous ReadFile; CreateFile + WriteFile writer", Run: mailslotRun("raw", "raw", child)},
			}})
	}
	return ws
}
