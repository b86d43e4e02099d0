package mailslot

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
	"unsafe"

	"github.com/conduit-ipc/conduit/internal/handles"
	"github.com/conduit-ipc/conduit/internal/nt"
	"github.com/conduit-ipc/conduit/internal/winsec"
	"golang.org/x/sys/windows"
)

// Messages from several goroutines and a child process arrive whole, and in
// order per writer.
func TestMessagesInOrder(t *testing.T) {
	s, name := create(t, nil)
	const writers, each, fromChild = 4, 50, 20
	var wg sync.WaitGroup
	for g := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w, err := Open(name)
			if err != nil {
				t.Error(err)
				return
			}
			defer w.Close()
			for i := range each {
				if _, err := fmt.Fprintf(w, "g%d-%d", g, i); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+name, fmt.Sprintf("CONDUIT_MAILSLOT_COUNT=%d", fromChild))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	next := map[string]int{}
	s.SetReadDeadline(time.Now().Add(60 * time.Second))
	for range writers*each + fromChild {
		msg, err := s.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		who, num, ok := strings.Cut(string(msg), "-")
		if !ok {
			t.Fatalf("message %q lost its boundaries", msg)
		}
		if want := fmt.Sprint(next[who]); num != want {
			t.Fatalf("from %s got message %s, want %s", who, num, want)
		}
		next[who]++
	}
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	if next["child"] != fromChild {
		t.Fatalf("got %d messages from the child, want %d", next["child"], fromChild)
	}
}

func TestReadMessageSizes(t *testing.T) {
	s, name := create(t, nil)
	w := open(t, name)
	big := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	for _, msg := range [][]byte{{}, {'x'}, big, {}, []byte("after")} {
		if n, err := w.Write(msg); err != nil || n != len(msg) {
			t.Fatalf("Write of %d bytes = %d, %v", len(msg), n, err)
		}
		got, err := s.ReadMessage()
		if err != nil {
			t.Fatalf("ReadMessage of a %d-byte message: %v", len(msg), err)
		}
		if !bytes.Equal(got, msg) || got == nil {
			t.Fatalf("ReadMessage = %d bytes (nil %v), want %d", len(got), got == nil, len(msg))
		}
	}
	// Read of a zero-length message is 0, nil, not io.EOF.
	w.Write(nil)
	if n, err := s.Read(make([]byte, 8)); n != 0 || err != nil {
		t.Fatalf("Read of a zero-length message = %d, %v", n, err)
	}
}

func TestShortBuffer(t *testing.T) {
	skipOnWine(t, "a Read buffer shorter than the message truncates it silently")
	s, name := create(t, nil)
	w := open(t, name)
	w.Write([]byte("hello"))
	if n, err := s.Read(make([]byte, 2)); !errors.Is(err, io.ErrShortBuffer) || n != 0 {
		t.Fatalf("Read into 2 bytes of a 5-byte message = %d, %v; want io.ErrShortBuffer", n, err)
	}
	if msg, err := s.ReadMessage(); err != nil || string(msg) != "hello" {
		t.Fatalf("the message did not stay queued: %q, %v", msg, err)
	}
}

func TestReadTimeout(t *testing.T) {
	s, name := create(t, &Config{ReadTimeout: 50 * time.Millisecond})
	start := time.Now()
	_, err := s.ReadMessage()
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("ReadMessage on an empty slot with a 50 ms timeout = %v, want ErrTimeout", err)
	}
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Fatalf("the 50 ms read timeout ended the read after %v", el)
	}
	var pe *os.PathError
	if !errors.As(err, &pe) {
		t.Fatalf("error %T is not *os.PathError", err)
	}
	if err := s.SetReadTimeout(NoWait); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Read(make([]byte, 8)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("NoWait read = %v, want ErrTimeout", err)
	}
	w := open(t, name)
	w.Write([]byte("ready"))
	if msg, err := s.ReadMessage(); err != nil || string(msg) != "ready" {
		t.Fatalf("NoWait read of a queued message = %q, %v", msg, err)
	}
	// Forever: the read waits for a message.
	s.SetReadTimeout(0)
	got := make(chan string, 1)
	go func() {
		msg, err := s.ReadMessage()
		got <- fmt.Sprint(string(msg), err)
	}()
	waitReadPending(t, s)
	w.Write([]byte("late"))
	if r := <-got; r != "late<nil>" {
		t.Fatalf("read with no timeout = %s", r)
	}
}

