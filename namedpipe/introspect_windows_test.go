package namedpipe

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPeek(t *testing.T) {
	for _, message := range []bool{false, true} {
		server, client := pair(t, &ListenConfig{MessageMode: message})
		if p, err := server.Peek(); err != nil || p != (PeekInfo{}) {
			t.Fatalf("message %v: Peek of an empty pipe = %+v, %v", message, p, err)
		}
		client.Write([]byte("hello"))
		client.Write([]byte("world!!"))
		want := PeekInfo{Available: 12}
		if message {
			want.MessageRemaining = 5
		}
		if p, err := server.Peek(); err != nil || p != want {
			t.Fatalf("message %v: Peek = %+v, %v; want %+v", message, p, err, want)
		}
		server.Read(make([]byte, 5))
		want = PeekInfo{Available: 7}
		if message {
			want.MessageRemaining = 7
		}
		if p, err := server.Peek(); err != nil || p != want {
			t.Fatalf("message %v: Peek after a read = %+v, %v; want %+v", message, p, err, want)
		}
	}
}

func TestInfo(t *testing.T) {
	cfg := &ListenConfig{MessageMode: true, Direction: Duplex, MaxInstances: 5, Backlog: 2, InputBufferSize: 8192, OutputBufferSize: 16384}
	server, client := pair(t, cfg)
	client.Write([]byte("abc"))
	si, err := server.Info()
	if err != nil {
		t.Fatal(err)
	}
	want := Info{MessageType: true, MessageReadMode: true, Direction: Duplex, MaxInstances: 5,
		CurrentInstances: si.CurrentInstances, InputBufferSize: 8192, OutputBufferSize: 16384,
		ReadAvailable: 3, WriteQuotaLeft: si.WriteQuotaLeft, ServerEnd: true, State: StateConnected}
	if si != want {
		t.Errorf("server Info = %+v\nwant %+v", si, want)
	}
	// The connected instance and the backlog of 2 behind it.
	if si.CurrentInstances != 3 {
		t.Errorf("CurrentInstances = %d, want 3 (one connected, two listening)", si.CurrentInstances)
	}
	ci, err := client.Info()
	if err != nil {
		t.Fatal(err)
	}
	if ci.ServerEnd || !ci.MessageReadMode || !ci.MessageType || ci.State != StateConnected || ci.MaxInstances != 5 {
		t.Errorf("client Info = %+v", ci)
	}
	client.Close()
	if si, _ := server.Info(); si.State != StateClosing {
		t.Errorf("server State after the client closed = %v, want closing", si.State)
	}

	for _, d := range []Direction{Inbound, Outbound} {
		s, _ := pair(t, &ListenConfig{Direction: d})
		if i, err := s.Info(); err != nil || i.Direction != d || i.MaxInstances != 0 || i.MessageReadMode {
			t.Errorf("%v pipe: Info = %+v, %v", d, i, err)
		}
	}
}

func TestInfoByteType(t *testing.T) {
	s, c := pair(t, nil)
	for _, end := range []*Conn{s, c} {
		if i, err := end.Info(); err != nil || i.MessageType || i.MessageReadMode {
			t.Errorf("byte pipe: Info = %+v, %v", i, err)
		}
	}
}

// echoServer answers each message with it in upper case, until the client
// leaves.
func echoServer(t *testing.T, l *Listener) {
	go func() {
		for {
			c, err := l.AcceptPipe()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				for {
					m, err := c.ReadMessage()
					if err != nil {
						return
					}
					if _, err := c.Write([]byte(strings.ToUpper(string(m)))); err != nil {
						return
					}
				}
			}()
		}
	}()
}

