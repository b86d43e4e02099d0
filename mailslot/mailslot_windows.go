package mailslot

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/ipcname"
	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/winsec"
	"golang.org/x/sys/windows"
)

// MaxNameLength is the longest mailslot path accepted, in UTF-16 code units,
// counting the \\host\mailslot\ prefix (MAX_PATH).
const MaxNameLength = 260

// BroadcastLimit is the largest message that can be sent to a \\*\mailslot\
// name: domain broadcasts travel as datagrams (the mailslot documentation's
// limit).
const BroadcastLimit = 424

// NoWait, as a read timeout, makes a read that finds no message return
// ErrTimeout at once.
const NoWait time.Duration = -1

var (
	// ErrTimeout is wrapped by the error of a read that the slot's own read
	// timeout (Config.ReadTimeout, SetReadTimeout) ended.
	ErrTimeout = errors.New("mailslot read timed out")
	// ErrInvalidConfig is wrapped by Create's error for a bad Config.
	ErrInvalidConfig = errors.New("invalid mailslot configuration")
	// ErrMessageTooLarge is wrapped by Write's error for a message larger
	// than a broadcast can carry.
	ErrMessageTooLarge = errors.New("message too large")
)

// shortBuffer is the error of a Read whose buffer is shorter than the next
// message; the message stays queued. It matches io.ErrShortBuffer and
// ERROR_INSUFFICIENT_BUFFER.
type shortBuffer struct{}

func (shortBuffer) Error() string {
	return "buffer shorter than the next message; the message stays queued"
}
func (shortBuffer) Is(target error) bool {
	return target == io.ErrShortBuffer || target == windows.ERROR_INSUFFICIENT_BUFFER
}

// Config configures a slot. The zero value is the default.
type Config struct {
	// MaxMessageSize is the largest message writers may send, in bytes; a
	// larger one fails the writer's Write. 0 means any size.
	// NtCreateMailslotFile's MaximumMessageSize.
	MaxMessageSize int

	// ReadTimeout is how long a read waits for a message before it fails
	// with ErrTimeout. 0 means forever, NoWait (or any negative value) not
	// at all. It is the slot's own timeout (NtCreateMailslotFile's
	// ReadTimeout, SetMailslotInfo), independent of SetReadDeadline: a
	// read ends at whichever comes first.
	ReadTimeout time.Duration

	// SecurityDescriptor, in SDDL, says who may open the slot to write to
	// it. The default grants access to the current user and LocalSystem
	// only; "D:(A;;GA;;;WD)" admits everyone, as CreateMailslot with no
	// security attributes effectively does for local writers.
	SecurityDescriptor string
}

// Info describes a slot's queue (GetMailslotInfo).
type Info struct {
	NextSize       int           // size of the next message, -1 if none is queued
	Messages       int           // number of messages queued
	MaxMessageSize int           // 0 for any size
	ReadTimeout    time.Duration // as configured: 0 forever, negative no wait
}

// Slot is a mailslot server: it reads the messages writers send. Its methods
// may be called from several goroutines; each message goes to one reader.
type Slot struct {
	path string

	// Windows gives an overlapped handle, read through the runtime poller.
	f *os.File
	// Wine makes every mailslot handle synchronous whatever the create
	// options; then reads run in Blocking and deadlines are enforced with
	// the slot's own timeout.
	sf *iocp.File

	rmu sync.Mutex // serialises synchronous reads, which share the kernel timeout

	mu        sync.Mutex
	timeout   time.Duration // configured read timeout
	deadline  time.Time     // synchronous mode's read deadline
	reading   bool          // a synchronous read is under way
	kernelMS  uint32        // timeout now set on a synchronous handle
	kernelSet bool
}

// Create creates a mailslot with the zero Config.
func Create(name string) (*Slot, error) {
	var c Config
	return c.Create(name)
}