func TestReadDeadline(t *testing.T) {
	s, name := create(t, nil)
	s.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := s.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("ReadMessage past the deadline = %v, want os.ErrDeadlineExceeded", err)
	}
	// A deadline set while a read waits ends that read.
	s.SetReadDeadline(time.Time{})
	errc := make(chan error, 1)
	go func() {
		_, err := s.ReadMessage()
		errc <- err
	}()
	waitReadPending(t, s)
	s.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	select {
	case err := <-errc:
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("pending read after SetReadDeadline = %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("a pending read outlived the deadline set while it waited")
	}
	// The slot stays usable.
	s.SetReadDeadline(time.Time{})
	open(t, name).Write([]byte("still here"))
	if msg, err := s.ReadMessage(); err != nil || string(msg) != "still here" {
		t.Fatalf("ReadMessage after the deadline = %q, %v", msg, err)
	}
}

func TestInfo(t *testing.T) {
	s, name := create(t, &Config{MaxMessageSize: 1000, ReadTimeout: 2 * time.Second})
	info, err := s.Info()
	if err != nil {
		t.Fatal(err)
	}
	want := Info{NextSize: -1, Messages: 0, MaxMessageSize: 1000, ReadTimeout: 2 * time.Second}
	if info != want {
		t.Fatalf("Info of an empty slot = %+v, want %+v", info, want)
	}
	w := open(t, name)
	w.Write([]byte("12345"))
	w.Write([]byte("1234567"))
	info, err = s.Info()
	if err != nil {
		t.Fatal(err)
	}
	if info.NextSize != 5 {
		t.Errorf("NextSize = %d, want 5", info.NextSize)
	}
	// The count is TestInfoMessageCount's, which Wine gets wrong.
	s.ReadMessage()
	if info, _ := s.Info(); info.NextSize != 7 {
		t.Errorf("NextSize after one read = %d, want 7", info.NextSize)
	}
	s.SetReadTimeout(NoWait)
	if info, _ := s.Info(); info.ReadTimeout != NoWait {
		t.Errorf("ReadTimeout after SetReadTimeout(NoWait) = %v", info.ReadTimeout)
	}
}

func TestInfoMessageCount(t *testing.T) {
	skipOnWine(t, "the message count reads 1 however many messages are queued")
	s, name := create(t, nil)
	w := open(t, name)
	for i := range 3 {
		w.Write([]byte{byte(i)})
	}
	if info, err := s.Info(); err != nil || info.Messages != 3 {
		t.Fatalf("Info = %+v, %v; want 3 messages", info, err)
	}
}

func TestMaxMessageSize(t *testing.T) {
	skipOnWine(t, "the maximum message size is not enforced")
	s, name := create(t, &Config{MaxMessageSize: 10})
	w := open(t, name)
	if _, err := w.Write(make([]byte, 11)); err == nil {
		t.Fatal("Write of 11 bytes to a slot of 10 at most succeeded")
	}
	if _, err := w.Write([]byte("0123456789")); err != nil {
		t.Fatal(err)
	}
	if msg, err := s.ReadMessage(); err != nil || string(msg) != "0123456789" {
		t.Fatalf("ReadMessage = %q, %v; the oversized message must not arrive", msg, err)
	}
}

func TestBroadcastLimit(t *testing.T) {
	w := &Writer{path: `\\*\mailslot\x`, broadcast: true}
	if _, err := w.Write(make([]byte, BroadcastLimit+1)); !errors.Is(err, ErrMessageTooLarge) {
		t.Fatalf("broadcast of %d bytes = %v, want ErrMessageTooLarge", BroadcastLimit+1, err)
	}
}

func TestDuplicateCreate(t *testing.T) {
	_, name := create(t, nil)
	if s, err := Create(name); !errors.Is(err, fs.ErrExist) {
		if s != nil {
			s.Close()
		}
		t.Fatalf("second Create of %q = %v, want fs.ErrExist", name, err)
	}
}

