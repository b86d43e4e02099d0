//go:build linux || darwin || freebsd || windows

package ipc

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The test binary re-executes itself as a child process; the child's role
// and arguments are in this variable.
const childEnv = "CONDUIT_IPC_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(strings.Fields(role)))
	}
	os.Exit(m.Run())
}

// runChild plays a child process's role:
//   - "file NAME MESSAGE": dials NAME, receives a file, and writes back
//     what it reads from the file.
func runChild(args []string) int {
	fail := func(what string, err error) int {
		fmt.Fprintln(os.Stderr, "child", what+":", err)
		return 2
	}
	switch args[0] {
	case "file":
		cfg := Config{MessageMode: args[2] == "message"}
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		c, err := cfg.Dial(ctx, args[1])
		if err != nil {
			return fail("dial", err)
		}
		defer c.Close()
		f, err := c.ReceiveFile()
		if err != nil {
			return fail("receive", err)
		}
		data, err := io.ReadAll(f)
		f.Close()
		if err != nil {
			return fail("read the file", err)
		}
		if _, err := c.Write(data); err != nil {
			return fail("write", err)
		}
		return 0 // Close, deferred, ends the parent's read
	}
	if code, ok := platformChild(args); ok {
		return code
	}
	fmt.Fprintln(os.Stderr, "unknown child role", args)
	return 1
}

var seq atomic.Int64

// testName returns a short name no other test or process uses.
func testName() string {
	return fmt.Sprintf("conduit-ipc-%d-%d", os.Getpid(), seq.Add(1))
}

// listen listens on a fresh name with cfg and closes the listener when the
// test ends.
func listen(t testing.TB, cfg *Config) (*Listener, string) {
	t.Helper()
	if cfg == nil {
		cfg = &Config{}
	}
	name := testName()
	l, err := cfg.Listen(name)
	if err != nil {
		t.Fatalf("Listen(%q): %v", name, err)
	}
	t.Cleanup(func() { l.Close() })
	return l, name
}