// Create creates the mailslot. The name is a short name or a local
// \\.\mailslot\ path. If a mailslot of that name exists, in this process or
// any other, Create fails with an error for which errors.Is(err, fs.ErrExist)
// holds.
func (c *Config) Create(name string) (*Slot, error) {
	n, err := ipcname.ParseLocal(name, "mailslot", MaxNameLength)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	fail := func(err error) (*Slot, error) {
		return nil, &os.PathError{Op: "create", Path: n.Path, Err: err}
	}
	if c.MaxMessageSize < 0 {
		return fail(fmt.Errorf("%w: MaxMessageSize %d", ErrInvalidConfig, c.MaxMessageSize))
	}
	sd, err := winsec.Descriptor(c.SecurityDescriptor)
	if err != nil {
		if errors.Is(err, winsec.ErrBadSDDL) {
			err = fmt.Errorf("%w: %w", ErrInvalidConfig, err)
		}
		return fail(err)
	}
	ntPath, err := windows.NewNTUnicodeString(`\??\mailslot\` + n.Name)
	if err != nil {
		return fail(err)
	}
	// The \??\mailslot link names the mailslot device case-insensitively
	// only (Wine fails a case-sensitive lookup with
	// STATUS_OBJECT_PATH_NOT_FOUND).
	oa := windows.OBJECT_ATTRIBUTES{ObjectName: ntPath, Attributes: windows.OBJ_CASE_INSENSITIVE, SecurityDescriptor: sd}
	oa.Length = uint32(unsafe.Sizeof(oa))
	// ReadTimeout in 100 ns units, negative for relative; -1 (all bits
	// set) is forever, as CreateMailslot passes it.
	timeout := int64(-1)
	switch {
	case c.ReadTimeout < 0:
		timeout = 0
	case c.ReadTimeout > 0:
		timeout = -max(int64(c.ReadTimeout/100), 1)
	}
	var h windows.Handle
	var iosb windows.IO_STATUS_BLOCK
	// CreateOptions 0: no FILE_SYNCHRONOUS_IO_*, so reads are overlapped.
	err = nt.NtCreateMailslotFile(&h, windows.GENERIC_READ|windows.SYNCHRONIZE, &oa, &iosb, 0, 0,
		uint32(c.MaxMessageSize), &timeout)
	if err != nil {
		return fail(err.(windows.NTStatus).Errno())
	}
	s := &Slot{path: n.Path, timeout: c.ReadTimeout}
	if s.timeout < 0 {
		s.timeout = NoWait
	}
	isSync, err := nt.Synchronous(h)
	if err != nil {
		windows.CloseHandle(h)
		return fail(os.NewSyscallError("NtQueryInformationFile", err))
	}
	if isSync {
		s.sf = iocp.Synchronous(h)
	} else {
		s.f = os.NewFile(uintptr(h), n.Path)
	}
	return s, nil
}

// Name returns the slot's \\.\mailslot\ path.
func (s *Slot) Name() string { return s.path }

func (s *Slot) pathError(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if err == iocp.ErrClosed {
		err = os.ErrClosed
	}
	return &os.PathError{Op: op, Path: s.path, Err: err}
}

// Read reads one message into b and returns its size; a zero-length message
// reads as 0, nil. If b is shorter than the message, Read fails with an error
// matching io.ErrShortBuffer and the message stays queued, as Windows does:
// Info tells the size to read it with, and ReadMessage does that itself.
func (s *Slot) Read(b []byte) (int, error) {
	n, err := s.read(b)
	return n, s.pathError("read", err)
}

// ReadMessage waits for the next message and returns it whole, whatever its
// size.
func (s *Slot) ReadMessage() ([]byte, error) {
	// An overlapped handle (Windows) refuses a short buffer and keeps the
	// message, so the first read goes straight into a 64 KiB buffer, enough
	// for most messages, and only a longer one costs a GetMailslotInfo. A
	// synchronous one (Wine) truncates silently, so there the size is asked
	// first.
	ask := s.sf != nil
	for {
		size := readMessageBuffer
		if ask {
			info, err := s.info()
			if err != nil {
				return nil, s.pathError("read", err)
			}
			if info.NextSize >= 0 {
				// At least 1 byte: Wine 8 answers a 0-byte read of a
				// zero-length message without taking it off the queue.
				size = max(info.NextSize, 1)
			}
		}
		if size != readMessageBuffer {
			buf := make([]byte, size)
			n, err := s.read(buf)
			if errors.Is(err, io.ErrShortBuffer) {
				continue // a longer message came first
			}
			if err != nil {
				return nil, s.pathError("read", err)
			}
			return buf[:n:n], nil
		}
		pb := bufPool.Get().(*[]byte)
		n, err := s.read(*pb)
		msg := append([]byte{}, (*pb)[:n]...)
		bufPool.Put(pb)
		if errors.Is(err, io.ErrShortBuffer) {
			ask = true // a longer message: read it at its size
			continue
		}
		if err != nil {
			return nil, s.pathError("read", err)
		}
		return msg, nil
	}
}

// readMessageBuffer is the buffer ReadMessage reads into when it does not
// know the message's size; the message is copied out of it.
const readMessageBuffer = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, readMessageBuffer); return &b }}

func (s *Slot) read(b []byte) (int, error) {
	if s.f != nil {
		n, err := s.f.Read(b)
		if err == io.EOF {
			// os.File reads a zero-byte result as io.EOF; a mailslot has no
			// end, so it was a zero-length message.
			return 0, nil
		}
		return n, readError(err)
	}
	return s.readSync(b)
}

func readError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	switch err {
	case windows.ERROR_INSUFFICIENT_BUFFER:
		return shortBuffer{}
	case windows.ERROR_SEM_TIMEOUT: // STATUS_IO_TIMEOUT
		return ErrTimeout
	}
	return err
}

// syncSlice is the longest a read on a synchronous handle waits in the
// kernel at a time. Nothing can interrupt such a read under Wine
// (CancelSynchronousIo does not reach a mailslot read there, measured), so a
// waiting read comes back this often to see a new deadline, timeout or Close.
const syncSlice = 50 * time.Millisecond

// readSync reads from a synchronous handle (Wine). It waits in slices of at
// most syncSlice, each bounded by the kernel's read timeout, until a message
// comes, the slot's own timeout or the deadline passes, or Close.
func (s *Slot) readSync(b []byte) (int, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	s.mu.Lock()
	s.reading = true
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.reading = false
		s.mu.Unlock()
	}()
	start := time.Now()
	for {
		s.mu.Lock()
		dl, timeout := s.deadline, s.timeout
		s.mu.Unlock()
		now := time.Now()
		if !dl.IsZero() && !now.Before(dl) {
			return 0, os.ErrDeadlineExceeded
		}
		if timeout > 0 && !now.Before(start.Add(timeout)) {
			return 0, ErrTimeout
		}
		wait := syncSlice
		switch {
		case timeout < 0:
			wait = NoWait
		case timeout > 0:
			wait = min(wait, start.Add(timeout).Sub(now))
		}
		if !dl.IsZero() && wait >= 0 {
			wait = min(wait, dl.Sub(now))
		}
		if err := s.setKernelTimeout(wait); err != nil {
			return 0, err
		}
		// A plain call, not iocp's Blocking: nothing could interrupt it
		// anyway, and the slice bounds how long Close waits for it.
		if err := s.sf.Acquire(); err != nil {
			return 0, err
		}
		var n uint32
		err := windows.ReadFile(s.sf.Handle(), b, &n, nil)
		s.sf.Release()
		switch {
		case err == windows.ERROR_SEM_TIMEOUT && timeout < 0:
			return 0, ErrTimeout
		case err == windows.ERROR_SEM_TIMEOUT, err == windows.ERROR_OPERATION_ABORTED:
			// A slice ended (or the rounding to milliseconds ended it a
			// little early): look at the deadline and timeout again.
			continue
		case err == windows.ERROR_BROKEN_PIPE:
			// Wine 8 fails the read of a zero-length message with
			// ERROR_BROKEN_PIPE, having taken it off the queue (measured);
			// Windows never returns it for a mailslot.
			return 0, nil
		}
		return int(n), readError(err)
	}
}

// setKernelTimeout sets a synchronous handle's read timeout when it differs
// from the one set.
func (s *Slot) setKernelTimeout(d time.Duration) error {
	ms := timeoutMS(d)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kernelSet && s.kernelMS == ms {
		return nil
	}
	if err := s.sf.Acquire(); err != nil {
		return err
	}
	defer s.sf.Release()
	if err := nt.SetMailslotInfo(s.sf.Handle(), ms); err != nil {
		return os.NewSyscallError("SetMailslotInfo", err)
	}
	s.kernelMS, s.kernelSet = ms, true
	return nil
}

// timeoutMS converts a read timeout to SetMailslotInfo's milliseconds,
// rounding up so that a read never ends before its time.
func timeoutMS(d time.Duration) uint32 {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return nt.MAILSLOT_WAIT_FOREVER
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return uint32(min(ms, nt.MAILSLOT_WAIT_FOREVER-1))
}

// SetReadDeadline sets the deadline for pending and future reads; past it
// they fail with an error wrapping os.ErrDeadlineExceeded and the slot stays
// usable. The zero time means none. (Under Wine, whose mailslot handles are
// synchronous, a pending read sees a new deadline within 50 ms.)
func (s *Slot) SetReadDeadline(t time.Time) error {
	if s.f != nil {
		return s.pathError("setdeadline", s.f.SetReadDeadline(t))
	}
	if s.sf.Closed() {
		return s.pathError("setdeadline", os.ErrClosed)
	}
	s.mu.Lock()
	s.deadline = t
	s.mu.Unlock()
	return nil
}

// SetReadTimeout sets the slot's own read timeout for later reads (0
// forever, negative not at all), as SetMailslotInfo does.
func (s *Slot) SetReadTimeout(d time.Duration) error {
	if d < 0 {
		d = NoWait
	}
	if s.f != nil {
		err := s.control(func(h windows.Handle) error {
			return os.NewSyscallError("SetMailslotInfo", nt.SetMailslotInfo(h, timeoutMS(d)))
		})
		if err != nil {
			return s.pathError("settimeout", err)
		}
	} else if s.sf.Closed() {
		return s.pathError("settimeout", os.ErrClosed)
	}
	s.mu.Lock()
	s.timeout = d
	s.mu.Unlock()
	return nil
}

// control runs fn with the handle, kept open meanwhile.
func (s *Slot) control(fn func(h windows.Handle) error) error {
	if s.f != nil {
		rc, err := s.f.SyscallConn()
		if err != nil {
			return err
		}
		var ferr error
		if err := rc.Control(func(fd uintptr) { ferr = fn(windows.Handle(fd)) }); err != nil {
			return err
		}
		return ferr
	}
	if err := s.sf.Acquire(); err != nil {
		return err
	}
	defer s.sf.Release()
	return fn(s.sf.Handle())
}

// info reads GetMailslotInfo; Info is what it means to callers.
func (s *Slot) info() (Info, error) {
	var max, next, count uint32
	err := s.control(func(h windows.Handle) error {
		return os.NewSyscallError("GetMailslotInfo", nt.GetMailslotInfo(h, &max, &next, &count, nil))
	})
	if err != nil {
		return Info{}, err
	}
	s.mu.Lock()
	info := Info{NextSize: int(next), Messages: int(count), MaxMessageSize: int(max), ReadTimeout: s.timeout}
	s.mu.Unlock()
	if next == nt.MAILSLOT_NO_MESSAGE {
		info.NextSize = -1
	}
	return info, nil
}

// Info returns the state of the slot's queue.
func (s *Slot) Info() (Info, error) {
	info, err := s.info()
	return info, s.pathError("info", err)
}

// Close closes the slot; pending reads fail with an error wrapping
// os.ErrClosed, and writers can no longer open its name. Messages still
// queued are lost.
func (s *Slot) Close() error {
	if s.f != nil {
		return s.pathError("close", s.f.Close())
	}
	return s.pathError("close", s.sf.Close())
}

// Writer sends messages to a mailslot.
type Writer struct {
	path      string
	broadcast bool
	f         *iocp.File // synchronous; Close waits for a write in progress
}

// Open opens the mailslot name for writing: a short name, \\.\mailslot\x,
// \\host\mailslot\x or \\*\mailslot\x (every machine of the primary domain).
// A missing local name fails with an error for which
// errors.Is(err, fs.ErrNotExist) holds; remote and broadcast names open
// whether or not anyone reads them.
func Open(name string) (*Writer, error) {
	n, err := ipcname.Parse(name, "mailslot", MaxNameLength)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	p, err := windows.UTF16PtrFromString(n.Path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: n.Path, Err: err}
	}
	// The server holds its end open for reading, so a writer must share read
	// access; sharing write access too lets writers open the slot side by
	// side (Wine refuses a second writer without it).
	h, err := windows.CreateFile(p, windows.GENERIC_WRITE, windows.FILE_SHARE_READ|windows.FILE_SHARE_WRITE, nil, windows.OPEN_EXISTING, 0, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: n.Path, Err: err}
	}
	return &Writer{path: n.Path, broadcast: n.Host == "*", f: iocp.Synchronous(h)}, nil
}

// Write sends msg as one message, which may be empty, and returns len(msg).
// A message larger than the slot's MaxMessageSize fails, as does one of more
// than BroadcastLimit bytes to a \\*\ name; nothing is sent then.
func (w *Writer) Write(msg []byte) (int, error) {
	if w.broadcast && len(msg) > BroadcastLimit {
		return 0, &os.PathError{Op: "write", Path: w.path,
			Err: fmt.Errorf("%w: %d bytes, a broadcast carries at most %d", ErrMessageTooLarge, len(msg), BroadcastLimit)}
	}
	// A mailslot write never waits for the reader: the message is queued or
	// refused at once.
	if err := w.f.Acquire(); err != nil {
		return 0, &os.PathError{Op: "write", Path: w.path, Err: os.ErrClosed}
	}
	var n uint32
	err := windows.WriteFile(w.f.Handle(), msg, &n, nil)
	w.f.Release()
	if err != nil {
		if err == iocp.ErrClosed {
			err = os.ErrClosed
		}
		return int(n), &os.PathError{Op: "write", Path: w.path, Err: err}
	}
	return int(n), nil
}

// Close closes the writer.
func (w *Writer) Close() error {
	if err := w.f.Close(); err != nil {
		if err == iocp.ErrClosed {
			err = os.ErrClosed
		}
		return &os.PathError{Op: "close", Path: w.path, Err: err}
	}
	return nil
}