func TestOpenMissing(t *testing.T) {
	if _, err := Open(testName(t)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a missing slot = %v, want fs.ErrNotExist", err)
	}
	// Closed slots are gone too.
	s, name := create(t, nil)
	s.Close()
	if _, err := Open(name); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Open of a closed slot = %v, want fs.ErrNotExist", err)
	}
}

func TestCloseUnblocksRead(t *testing.T) {
	s, _ := create(t, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := s.ReadMessage()
		errc <- err
	}()
	waitReadPending(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, os.ErrClosed) {
		t.Fatalf("pending read after Close = %v, want os.ErrClosed", err)
	}
	if err := s.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := s.Info(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Info after Close = %v", err)
	}
}

func TestWriterClose(t *testing.T) {
	_, name := create(t, nil)
	w, err := Open(name)
	if err != nil {
		t.Fatal(err)
	}
	w.Close()
	if _, err := w.Write([]byte("x")); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Write after Close = %v", err)
	}
	if err := w.Close(); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
}

func TestBadInput(t *testing.T) {
	for _, name := range []string{"", "a\x00b", `\\.\pipe\x`, `\\.\mailslot\`, `\\host\mailslot\x`, `\\*\mailslot\x`, strings.Repeat("x", 300)} {
		if _, err := Create(name); !isPathError(err) {
			t.Errorf("Create(%q) = %v, want *os.PathError", name, err)
		}
	}
	for _, name := range []string{"", `\\.\pipe\x`, strings.Repeat("x", 300)} {
		if _, err := Open(name); !isPathError(err) {
			t.Errorf("Open(%q) = %v, want *os.PathError", name, err)
		}
	}
	for _, c := range []Config{{MaxMessageSize: -1}, {SecurityDescriptor: "not SDDL"}} {
		if _, err := c.Create(testName(t)); !errors.Is(err, ErrInvalidConfig) || !isPathError(err) {
			t.Errorf("%+v.Create = %v, want ErrInvalidConfig", c, err)
		}
	}
}

func isPathError(err error) bool {
	var pe *os.PathError
	return errors.As(err, &pe)
}

// Without SecurityDescriptor the slot admits its owner and LocalSystem only.
func TestDefaultSecurity(t *testing.T) {
	s, _ := create(t, nil)
	var sd *windows.SECURITY_DESCRIPTOR
	err := s.control(func(h windows.Handle) error {
		var err error
		sd, err = windows.GetSecurityInfo(h, windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	user, err := winsec.CurrentUser()
	if err != nil {
		t.Fatal(err)
	}
	dacl, _, err := sd.DACL()
	if err != nil || dacl == nil {
		t.Fatalf("DACL %v, %v", dacl, err)
	}
	var sids []string
	for i := range uint32(dacl.AceCount) {
		var ace *windows.ACCESS_ALLOWED_ACE
		if err := windows.GetAce(dacl, i, &ace); err != nil {
			t.Fatal(err)
		}
		sids = append(sids, (*windows.SID)(unsafe.Pointer(&ace.SidStart)).String())
	}
	want := user + ",S-1-5-18"
	if user == "S-1-5-18" {
		want = user
	}
	if got := strings.Join(sids, ","); got != want {
		t.Fatalf("DACL grants %s, want exactly %s (%s)", got, want, sd)
	}
}

// 300 cycles of create, open, write, read and close leave the handle count
// where it began, or lower (a handle the runtime or the system held may have
// gone meanwhile), but for the 4 handles Go's runtime keeps for each OS
// thread it starts (two events, the thread's handle and a timer:
// runtime/os_windows.go), which the cycles may have needed.
func TestNoLeaks(t *testing.T) {
	count := func() int {
		n, err := handles.Owned()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	threads := func() int {
		n, err := nt.ThreadCount()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cycle := func() {
		s, name := create(t, nil)
		w := open(t, name)
		w.Write([]byte("x"))
		if _, err := s.ReadMessage(); err != nil {
			t.Fatal(err)
		}
		w.Close()
		s.Close()
	}
	cycle()
	before, threadsBefore := count(), threads()
	for range 300 {
		cycle()
	}
	// And 16 for handles made once, on first need; a handle leaked per
	// cycle would be 300 more.
	allowed := before + 4*max(threads()-threadsBefore, 0) + 16
	if after := count(); after > allowed {
		t.Fatalf("handles: %d before 300 cycles, %d after (allowed %d)", before, after, allowed)
	}
}