// acceptOne accepts one connection on a goroutine of its own: the channel
// gets it, or nil after t.Error.
func acceptOne(t testing.TB, l *Listener) <-chan *Conn {
	accepted := make(chan *Conn, 1)
	go func() {
		c, err := l.AcceptIPC()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	return accepted
}

// pair returns both ends of a connection made with cfg.
func pair(t testing.TB, cfg *Config) (server, client *Conn) {
	t.Helper()
	if cfg == nil {
		cfg = &Config{}
	}
	l, name := listen(t, cfg)
	accepted := acceptOne(t, l)
	client, err := cfg.Dial(t.Context(), name)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	server = <-accepted
	if server == nil {
		t.FailNow()
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestEchoSHA256(t *testing.T) {
	for _, message := range []bool{false, true} {
		t.Run(fmt.Sprint("message=", message), func(t *testing.T) {
			server, client := pair(t, &Config{MessageMode: message})
			go func() {
				buf := make([]byte, 100_000)
				for {
					n, err := server.Read(buf)
					if err != nil {
						return
					}
					if _, err := server.Write(buf[:n]); err != nil {
						return
					}
				}
			}()
			data := make([]byte, 4<<20)
			rand.Read(data)
			go func() {
				for b := data; len(b) > 0; {
					n := min(len(b), 70_000)
					if _, err := client.Write(b[:n]); err != nil {
						t.Error(err)
						return
					}
					b = b[n:]
				}
			}()
			h := sha256.New()
			n, err := io.Copy(h, io.LimitReader(client, int64(len(data))))
			if err != nil || n != int64(len(data)) {
				t.Fatalf("echoed %d bytes, %v; want %d", n, err, len(data))
			}
			if want := sha256.Sum256(data); !bytes.Equal(h.Sum(nil), want[:]) {
				t.Fatal("echoed data's SHA-256 differs")
			}
		})
	}
}

func TestPeerCredentials(t *testing.T) {
	server, client := pair(t, nil)
	me := myUserID(t)
	for _, c := range []struct {
		end  string
		conn *Conn
	}{{"server sees client", server}, {"client sees server", client}} {
		cred, err := c.conn.PeerCredentials()
		if err != nil {
			t.Fatalf("%s: %v", c.end, err)
		}
		if cred.UserID != me || cred.PID != os.Getpid() {
			t.Errorf("%s: %+v; want user %s, pid %d", c.end, cred, me, os.Getpid())
		}
		if cred.UserName == "" {
			t.Errorf("%s: no user name in %+v", c.end, cred)
		}
	}
}

// messages are the message sizes every message-mode test sends: empty,
// one byte, and larger than any socket or pipe buffer.
var messageSizes = []int{0, 1, 5, 1 << 20, 0, 3}

func TestMessageBoundaries(t *testing.T) {
	for _, framing := range framings() {
		t.Run(framing, func(t *testing.T) {
			useFraming(t, framing)
			server, client := pair(t, &Config{MessageMode: true})
			var sent [][]byte
			for i, size := range messageSizes {
				m := bytes.Repeat([]byte{byte(i + 1)}, size)
				sent = append(sent, m)
			}
			go func() {
				for _, m := range sent {
					if err := client.WriteMessage(m); err != nil {
						t.Error(err)
						return
					}
				}
			}()
			for i, want := range sent {
				got, err := server.ReadMessage()
				if err != nil {
					t.Fatalf("message %d: %v", i, err)
				}
				if got == nil || !bytes.Equal(got, want) {
					t.Fatalf("message %d: %d bytes, want %d", i, len(got), len(want))
				}
			}
			// Read returns one message's bytes at a time, the rest of a
			// long one on the next calls.
			go func() {
				client.WriteMessage([]byte("abcdefgh"))
				client.WriteMessage([]byte("xy"))
			}()
			buf := make([]byte, 3)
			for _, want := range []string{"abc", "def", "gh", "xy"} {
				n, err := server.Read(buf)
				if err != nil || string(buf[:n]) != want {
					t.Fatalf("Read = %q, %v; want %q", buf[:n], err, want)
				}
			}
			if err := client.CloseWrite(); err != nil {
				t.Fatal(err)
			}
			if m, err := server.ReadMessage(); err != io.EOF {
				t.Fatalf("ReadMessage after CloseWrite = %q, %v; want io.EOF", m, err)
			}
		})
	}
}

// CloseWrite in message mode does not wait for the peer to read, as
// shutdown(2) does not: the peer reads what came first, then io.EOF, and
// writes after it fail.
func TestCloseWriteDoesNotWait(t *testing.T) {
	server, client := pair(t, &Config{MessageMode: true})
	if err := client.WriteMessage([]byte("unread")); err != nil {
		t.Fatal(err)
	}
	closed := make(chan error, 1)
	go func() { closed <- client.CloseWrite() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("CloseWrite: %v", err)
		}
	case <-time.After(10 * time.Second): // a watchdog, not a wait
		t.Fatal("CloseWrite waited for the peer to read")
	}
	if err := client.WriteMessage([]byte("late")); err == nil {
		t.Fatal("WriteMessage after CloseWrite succeeded")
	}
	if m, err := server.ReadMessage(); err != nil || string(m) != "unread" {
		t.Fatalf("ReadMessage = %q, %v; want \"unread\"", m, err)
	}
	if m, err := server.ReadMessage(); err != io.EOF {
		t.Fatalf("ReadMessage after CloseWrite = %q, %v; want io.EOF", m, err)
	}
}

// A file passes to a child process, which reads it through the descriptor
// or handle it received and sends back what it read.
func TestSendFileToChild(t *testing.T) {
	for _, mode := range []string{"stream", "message"} {
		t.Run(mode, func(t *testing.T) {
			if windowsOS && mode == "stream" {
				server, _ := pair(t, nil)
				if err := server.SendFile(os.Stdin); !errors.Is(err, errors.ErrUnsupported) {
					t.Fatalf("SendFile on a Windows byte stream = %v, want errors.ErrUnsupported", err)
				}
				t.Skip("windows: files pass in message mode only")
			}
			l, name := listen(t, &Config{MessageMode: mode == "message"})
			want := fmt.Sprintf("the file's contents, for pid %d", os.Getpid())
			f, err := os.CreateTemp("", "conduit-ipc-file")
			if err != nil {
				t.Fatal(err)
			}
			defer os.Remove(f.Name())
			defer f.Close()
			if _, err := f.WriteString(want); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=file "+name+" "+mode)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Wait()
			c, err := l.AcceptIPC()
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if cred, err := c.PeerCredentials(); err != nil || cred.PID != cmd.Process.Pid {
				t.Errorf("the child's credentials %+v, %v; want pid %d", cred, err, cmd.Process.Pid)
			}
			if err := c.SendFile(f); err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(c)
			if err != nil || string(got) != want {
				t.Fatalf("the child read %q, %v from the file; want %q (stderr: %s)", got, err, want, stderr.String())
			}
			c.Close()
			if err := cmd.Wait(); err != nil {
				t.Fatalf("child: %v (stderr: %s)", err, stderr.String())
			}
		})
	}
}

// Files and data keep their order, and a read that finds the other kind
// leaves it for the right call.
func TestFileOrdering(t *testing.T) {
	for _, framing := range framings() {
		t.Run(framing, func(t *testing.T) {
			useFraming(t, framing)
			server, client := pair(t, &Config{MessageMode: true})
			f, err := os.Open(os.Args[0])
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			go func() {
				client.WriteMessage([]byte("before"))
				client.SendFile(f)
				client.WriteMessage([]byte("after"))
			}()
			if _, err := server.ReceiveFile(); !errors.Is(err, ErrNoFile) {
				t.Fatalf("ReceiveFile with a message next = %v, want ErrNoFile", err)
			}
			if m, err := server.ReadMessage(); err != nil || string(m) != "before" {
				t.Fatalf("ReadMessage = %q, %v", m, err)
			}
			if m, err := server.ReadMessage(); !errors.Is(err, ErrFileNext) {
				t.Fatalf("ReadMessage with a file next = %q, %v; want ErrFileNext", m, err)
			}
			g, err := server.ReceiveFile()
			if err != nil {
				t.Fatal(err)
			}
			g.Close()
			if m, err := server.ReadMessage(); err != nil || string(m) != "after" {
				t.Fatalf("ReadMessage after the file = %q, %v", m, err)
			}
		})
	}
}

// A message that Read began and ReadMessage finished is over: what comes
// next, a file, then the end, is read as such.
func TestReadThenReadMessage(t *testing.T) {
	for _, framing := range framings() {
		t.Run(framing, func(t *testing.T) {
			useFraming(t, framing)
			server, client := pair(t, &Config{MessageMode: true})
			big := bytes.Repeat([]byte("x"), 100<<10)
			go func() {
				client.WriteMessage(big)
				client.SendFile(os.Stdin)
				client.CloseWrite()
			}()
			if n, err := server.Read(make([]byte, 10)); n != 10 || err != nil {
				t.Fatalf("Read = %d, %v", n, err)
			}
			if m, err := server.ReadMessage(); err != nil || len(m) != len(big)-10 {
				t.Fatalf("ReadMessage of the rest = %d bytes, %v; want %d", len(m), err, len(big)-10)
			}
			f, err := server.ReceiveFile()
			if err != nil {
				t.Fatalf("ReceiveFile after the message: %v", err)
			}
			f.Close()
			if m, err := server.ReadMessage(); err != io.EOF {
				t.Fatalf("ReadMessage at the end = %q, %v; want io.EOF", m, err)
			}
		})
	}
}

// A file sent and never received is closed with the connection: a pipe's
// read end, sent and left, no longer keeps the pipe open once the receiver
// closes the connection, so the writer's next write fails.
func TestFileNeverReceivedIsClosed(t *testing.T) {
	for _, framing := range framings() {
		t.Run(framing, func(t *testing.T) {
			useFraming(t, framing)
			server, client := pair(t, &Config{MessageMode: true})
			r, w, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			if err := client.SendFile(r); err != nil {
				t.Fatal(err)
			}
			r.Close() // the copy in flight is the pipe's last read end
			if err := client.WriteMessage([]byte("sync")); err != nil {
				t.Fatal(err)
			}
			// The file is in the receiver's queue (a send returns once it
			// is), not taken; the receiver closes.
			server.Close()
			if _, err := w.Write([]byte("x")); err == nil {
				t.Fatal("a write to the pipe succeeded: the file sent and never received is still open")
			}
		})
	}
}

// Authorize refuses a client: it is closed and never returned by Accept,
// which goes on to the next one.
func TestAuthorize(t *testing.T) {
	var calls atomic.Int32
	cfg := &Config{Authorize: func(c Credentials) error {
		if calls.Add(1) == 1 {
			return errors.New("not the first")
		}
		if c.UserName == "" {
			return errors.New("no user name to decide on")
		}
		return nil
	}}
	l, name := listen(t, cfg)
	accepted := acceptOne(t, l)
	var d Config // the client does not authorize
	refused, err := d.Dial(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer refused.Close()
	refused.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := refused.Read(make([]byte, 1)); err != io.EOF && !errors.Is(err, net.ErrClosed) && !isReset(err) {
		t.Fatalf("the refused client read %v; want the connection closed", err)
	}
	ok, err := d.Dial(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer ok.Close()
	c := <-accepted
	if c == nil {
		t.FailNow()
	}
	defer c.Close()
	if calls.Load() != 2 {
		t.Fatalf("Authorize called %d times, want 2", calls.Load())
	}
	// On Dial, Authorize checks the server.
	cfg2 := Config{Authorize: func(Credentials) error { return errors.New("not this server") }}
	if c, err := cfg2.Dial(t.Context(), name); !errors.Is(err, fs.ErrPermission) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("Dial refusing the server = %v, want fs.ErrPermission", err)
	}
}

// A peer of another user is refused, with an error naming both. Two users
// cannot be had without privileges, so the credentials are faked.
func TestOtherUserRefused(t *testing.T) {
	fakePeer(t, Credentials{PID: 4242, UserID: otherUserID})
	l, name := listen(t, nil)
	acceptDone := make(chan struct{})
	go func() {
		defer close(acceptDone)
		for {
			c, err := l.AcceptIPC()
			if err != nil {
				return
			}
			t.Error("Accept returned a peer of another user")
			c.Close()
		}
	}()
	defer func() { l.Close(); <-acceptDone }() // before the fake credentials go
	_, err := Dial(t.Context(), name)
	var pe *PeerError
	if !errors.As(err, &pe) || !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("Dial of a server of another user = %v, want a *PeerError matching fs.ErrPermission", err)
	}
	if msg := err.Error(); !strings.Contains(msg, otherUserID) || !strings.Contains(msg, myUserID(t)) {
		t.Fatalf("the error %q names not both users", msg)
	}
	// On Dial, AllowOtherUsers admits a server of any user.
	cfg := Config{AllowOtherUsers: true}
	c, err := cfg.Dial(t.Context(), name)
	if err != nil {
		t.Fatalf("Dial with AllowOtherUsers: %v", err)
	}
	c.Close()
}

func TestDialMissing(t *testing.T) {
	_, err := Dial(t.Context(), testName())
	var oe *net.OpError
	if !errors.Is(err, fs.ErrNotExist) || !errors.As(err, &oe) {
		t.Fatalf("Dial of a missing name = %v, want a *net.OpError matching fs.ErrNotExist", err)
	}
	// WaitForServer waits for it.
	name := testName()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		cfg := Config{WaitForServer: true}
		c, err := cfg.Dial(ctx, name)
		if err == nil {
			c.Close()
		}
		done <- err
	}()
	l, err := Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	if err := <-done; err != nil {
		t.Fatalf("Dial waiting for the server: %v", err)
	}
}

func TestListenNameInUse(t *testing.T) {
	_, name := listen(t, nil)
	if l, err := Listen(name); !errors.Is(err, fs.ErrExist) {
		if l != nil {
			l.Close()
		}
		t.Fatalf("a second Listen = %v, want fs.ErrExist", err)
	}
}

func TestCloseErrors(t *testing.T) {
	l, name := listen(t, nil)
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Close()
		}
	}()
	c, err := Dial(t.Context(), name)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Read after Close = %v, want net.ErrClosed", err)
	}
	l.Close()
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Accept after Close = %v, want net.ErrClosed", err)
	}
	if err := l.Close(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Close = %v, want net.ErrClosed", err)
	}
}

