package mailslot

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"sync"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/iocp"
	"github.com/conduit-ipc/conduit/internal/ipcname"
	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/quirks"
	"github.com/conduit-ipc/conduit/internal/winsec"
	"golang.org/x/sys/windows"
)

// MaxNameLength is the longest mailslot path that Create and Open accept, in
// UTF-16 code units, counting the \\host\mailslot\ prefix: MAX_PATH, the
// limit of CreateMailslot and CreateFile.
const MaxNameLength = 260

// BroadcastLimit is the largest message, in bytes, that Write sends to a
// \\*\mailslot\ name: domain broadcasts travel as datagrams, and the
// mailslot documentation limits them to 424 bytes. Messages to local and
// \\host\ names are not limited by it.
const BroadcastLimit = 424

// NoWait, as a read timeout (Config.ReadTimeout, SetReadTimeout), makes a
// read that finds no message queued fail with ErrTimeout at once: a timeout
// of 0 in NtCreateMailslotFile and SetMailslotInfo.
const NoWait time.Duration = -1

var (
	// ErrTimeout is wrapped by the error of a read that the slot's own read
	// timeout (Config.ReadTimeout, SetReadTimeout; STATUS_IO_TIMEOUT,
	// ERROR_SEM_TIMEOUT) ended. errors.Is(err, ErrTimeout) tells it from a
	// read deadline; like a deadline, it also matches os.ErrDeadlineExceeded
	// and has a Timeout method that reports true, so code that handles
	// timeouts in general (os.IsTimeout) handles it too.
	ErrTimeout error = timeoutError{}
	// ErrInvalidConfig is wrapped by Create's error for a Config that cannot
	// be used: a MaxMessageSize that is negative or past 2^32-1, or SDDL
	// that does not parse or has no DACL.
	ErrInvalidConfig = errors.New("invalid mailslot configuration")
	// ErrMessageTooLarge is wrapped by Write's error for a message longer
	// than BroadcastLimit to a \\*\mailslot\ name.
	ErrMessageTooLarge = errors.New("message too large")
)

// timeoutError is ErrTimeout.
type timeoutError struct{}

func (timeoutError) Error() string { return "mailslot read timed out" }
func (timeoutError) Timeout() bool { return true }
func (timeoutError) Is(target error) bool {
	return target == os.ErrDeadlineExceeded || target == windows.ERROR_SEM_TIMEOUT
}

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

// Config configures a slot: each field is a parameter of
// NtCreateMailslotFile, which CreateMailslot calls. The zero value is the
// default: any message size, reads that wait forever, and writers limited to
// the current user and LocalSystem.
type Config struct {
	// MaxMessageSize is the largest message writers may send, in bytes; a
	// larger one fails the writer's Write and is not queued.
	// NtCreateMailslotFile's MaximumMessageSize (CreateMailslot's
	// nMaxMessageSize), a 32-bit value: a negative size or one past
	// 2^32-1 is refused. Default 0: any size.
	//
	// Security: every writer that SecurityDescriptor admits can queue
	// messages of this size, and ReadMessage allocates a buffer as large as
	// the message it reads; a limit bounds what one write can cost the
	// reader.
	MaxMessageSize int

	// ReadTimeout is how long a read waits for a message before it fails
	// with ErrTimeout: NtCreateMailslotFile's ReadTimeout (CreateMailslot's
	// lReadTimeout), changed later by SetReadTimeout (SetMailslotInfo).
	// Default 0: forever. NoWait, or any negative value, does not wait at
	// all. The kernel counts it in whole milliseconds, as CreateMailslot
	// and SetMailslotInfo take it, so a positive timeout is rounded up to
	// the next millisecond: even 1 ns waits 1 ms, and never forever. It is
	// independent of SetReadDeadline: a read ends at whichever comes first.
	// It has no security consequence.
	ReadTimeout time.Duration

	// SecurityDescriptor, in SDDL, says who may open the slot to write to
	// it: NtCreateMailslotFile's security descriptor (CreateMailslot's
	// lpSecurityAttributes). Default: owned by the current user, with a
	// protected DACL that grants access to that user and LocalSystem only.
	//
	// Security: a message carries no sender's identity, so whoever the
	// descriptor admits can write anything the reader will take as
	// genuine. "D:(A;;GA;;;WD)" admits everyone, as CreateMailslot with no
	// security attributes effectively does for local writers.
	SecurityDescriptor string
}

