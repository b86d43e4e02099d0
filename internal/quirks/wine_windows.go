// Package quirks is the one place where conduit's production code takes a
// different path under Wine than on Windows. Each quirk below names what
// Wine 8 does, what Windows does, and why conduit cannot write one path
// that is right for both. Everything else is written for Windows'
// documented behaviour alone; tests may branch on Wine freely (nt.Wine).
package quirks

import (
	"os"
	"sync"
	"time"

	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// PreciseTimeouts reports whether a wait's time-out ends on time, to the
// millisecond, so that iocp's fast path can bound its waits with a plain
// time-out instead of arming a high-resolution waitable timer for each.
//
// Quirk: on Windows a wait's time-out ends on the clock tick after it (15.6
// ms unless the process raised the timer resolution), so the fast path
// arms a high-resolution timer (Windows 10 1803 and later) to end its 2 ms
// waits on time. Under Wine a time-out ends on time already (wineserver
// keeps its own timeouts), and a waitable timer is dear: each arming is a
// server round trip and each expiry wakes the server. Measured in one run,
// four interleaved rounds, the timer's path ran at 0.88x the cross-process
// ping-pong rate and 0.86x the 16-connection ping-pong rate of a plain
// time-out (other rows within the noise). The timer's path runs under Wine
// in iocp's tests.
func PreciseTimeouts() bool { return nt.Wine() }

// StatusBeforeDequeue reports whether the status block of a request that
// completes to a completion port is written when the request completes,
// before its packet is dequeued, so that iocp's fast path can wait for a
// pending write's status on the issuing thread.
//
// Quirk: Wine's server completes a request and writes its status when the
// file system answers it (measured: 861 of 889 pending 64 KiB writes were
// seen done by the fast path's wait under Wine, and without it throughput
// fell to about 0.85x in 4 of 4 interleaved rounds). Windows (Vista and
// later) runs the last stage of a thread-agnostic request's completion,
// which writes the status block and sets the file's event, in the thread
// that dequeues its packet (Doron Holan, "New for Windows Vista: thread
// agnostic I/O"), so a wait for it on the issuing thread cannot end before
// the port's own thread has it. Neither path is wrong on the other
// system, only slower: the fast wait always reads the status itself.
func StatusBeforeDequeue() bool { return nt.Wine() }

// RejectRemoteClients returns the NamedPipeType bit that refuses clients
// from other machines: FILE_PIPE_REJECT_REMOTE_CLIENTS.
//
// Quirk: Wine 8's NtCreateNamedPipeFile reads any nonzero NamedPipeType as
// FILE_PIPE_MESSAGE_TYPE, so a byte pipe created with the bit is a message
// pipe there (measured: it reports itself a message pipe, and its clients'
// reads are switched to message mode). Windows reads the bit as a flag. Wine
// has no way for remote clients to reach a pipe in the first place, so there
// the bit is left out and nothing is lost.
func RejectRemoteClients() uint32 {
	if nt.Wine() {
		return 0
	}
	return windows.FILE_PIPE_REJECT_REMOTE_CLIENTS
}

// ConnectPlaceholder reports whether a pipe instance made to hold a name
// without taking clients (namedpipe's ListenOnAccept placeholder) must be
// connected to a client end of the server's own, because the file system
// hands clients to an instance made without read or write access.
//
// Quirk: Windows leaves such an instance disconnected, and clients find the
// pipe busy (go-winio's and WireGuard's listeners rest on it); Wine 8
// connects clients to it (measured: wine-notes.md), so they would reach an
// instance that no one serves. Under Wine the placeholder is therefore made
// with read and write access and occupied by a client end of the listener's
// own, which leaves other clients finding the pipe busy, as on Windows. A
// client that dials in the moment between the two may take the placeholder
// first; the listener then closes it (that client reads io.EOF) and makes
// it again (go-winio's TestListenConnectRace does this every few rounds).
func ConnectPlaceholder() bool { return nt.Wine() }

// SyncMailslot reads a mailslot server handle that is synchronous, which
// only Wine gives: the mailslot package chooses it by the handle's mode
// (nt.Synchronous), not by asking whether Wine runs, and reads every
// overlapped handle through the completion port (internal/iocp).
//
// Quirk: Wine 8 makes every mailslot handle synchronous, whatever the create
// options (Windows makes it overlapped when no FILE_SYNCHRONOUS_IO_* option
// is given), and associating it with a completion port fails with
// ERROR_INVALID_PARAMETER (87). A read on it blocks its thread in the
// kernel, and nothing interrupts it there: CancelSynchronousIo does not
// reach a mailslot read under Wine (measured). So that Close, a new deadline
// and the slot's own timeout still end a waiting read, SyncMailslot waits in
// slices of at most syncSlice, each bounded by the handle's kernel read
// timeout (SetMailslotInfo), and between slices looks at the deadline, the
// timeout and Close; Close itself is iocp's (f.Close waits for the slice in
// progress, which Acquire announced). Wine differs in three more ways that
// are handled here:
//   - A zero-length message reads as ERROR_BROKEN_PIPE, having been taken off
//     the queue; Windows reads it as 0 bytes and success.
//   - A buffer shorter than the next message truncates it silently; Windows
//     fails the read with ERROR_INSUFFICIENT_BUFFER and keeps the message.
//     ReadMessage therefore asks the size of a queued message first.
//   - NtCreateMailslotFile reads its timeout in its own way (-1, Windows'
//     "forever", is no wait at all), so the slices set the kernel timeout
//     themselves before their first read.
//
// Reads are serialised: they share the handle's kernel timeout.
type SyncMailslot struct {
	f Handle

	rmu       sync.Mutex // held by a read from start to end
	kernelMS  uint32     // the handle's kernel read timeout, under rmu
	kernelSet bool       // kernelMS has been set

	mu       sync.Mutex
	deadline time.Time
}

// syncSlice is the longest a read on a synchronous mailslot handle waits in
// the kernel at a time, and so how long Close, a new deadline or the end of
// the slot's timeout may take to reach a waiting read.
const syncSlice = 50 * time.Millisecond

// Handle is a handle that Acquire keeps open until Release, and that Acquire
// refuses once it is being closed: an iocp.File (quirks cannot import iocp,
// which asks quirks how to wait).
type Handle interface {
	Acquire() error
	Release()
	Handle() windows.Handle
}

// NewSyncMailslot reads the mailslot handle that f holds, which
// iocp.Synchronous made of a synchronous mailslot server handle. The caller
// keeps f and closes it; reads end with Acquire's error (iocp.ErrClosed)
// then.
func NewSyncMailslot(f Handle) *SyncMailslot { return &SyncMailslot{f: f} }

// SetReadDeadline sets the deadline of pending and future reads: past it
// they fail with os.ErrDeadlineExceeded. The zero time means none. A
// pending read sees it within syncSlice.
func (m *SyncMailslot) SetReadDeadline(t time.Time) {
	m.mu.Lock()
	m.deadline = t
	m.mu.Unlock()
}

// Read reads one message into b, waiting for one for at most timeout: 0 is
// forever, a negative value not at all. It returns what a Windows read does,
// with Wine's differences undone where that is possible: a zero-length
// message reads as 0, nil; a read that timeout ends fails with
// windows.ERROR_SEM_TIMEOUT (STATUS_IO_TIMEOUT); past the deadline it fails
// with os.ErrDeadlineExceeded, and once f is closed with iocp.ErrClosed. A b
// shorter than the message receives its first len(b) bytes and the rest is
// lost: that cannot be undone.
func (m *SyncMailslot) Read(b []byte, timeout time.Duration) (int, error) {
	m.rmu.Lock()
	defer m.rmu.Unlock()
	return m.read(b, timeout)
}

// ReadMessage reads the next message whole and returns it in a new slice,
// with Read's errors. A message already queued is read at its size, so it
// is never truncated; with none queued the read waits in wait, and a message
// longer than wait that arrives meanwhile is truncated to len(wait) bytes.
func (m *SyncMailslot) ReadMessage(wait []byte, timeout time.Duration) ([]byte, error) {
	// The read lock is held from the size to the read: no other reader of
	// this slot can take the message in between.
	m.rmu.Lock()
	defer m.rmu.Unlock()
	next, err := m.nextSize()
	if err != nil {
		return nil, err
	}
	buf := wait
	if next != nt.MAILSLOT_NO_MESSAGE {
		// At least 1 byte: a 0-byte read of a zero-length message answers
		// without taking it off the queue.
		buf = make([]byte, max(next, 1))
	}
	n, err := m.read(buf, timeout)
	if err != nil {
		return nil, err
	}
	return append([]byte{}, buf[:n]...), nil
}

// nextSize returns the size of the next message queued,
// MAILSLOT_NO_MESSAGE if there is none.
func (m *SyncMailslot) nextSize() (uint32, error) {
	if err := m.f.Acquire(); err != nil {
		return 0, err
	}
	defer m.f.Release()
	var next uint32
	if err := nt.GetMailslotInfo(m.f.Handle(), nil, &next, nil, nil); err != nil {
		return 0, os.NewSyscallError("GetMailslotInfo", err)
	}
	return next, nil
}

// read is Read with rmu held.
func (m *SyncMailslot) read(b []byte, timeout time.Duration) (int, error) {
	start := time.Now()
	for {
		m.mu.Lock()
		dl := m.deadline
		m.mu.Unlock()
		now := time.Now()
		if !dl.IsZero() && !now.Before(dl) {
			return 0, os.ErrDeadlineExceeded
		}
		// This slice's kernel timeout in milliseconds: 0 for no wait, else
		// at most syncSlice, rounded up so that a read never ends before
		// its time.
		var ms uint32
		if timeout >= 0 {
			wait := syncSlice
			if timeout > 0 {
				left := start.Add(timeout).Sub(now)
				if left <= 0 {
					return 0, windows.ERROR_SEM_TIMEOUT
				}
				wait = min(wait, left)
			}
			if !dl.IsZero() {
				wait = min(wait, dl.Sub(now))
			}
			ms = uint32((wait + time.Millisecond - 1) / time.Millisecond)
		}
		n, err := m.slice(b, ms)
		switch {
		case err == windows.ERROR_SEM_TIMEOUT && timeout >= 0:
			// The slice ended (or the rounding to milliseconds ended it a
			// little early): look at the deadline, timeout and Close again.
			continue
		case err == windows.ERROR_BROKEN_PIPE:
			// A zero-length message, taken off the queue; Windows never
			// returns this for a mailslot, which has no writer end to break.
			return 0, nil
		}
		return n, err
	}
}

// slice makes one synchronous read with the kernel read timeout ms, which it
// sets first when the handle has another.
func (m *SyncMailslot) slice(b []byte, ms uint32) (int, error) {
	if err := m.f.Acquire(); err != nil {
		return 0, err
	}
	defer m.f.Release()
	if !m.kernelSet || m.kernelMS != ms {
		if err := nt.SetMailslotInfo(m.f.Handle(), ms); err != nil {
			return 0, os.NewSyscallError("SetMailslotInfo", err)
		}
		m.kernelMS, m.kernelSet = ms, true
	}
	var n uint32
	err := windows.ReadFile(m.f.Handle(), b, &n, nil)
	return int(n), err
}