func TestTransact(t *testing.T) {
	l, name := listen(t, &ListenConfig{MessageMode: true})
	echoServer(t, l)
	c, err := Dial(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, req := range []string{"ping", strings.Repeat("long reply ", 2000), "x"} {
		reply, err := c.Transact(context.Background(), []byte(req))
		if err != nil {
			t.Fatalf("Transact of %d bytes: %v", len(req), err)
		}
		if string(reply) != strings.ToUpper(req) {
			t.Fatalf("Transact reply of %d bytes, want %d", len(reply), len(req))
		}
	}
	reply, err := Call(context.Background(), name, []byte("call"))
	if err != nil || string(reply) != "CALL" {
		t.Fatalf("Call = %q, %v", reply, err)
	}
	_, bc := pair(t, nil)
	if _, err := bc.Transact(context.Background(), []byte("x")); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("Transact on a byte pipe = %v", err)
	}

	// A server that never answers: ctx ends the transaction.
	l2, name2 := listen(t, &ListenConfig{MessageMode: true})
	go func() {
		c, err := l2.AcceptPipe()
		if err == nil {
			io.Copy(io.Discard, c)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Call(ctx, name2, []byte("anyone?")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Call to a silent server = %v, want context.DeadlineExceeded", err)
	}

}

func TestDisconnect(t *testing.T) {
	l, name := listen(t, &ListenConfig{MaxInstances: 1})
	accepted := acceptAll(l)
	client, err := Dial(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	srv := <-accepted
	srv.Write([]byte("never read"))
	if err := srv.Disconnect(); err != nil {
		t.Fatalf("Disconnect: %v", err)
	}
	// Unread data is gone: the client's next read fails at once.
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := client.Read(make([]byte, 64)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("client Read after Disconnect = %d, %v; want a failure", n, err)
	}
	if _, err := srv.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("Write on a disconnected Conn = %v, want net.ErrClosed", err)
	}
	if err := srv.Disconnect(); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("second Disconnect = %v", err)
	}
	// The only instance listens again: a new client gets it.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c2, err := Dial(ctx, name)
	if err != nil {
		t.Fatalf("Dial after Disconnect: %v", err)
	}
	defer c2.Close()
	srv2 := <-accepted
	defer srv2.Close()
	c2.Write([]byte("again"))
	b := make([]byte, 5)
	if _, err := io.ReadFull(srv2, b); err != nil || string(b) != "again" {
		t.Fatalf("reused instance read %q, %v", b, err)
	}
	if err := client.Disconnect(); !errors.Is(err, errNotServer) {
		t.Fatalf("Disconnect on a client end = %v", err)
	}
}

// TestList finds two pipes of ours with their instances: one limited, and
// one unlimited, which the file system stores as the ULONG 0xFFFFFFFF.
func TestList(t *testing.T) {
	skipOnWine(t, `enumerating \\.\pipe\ (NtQueryDirectoryFile) fails with ERROR_BAD_DEV_TYPE`)
	_, limited := listen(t, &ListenConfig{MaxInstances: 7, Backlog: 3})
	_, unlimited := listen(t, &ListenConfig{Backlog: 2})
	list, err := List()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]Entry{
		strings.ToLower(limited):   {Name: limited, Instances: 3, MaxInstances: 7},
		strings.ToLower(unlimited): {Name: unlimited, Instances: 2, MaxInstances: 0},
	}
	for _, e := range list {
		if w, ok := want[strings.ToLower(e.Name)]; ok {
			if e.Instances != w.Instances || e.MaxInstances != w.MaxInstances {
				t.Errorf("List entry %+v, want %+v", e, w)
			}
			delete(want, strings.ToLower(e.Name))
		}
	}
	if len(want) > 0 {
		t.Fatalf("List has none of %v among %d pipes", want, len(list))
	}
}

func TestListUnderWine(t *testing.T) {
	if !onWine() {
		t.Skip("checks the Wine gap only")
	}
	// The gap TestList skips for: List must fail cleanly, not hang or panic.
	if _, err := List(); err == nil {
		t.Fatal("List under Wine succeeded: the skip in TestList is stale")
	}
}

func TestSecurityDescriptorOf(t *testing.T) {
	sddl := "O:BAD:P(A;;GA;;;WD)"
	_, name := listen(t, &ListenConfig{SecurityDescriptor: "D:P(A;;GA;;;WD)"})
	got, err := SecurityDescriptor(name)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "D:P(A;;GA;;;WD)") {
		t.Fatalf("SecurityDescriptor = %s, want the DACL of %s", got, sddl)
	}
	if _, err := SecurityDescriptor(testPipe(t)); err == nil {
		t.Fatal("SecurityDescriptor of a missing pipe succeeded")
	}
	if _, err := SecurityDescriptor(""); !isPathError(err) {
		t.Fatalf("SecurityDescriptor(\"\") = %v", err)
	}
}