// Info describes a slot's queue, as GetMailslotInfo
// (NtQueryInformationFile, FileMailslotQueryInformation) reports it.
type Info struct {
	NextSize       int           // size of the next message, -1 if none is queued
	Messages       int           // number of messages queued
	MaxMessageSize int           // Config.MaxMessageSize: 0 for any size
	ReadTimeout    time.Duration // as configured: 0 forever, NoWait none
}

// Slot is a mailslot server: it reads the messages writers send. Its methods
// may be called from several goroutines; each message goes to one reader.
//
// On Windows its handle is overlapped and read through the completion port
// (internal/iocp): a waiting read blocks no OS thread and obeys
// SetReadDeadline and Close.
type Slot struct {
	path string

	// f holds the handle and is the one to Close. It is on the completion
	// port, unless the handle is synchronous (only Wine makes it so).
	f *iocp.File
	// sync reads a synchronous handle; nil for an overlapped one.
	sync *quirks.SyncMailslot

	mu      sync.Mutex
	timeout time.Duration // the read timeout, as Info reports it
}

// Create creates the mailslot name with the zero Config.
func Create(name string) (*Slot, error) {
	var c Config
	return c.Create(name)
}

// Create creates the mailslot name: a short name ("x" means
// \\.\mailslot\x) or a local \\.\mailslot\ path. If a mailslot of that name
// exists, in this process or any other, Create fails with an error for which
// errors.Is(err, fs.ErrExist) holds. The name is gone when the slot is
// closed.
func (c *Config) Create(name string) (*Slot, error) {
	n, err := ipcname.ParseLocal(name, "mailslot", MaxNameLength)
	if err != nil {
		return nil, &os.PathError{Op: "create", Path: name, Err: err}
	}
	fail := func(err error) (*Slot, error) {
		return nil, &os.PathError{Op: "create", Path: n.Path, Err: err}
	}
	// NtCreateMailslotFile takes a ULONG: a size past it would be cut to
	// its low 32 bits (1<<32 to 0, any size).
	if c.MaxMessageSize < 0 || uint64(c.MaxMessageSize) > math.MaxUint32 {
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
	timeout := createTimeout(c.ReadTimeout)
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
		// Wine makes every mailslot handle synchronous: see the quirk.
		s.f = iocp.Synchronous(h)
		s.sync = quirks.NewSyncMailslot(s.f)
		return s, nil
	}
	// NoFastRead: a mailslot read carries the slot's read timeout, which
	// the fast path's cancel-and-reissue would start again.
	s.f, err = iocp.NewFile(h, iocp.Options{NoFastRead: true})
	if err != nil {
		windows.CloseHandle(h)
		return fail(err)
	}
	return s, nil
}

// createTimeout is NtCreateMailslotFile's ReadTimeout for a Config's: in
// 100 ns units, negative for relative, and -1 (all bits set) for forever,
// as CreateMailslot passes it (ms * -10000). It is in whole milliseconds,
// as CreateMailslot's are, rounded up as SetMailslotInfo's are (timeoutMS):
// a timeout shorter than 100 ns is 1 ms, not -1, which would mean forever.
func createTimeout(d time.Duration) int64 {
	ms := timeoutMS(d)
	if ms == nt.MAILSLOT_WAIT_FOREVER {
		return -1
	}
	return int64(ms) * -10000
}

