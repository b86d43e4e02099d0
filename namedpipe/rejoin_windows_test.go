package namedpipe

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/hangcheck"
	"golang.org/x/sys/windows"
)

// connect dials l's pipe name and returns the accepted and the client end.
func connect(t testing.TB, l *Listener, name string) (server, client *Conn) {
	t.Helper()
	type res struct {
		c   *Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.AcceptPipe()
		ch <- res{c, err}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	client, err := Dial(ctx, name)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	r := <-ch
	if r.err != nil {
		client.Close()
		t.Fatalf("Accept: %v", r.err)
	}
	return r.c, client
}

// keptByConnection listens on name, connects, and closes the listener:
// the name is then kept by that connection alone, until the test ends.
func keptByConnection(t *testing.T, name string) {
	t.Helper()
	l0, err := Listen(name)
	if err != nil {
		t.Fatal(err)
	}
	s0, c0 := connect(t, l0, name)
	t.Cleanup(func() { closeBoth(s0, c0) })
	l0.Close()
}

// roundTrip sends a message each way between a connection's two ends.
func roundTrip(t *testing.T, what string, server, client *Conn) {
	t.Helper()
	for _, p := range []struct {
		from, to *Conn
		msg      string
	}{{server, client, "to client"}, {client, server, "to server"}} {
		if _, err := p.from.Write([]byte(p.msg)); err != nil {
			t.Fatalf("%s: write %s: %v", what, p.msg, err)
		}
		buf := make([]byte, len(p.msg))
		if _, err := io.ReadFull(p.to, buf); err != nil || string(buf) != p.msg {
			t.Fatalf("%s: read %q, %v; want %q", what, buf, err, p.msg)
		}
	}
}

// closeBoth closes a connection's client end, then its server end, so that
// no instance outlives it (Windows counts an instance whose server end
// closed until its client closes).
func closeBoth(server, client *Conn) {
	client.Close()
	server.Close()
}

// A Listener closed while a connection it accepted lives leaves the name
// in use; Listen of the name joins that pipe (issue 15, item 8), serves
// new clients, and the old connection goes on working. While the joined
// listener is open, a third Listen is refused: the name is served. Once
// every connection has closed, the name is free and made anew. Fails
// without the registry of closed listeners: the second Listen is refused
// with fs.ErrExist.
func TestListenJoinsNameKeptByConnections(t *testing.T) {
	for _, cfg := range []ListenConfig{{}, {MessageMode: true}, {CurrentUserOnly: true, Direction: Duplex, MaxInstances: 10}, {ListenOnAccept: true}} {
		t.Run(fmt.Sprintf("%+v", cfg), func(t *testing.T) {
			name := testPipe(t)
			l0, err := cfg.Listen(name)
			if err != nil {
				t.Fatal(err)
			}
			s0, c0 := connect(t, l0, name)
			defer closeBoth(s0, c0)
			l0.Close()
			l1, err := cfg.Listen(name)
			if err != nil {
				t.Fatalf("Listen of a name kept by this process's connection: %v", err)
			}
			defer l1.Close()
			s1, c1 := connect(t, l1, name)
			defer closeBoth(s1, c1)
			roundTrip(t, "the old listener's connection", s0, c0)
			roundTrip(t, "the new listener's connection", s1, c1)
			if l2, err := cfg.Listen(name); !errors.Is(err, fs.ErrExist) {
				if err == nil {
					l2.Close()
				}
				t.Fatalf("Listen while a listener serves the name = %v, want fs.ErrExist", err)
			}
			// Close the joined listener too: two closed listeners keep the
			// name now, and a Listen joins them both.
			l1.Close()
			l3, err := cfg.Listen(name)
			if err != nil {
				t.Fatalf("Listen of a name kept by two closed listeners' connections: %v", err)
			}
			s3, c3 := connect(t, l3, name)
			roundTrip(t, "the third listener's connection", s3, c3)
			closeBoth(s3, c3)
			l3.Close()
			closeBoth(s0, c0)
			closeBoth(s1, c1)
			if n := len(orphanList(name)); n != 0 {
				t.Fatalf("%d closed listeners still registered after their connections closed", n)
			}
			l4, err := cfg.Listen(name)
			if err != nil {
				t.Fatalf("Listen of a free name: %v", err)
			}
			l4.Close()
			if _, err := Dial(context.Background(), name); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("Dial after every instance closed = %v, want fs.ErrNotExist", err)
			}
		})
	}
}

func orphanList(name string) []*Listener {
	orphans.mu.Lock()
	defer orphans.mu.Unlock()
	return orphans.m[nameKey(name)]
}

