package namedpipe

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/internal/hangcheck"
	"github.com/conduit-ipc/conduit/internal/nt"
	"golang.org/x/sys/windows"
)

// The pipe queries that kernel32 and advapi32 would wait for on the pipe's
// handle, which nothing guarantees is signalled for them, go through the
// engine: Peek, ReadMessage's sizing of a long message,
// AcceptPipe's check for a client that left, the process and session IDs
// and impersonation each issue their control code on the Conn's File, and
// answer right, within a watchdog. Fails without the fix: the codes went
// through kernel32, unseen by the hook.
func TestQueriesThroughEngine(t *testing.T) {
	var mu sync.Mutex
	issued := map[uint32]int{}
	testHookFsControl = func(code uint32) {
		mu.Lock()
		issued[code]++
		mu.Unlock()
	}
	t.Cleanup(func() { testHookFsControl = nil })

	server, client := pair(t, &ListenConfig{MessageMode: true}) // AcceptPipe peeks
	pid := uint32(os.Getpid())
	var session uint32
	if err := windows.ProcessIdToSessionId(pid, &session); err != nil {
		t.Fatal(err)
	}
	hangcheck.Within(t, 60*time.Second, "pipe queries", func() {
		for _, q := range []struct {
			name string
			get  func() (uint32, error)
			want uint32
		}{
			{"server ClientProcessID", server.ClientProcessID, pid},
			{"server ServerProcessID", server.ServerProcessID, pid},
			{"client ClientProcessID", client.ClientProcessID, pid},
			{"client ServerProcessID", client.ServerProcessID, pid},
			{"server ClientSessionID", server.ClientSessionID, session},
			{"server ServerSessionID", server.ServerSessionID, session},
			{"client ServerSessionID", client.ServerSessionID, session},
		} {
			if got, err := q.get(); err != nil || got != q.want {
				t.Errorf("%s = %d, %v; want %d", q.name, got, err, q.want)
			}
		}
		msg := bytes.Repeat([]byte("long message "), 1000) // longer than ReadMessage's first buffer
		if err := client.WriteMessage(msg); err != nil {
			t.Error(err)
			return
		}
		if info, err := server.Peek(); err != nil || info.Available != len(msg) || info.MessageRemaining != len(msg) {
			t.Errorf("Peek = %+v, %v; want %d bytes in one message", info, err, len(msg))
		}
		if got, err := server.ReadMessage(); err != nil || !bytes.Equal(got, msg) {
			t.Errorf("ReadMessage = %d bytes, %v; want the %d-byte message", len(got), err, len(msg))
		}
		if info, err := server.Peek(); err != nil || info.Available != 0 {
			t.Errorf("Peek of an empty pipe = %+v, %v", info, err)
		}
		sid, err := server.ClientUser() // impersonates the client
		if err != nil {
			t.Errorf("ClientUser: %v", err)
			return
		}
		me, err := windows.GetCurrentProcessToken().GetTokenUser()
		if err != nil {
			t.Error(err)
			return
		}
		if !sid.Equals(me.User.Sid) {
			t.Errorf("ClientUser = %v, want %v", sid, me.User.Sid)
		}
	})
	mu.Lock()
	defer mu.Unlock()
	for _, code := range []uint32{windows.FSCTL_PIPE_PEEK, nt.FSCTL_PIPE_IMPERSONATE, nt.FSCTL_PIPE_GET_CONNECTION_ATTRIBUTE, nt.FSCTL_PIPE_GET_PIPE_ATTRIBUTE} {
		if issued[code] == 0 {
			t.Errorf("control code %#x never went through the engine (issued: %v)", code, issued)
		}
	}
}