// timeoutMS converts a read timeout to SetMailslotInfo's milliseconds,
// rounding up so that a read never ends before its time.
func timeoutMS(d time.Duration) uint32 {
	switch {
	case d < 0:
		return 0
	case d == 0:
		return nt.MAILSLOT_WAIT_FOREVER
	case d > (nt.MAILSLOT_WAIT_FOREVER-1)*time.Millisecond:
		return nt.MAILSLOT_WAIT_FOREVER - 1 // and d + 1 ms - 1 would overflow
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	return uint32(min(ms, nt.MAILSLOT_WAIT_FOREVER-1))
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
// b is the kernel's until the read completes; Read does not return before.
//
// A message says nothing of who sent it: see Config.SecurityDescriptor.
func (s *Slot) Read(b []byte) (int, error) {
	n, err := s.read(b)
	return n, s.pathError("read", err)
}

// ReadMessage waits for the next message and returns it whole, whatever its
// size; a zero-length message is an empty, non-nil slice.
func (s *Slot) ReadMessage() ([]byte, error) {
	if s.sync != nil {
		pb := bufPool.Get().(*[]byte)
		defer bufPool.Put(pb)
		msg, err := s.sync.ReadMessage(*pb, s.readTimeout())
		return msg, s.pathError("read", readError(err))
	}
	// An overlapped read refuses a buffer shorter than the message and
	// keeps the message queued, so the first read goes straight into a
	// 64 KiB buffer, enough for most messages, and only a longer one costs
	// a GetMailslotInfo for its size.
	size := 0
	for {
		msg, err := s.readMessage(size)
		if !errors.Is(err, io.ErrShortBuffer) {
			return msg, s.pathError("read", err)
		}
		info, err := s.info()
		if err != nil {
			return nil, s.pathError("read", err)
		}
		// -1 if another reader took it meanwhile: wait again.
		size = info.NextSize
	}
}

// readMessage reads the next message into a buffer of size bytes, or into
// a pooled one when size is no larger than that, and returns the message in
// a slice of its own.
func (s *Slot) readMessage(size int) ([]byte, error) {
	if size > readMessageBuffer {
		buf := make([]byte, size)
		n, err := s.read(buf)
		if err != nil {
			return nil, err
		}
		return buf[:n:n], nil
	}
	pb := bufPool.Get().(*[]byte)
	defer bufPool.Put(pb)
	n, err := s.read(*pb)
	if err != nil {
		return nil, err
	}
	return append([]byte{}, (*pb)[:n]...), nil
}

// readMessageBuffer is the buffer ReadMessage reads into when it does not
// know the message's size; the message is copied out of it.
const readMessageBuffer = 64 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, readMessageBuffer); return &b }}

func (s *Slot) read(b []byte) (int, error) {
	var n int
	var err error
	if s.sync != nil {
		n, err = s.sync.Read(b, s.readTimeout())
	} else {
		// The read's own timeout is the slot's, in the kernel; the
		// deadline and Close cancel it.
		n, err = s.f.Read(context.Background(), b)
	}
	return n, readError(err)
}

func (s *Slot) readTimeout() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.timeout
}

// readError gives a read's Windows errors their package meanings.
func readError(err error) error {
	switch err {
	case windows.ERROR_INSUFFICIENT_BUFFER: // STATUS_BUFFER_TOO_SMALL
		return shortBuffer{}
	case windows.ERROR_SEM_TIMEOUT: // STATUS_IO_TIMEOUT
		return ErrTimeout
	}
	return err
}

// SetReadDeadline sets the deadline for pending and future reads; past it
// they fail with an error wrapping os.ErrDeadlineExceeded and the slot stays
// usable. The zero time means none. It fails with os.ErrClosed after Close.
// (Under Wine, whose mailslot handles are synchronous, a pending read sees a
// new deadline within 50 ms.)
func (s *Slot) SetReadDeadline(t time.Time) error {
	if s.f.Closed() {
		return s.pathError("setdeadline", os.ErrClosed)
	}
	if s.sync != nil {
		s.sync.SetReadDeadline(t)
	} else {
		s.f.SetReadDeadline(t)
	}
	return nil
}