// A Listen that asks for another pipe than the one the connections keep
// is refused: the pipe keeps its first instance's type, direction, limit
// and security descriptor. The refusals leave nothing open, and the name
// is still joined by a Listen that matches.
func TestListenJoinRefusesOtherConfig(t *testing.T) {
	name := testPipe(t)
	keptByConnection(t, name)
	for _, cfg := range []ListenConfig{
		{MessageMode: true},
		{Direction: Inbound},
		{MaxInstances: 10},
		{CurrentUserOnly: true},
		{SecurityDescriptor: "D:P(A;;GA;;;SY)(A;;GA;;;OW)"},
		{AllowRemoteClients: true},
	} {
		leakFree(t, fmt.Sprintf("Listen with %+v", cfg), func() {
			l, err := cfg.Listen(name)
			if err == nil {
				l.Close()
			}
			wantPathError(t, fmt.Sprintf("Listen with %+v", cfg), err, fs.ErrExist)
		})
	}
	l1, err := Listen(name)
	if err != nil {
		t.Fatalf("Listen with the same configuration after the refusals: %v", err)
	}
	defer l1.Close()
	s1, c1 := connect(t, l1, name)
	defer closeBoth(s1, c1)
	roundTrip(t, "joined", s1, c1)
}

// The attack: another process adds an instance of the pipe that only our
// connection keeps (as a server that the descriptor lets create instances
// would, to serve the name itself). Listen must refuse the name while that
// instance exists, and join it again once it is gone. Fails if Listen
// joins on the registry alone.
func TestListenJoinRefusesForeignInstance(t *testing.T) {
	name := testPipe(t)
	keptByConnection(t, name)

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=join "+name)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		stdin.Close()
		cmd.Wait()
		t.Fatalf("child: %q, %v", line, err)
	}
	l, err := Listen(name)
	if err == nil {
		l.Close()
	}
	wantPathError(t, "Listen while another process has an instance", err, fs.ErrExist)

	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
	l1, err := Listen(name)
	if err != nil {
		t.Fatalf("Listen once the other process's instance is gone: %v", err)
	}
	l1.Close()
}

// joinChild adds an instance to the existing pipe name (FILE_OPEN, the
// zero ListenConfig's pipe), says "ready", and holds it until stdin
// closes.
func joinChild(name string) int {
	l := &Listener{cfg: validated{ListenConfig: ListenConfig{}, backlog: DefaultBacklog}}
	l.cfg.InputBufferSize, l.cfg.OutputBufferSize = DefaultBufferSize, DefaultBufferSize
	var err error
	if l.ntPath, err = windows.NewNTUnicodeString(`\??\pipe\` + name); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 2
	}
	access, _ := l.access()
	h, err := l.createHandle(windows.FILE_OPEN, access)
	if err != nil {
		fmt.Fprintln(os.Stderr, "child join:", err)
		return 2
	}
	defer windows.CloseHandle(h)
	fmt.Println("ready")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// The last connection closing while Listen runs: either Listen joins the
// pipe (the connection was still open) or the name has gone and Listen
// creates it anew; it never fails. Fails without the registry (the rounds
// where the connection is still open are refused).
func TestListenJoinRacesLastClose(t *testing.T) {
	name := testPipe(t)
	hangcheck.Within(t, 120*time.Second, "the rounds", func() {
		for round := range 30 {
			l0, err := Listen(name)
			if err != nil {
				t.Fatalf("round %d: Listen: %v", round, err)
			}
			s, c := connect(t, l0, name)
			l0.Close()
			done := make(chan struct{})
			go func() {
				closeBoth(s, c)
				close(done)
			}()
			l1, err := Listen(name)
			<-done
			if err != nil {
				t.Fatalf("round %d: Listen as the last connection closes: %v", round, err)
			}
			l1.Close()
		}
	})
}

// A pipe of the name that someone creates between Listen's check that the
// name is free and its FILE_CREATE is refused, not joined: FILE_CREATE
// fails on an existing name on Windows.
func TestListenCreateRefusesNameTakenMeanwhile(t *testing.T) {
	skipOnWine(t, "FILE_CREATE is not enforced: a second FILE_CREATE of an existing name adds an instance to it")
	name := testPipe(t)
	var other windows.Handle
	defer func() {
		if other != 0 {
			windows.CloseHandle(other)
		}
	}()
	testHookCreate = func(disposition uint32) error {
		if disposition != windows.FILE_CREATE || other != 0 {
			return nil
		}
		// Another server's pipe of the name, made as ours would be.
		o := &Listener{cfg: validated{ListenConfig: ListenConfig{}, backlog: DefaultBacklog}}
		o.cfg.InputBufferSize, o.cfg.OutputBufferSize = DefaultBufferSize, DefaultBufferSize
		var err error
		if o.ntPath, err = windows.NewNTUnicodeString(`\??\pipe\` + name); err != nil {
			return err
		}
		saved := testHookCreate
		testHookCreate = nil
		defer func() { testHookCreate = saved }()
		access, _ := o.access()
		other, err = o.createHandle(windows.FILE_CREATE, access)
		return err
	}
	defer func() { testHookCreate = nil }()
	l, err := Listen(name)
	if err == nil {
		l.Close()
	}
	if other == 0 {
		t.Fatal("the hook made no pipe")
	}
	wantPathError(t, "Listen of a name created after the check", err, fs.ErrExist)
}