func TestDeadline(t *testing.T) {
	for _, message := range []bool{false, true} {
		_, client := pair(t, &Config{MessageMode: message})
		client.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		if _, err := client.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("message %v: Read past the deadline = %v, want os.ErrDeadlineExceeded", message, err)
		}
		if message {
			if _, err := client.ReadMessage(); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("ReadMessage past the deadline = %v, want os.ErrDeadlineExceeded", err)
			}
		}
	}
}

func TestParseAddress(t *testing.T) {
	for _, c := range []struct{ in, unix, windows string }{
		{"myapp", "myapp", "myapp"},
		{"/run/app.sock", "/run/app.sock", "/run/app.sock"},
		{"unix:///run/app.sock", "/run/app.sock", "!"},
		{"unix:/run/app.sock", "/run/app.sock", "!"},
		{"unix:app.sock", "./app.sock", "!"},
		{"unix:rel/app.sock", "rel/app.sock", "!"},
		{"unix://host/run/app.sock", "!", "!"},
		{"npipe:////./pipe/docker_engine", "!", `\\.\pipe\docker_engine`},
		{"npipe://./pipe/x", "!", `\\.\pipe\x`},
		{`\\.\pipe\x`, `\\.\pipe\x`, `\\.\pipe\x`},
		{`C:\x`, `C:\x`, `C:\x`},
		{"tcp://localhost:1", "!", "!"},
	} {
		want := c.unix
		if windowsOS {
			want = c.windows
		}
		got, err := ParseAddress(c.in)
		if want == "!" {
			if !errors.Is(err, ErrUnsupportedAddress) {
				t.Errorf("ParseAddress(%q) = %q, %v; want ErrUnsupportedAddress", c.in, got, err)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseAddress(%q) = %q, %v; want %q", c.in, got, err, want)
		}
	}
}

// A listener closed while a connection it accepted lives: Listen of the
// same name with the same Config works again, on every OS, and both the old
// connection and the new listener serve (issue 15, item 8: on Windows the
// pipe's name lived on in the connection and Listen failed with "pipe name
// in use").
func TestListenAgainWhileConnectionLives(t *testing.T) {
	for _, message := range modes() {
		t.Run(fmt.Sprint("message=", message), func(t *testing.T) {
			cfg := &Config{MessageMode: message}
			l, name := listen(t, cfg)
			accepted := acceptOne(t, l)
			c, err := cfg.Dial(t.Context(), name)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			srv := <-accepted
			if srv == nil {
				t.FailNow()
			}
			defer srv.Close()
			l.Close()
			l2, err := cfg.Listen(name)
			if err != nil {
				t.Fatalf("Listen again while the first listener's connection lives: %v", err)
			}
			defer l2.Close()
			// The old connection still carries data.
			c.SetDeadline(time.Now().Add(20 * time.Second))
			srv.SetDeadline(time.Now().Add(20 * time.Second))
			if err := echoThrough(c, srv, message); err != nil {
				t.Fatalf("the first listener's connection after the second Listen: %v", err)
			}
			// And the new listener serves a new client.
			accepted2 := acceptOne(t, l2)
			c2, err := cfg.Dial(t.Context(), name)
			if err != nil {
				t.Fatalf("Dial of the second listener: %v", err)
			}
			defer c2.Close()
			srv2 := <-accepted2
			if srv2 == nil {
				t.FailNow()
			}
			defer srv2.Close()
			c2.SetDeadline(time.Now().Add(20 * time.Second))
			srv2.SetDeadline(time.Now().Add(20 * time.Second))
			if err := echoThrough(c2, srv2, message); err != nil {
				t.Fatalf("the second listener's connection: %v", err)
			}
		})
	}
}

// echoThrough sends one message or line from a to b and checks it arrives.
func echoThrough(a, b *Conn, message bool) error {
	const msg = "through"
	var err error
	if message {
		err = a.WriteMessage([]byte(msg))
	} else {
		_, err = a.Write([]byte(msg))
	}
	if err != nil {
		return err
	}
	var got []byte
	if message {
		got, err = b.ReadMessage()
	} else {
		buf := make([]byte, len(msg))
		_, err = io.ReadFull(b, buf)
		got = buf
	}
	if err != nil {
		return err
	}
	if string(got) != msg {
		return fmt.Errorf("read %q, want %q", got, msg)
	}
	return nil
}