// SetReadTimeout sets the slot's own read timeout for later reads, as
// SetMailslotInfo does (NtSetInformationFile,
// FileMailslotSetInformation): 0 forever, NoWait (or any negative value) not
// at all, and a positive timeout rounded up to whole milliseconds, as for
// Config.ReadTimeout.
func (s *Slot) SetReadTimeout(d time.Duration) error {
	if d < 0 {
		d = NoWait
	}
	if s.sync == nil {
		err := s.control(func(h windows.Handle) error {
			return os.NewSyscallError("SetMailslotInfo", nt.SetMailslotInfo(h, timeoutMS(d)))
		})
		if err != nil {
			return s.pathError("settimeout", err)
		}
	} else if s.f.Closed() {
		// The synchronous reads set the kernel's timeout themselves.
		return s.pathError("settimeout", os.ErrClosed)
	}
	s.mu.Lock()
	s.timeout = d
	s.mu.Unlock()
	return nil
}

// control runs fn with the handle, kept open meanwhile.
func (s *Slot) control(fn func(h windows.Handle) error) error {
	if err := s.f.Acquire(); err != nil {
		return err
	}
	defer s.f.Release()
	return fn(s.f.Handle())
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
	info := Info{NextSize: int(next), Messages: int(count), MaxMessageSize: int(max), ReadTimeout: s.readTimeout()}
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

// Close closes the slot; pending reads fail promptly with an error wrapping
// os.ErrClosed, and writers can no longer open its name. Messages still
// queued are lost. A second Close fails with os.ErrClosed.
func (s *Slot) Close() error {
	return s.pathError("close", s.f.Close())
}

// Writer sends messages to a mailslot. Its methods may be called from
// several goroutines; each Write is one message.
type Writer struct {
	path      string
	broadcast bool
	f         *iocp.File // synchronous; Close waits for a write in progress
}

// Open opens the mailslot name for writing (CreateFile with GENERIC_WRITE,
// OPEN_EXISTING): a short name, \\.\mailslot\x, \\host\mailslot\x or
// \\*\mailslot\x (every machine of the primary domain). A missing local name
// fails with an error for which errors.Is(err, fs.ErrNotExist) holds, and
// one whose security descriptor does not admit the caller with
// fs.ErrPermission; remote and broadcast names open whether or not anyone
// reads them.
//
// Security: a message to another machine travels as a datagram, neither
// authenticated nor encrypted, and whoever serves that name there reads it:
// send nothing secret that way.
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
// than BroadcastLimit bytes to a \\*\ name (with ErrMessageTooLarge);
// nothing is sent then. Write never waits for the reader: the message is
// queued or refused at once.
func (w *Writer) Write(msg []byte) (int, error) {
	if w.broadcast && len(msg) > BroadcastLimit {
		return 0, &os.PathError{Op: "write", Path: w.path,
			Err: fmt.Errorf("%w: %d bytes, a broadcast carries at most %d", ErrMessageTooLarge, len(msg), BroadcastLimit)}
	}
	if err := w.f.Acquire(); err != nil {
		return 0, &os.PathError{Op: "write", Path: w.path, Err: os.ErrClosed}
	}
	var n uint32
	err := windows.WriteFile(w.f.Handle(), msg, &n, nil)
	w.f.Release()
	if err != nil {
		return int(n), &os.PathError{Op: "write", Path: w.path, Err: err}
	}
	return int(n), nil
}

// Close closes the writer. A second Close fails with os.ErrClosed.
func (w *Writer) Close() error {
	if err := w.f.Close(); err != nil {
		if err == iocp.ErrClosed {
			err = os.ErrClosed
		}
		return &os.PathError{Op: "close", Path: w.path, Err: err}
	}
	return nil
}
