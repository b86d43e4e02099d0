package ipc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"net"
	"os"
	"testing"
	"time"

	"github.com/conduit-ipc/conduit/namedpipe"
)

// fuzzPipeMax is the MaxMessageSize of FuzzPipeRead's Conn: small, so that
// the fuzzer reaches it.
const fuzzPipeMax = 300

// FuzzPipeRead sends any pipe messages to a Conn that reads Windows'
// message-mode wire format (ipc_windows.go), and reads them with
// ReadMessage. Each pipe message in turn must be a data message whose
// length says how long its payload is, at most fuzzPipeMax: up to the first
// that is not, ReadMessage returns their payloads; at that one it fails
// with an error of the Conn's own (ErrMessageTooLarge for a length over
// the bound; fs.ErrPermission for a file item, which the fuzzed peer may
// not push), and so do the reads after it. It never allocates more than
// arrives, panics or hangs.
func FuzzPipeRead(f *testing.F) {
	data := func(payload string) []byte {
		m := []byte{msgData, 0, 0, 0, 0}
		binary.LittleEndian.PutUint32(m[1:], uint32(len(payload)))
		return append(m, payload...)
	}
	rec := func(m []byte) []byte { return append([]byte{byte(len(m))}, m...) }
	join := func(ms ...[]byte) []byte {
		var b []byte
		for _, m := range ms {
			b = append(b, rec(m)...)
		}
		return b
	}
	f.Add(join(data("hello"), data(""), data("world")))
	f.Add(join(data("a"), []byte{msgData, 0xff, 0xff, 0xff, 0x7f})) // 2 GiB announced, nothing sent
	f.Add(join(data("a"), []byte{msgData, 200, 0, 0, 0, 'x'}))      // shorter than it says
	f.Add(join(data("a"), append(data("b"), 'c')))                  // longer than it says
	f.Add(join(data("a"), []byte{msgFile, 1, 0, 0, 0, 0, 0, 0, 0})) // a file item
	f.Add(join([]byte{7, 0, 0, 0, 0}))
	f.Add(append(join(data("a")), 255, msgData, 44, 1, 0, 0)) // 300 bytes: the largest allowed
	f.Add(append(join(data("a")), 255, msgData, 45, 1, 0, 0)) // 301: one more
	f.Fuzz(func(t *testing.T, in []byte) {
		msgs := pipeMessages(in)
		server, peer := rawPipePeer(t)
		go func() {
			for _, m := range msgs {
				if peer.WriteMessage(m) != nil {
					break
				}
			}
			peer.Close()
		}()
		for i, m := range msgs {
			want, ok := pipeModel(m)
			got, err := server.ReadMessage()
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("message %d: the read hung", i)
			}
			if ok {
				if err != nil || !bytes.Equal(got, want) {
					t.Fatalf("message %d (%x): ReadMessage = %q, %v; want %q", i, m, got, err, want)
				}
				continue
			}
			var oe *net.OpError
			if err == nil || !errors.As(err, &oe) || errors.Is(err, io.EOF) {
				t.Fatalf("message %d (%x), not ipc's: ReadMessage = %q, %v; want an error of the Conn's own", i, m, got, err)
			}
			if size := binary.LittleEndian.Uint32(append(m[1:], 0, 0, 0, 0)); m[0] == msgData && len(m) >= dataHeader && size > fuzzPipeMax && !errors.Is(err, ErrMessageTooLarge) {
				t.Fatalf("message %d (%x): ReadMessage = %v; want ErrMessageTooLarge", i, m, err)
			}
			if _, again := server.ReadMessage(); again == nil {
				t.Fatalf("message %d (%x): a read after the Conn's own error succeeded", i, m)
			}
			return
		}
		if _, err := server.ReadMessage(); err != io.EOF {
			t.Fatalf("after the last message: %v, want io.EOF", err)
		}
	})
}

// pipeMessages cuts fuzz data into pipe messages: each is a length byte and
// that many bytes, the length 255 standing for fuzzPipeMax+dataHeader
// bytes, the next ones first. None is empty: an empty one is the end of
// the stream, which the peer's Close gives (and which Wine 8 can drop
// between data messages).
func pipeMessages(in []byte) [][]byte {
	var ms [][]byte
	for len(in) > 0 {
		n := int(in[0])
		in = in[1:]
		if n == 255 {
			m := make([]byte, fuzzPipeMax+dataHeader)
			in = in[copy(m, in):]
			ms = append(ms, m)
			continue
		}
		n = min(n, len(in))
		if n > 0 {
			ms = append(ms, append([]byte{}, in[:n]...))
		}
		in = in[n:]
	}
	return ms
}

// pipeModel says what ReadMessage returns for one pipe message: its
// payload, if it is a data message whose length is its payload's and at
// most fuzzPipeMax.
func pipeModel(m []byte) ([]byte, bool) {
	if len(m) < dataHeader || m[0] != msgData {
		return nil, false
	}
	size := binary.LittleEndian.Uint32(m[1:])
	if size > fuzzPipeMax || uint64(len(m)-dataHeader) != uint64(size) {
		return nil, false
	}
	return m[dataHeader:], true
}

// rawPipePeer returns an ipc Conn on the server end of a message pipe, its
// messages up to fuzzPipeMax bytes and its peer's file items refused, and
// the client end, raw.
func rawPipePeer(t *testing.T) (*Conn, *namedpipe.Conn) {
	t.Helper()
	lc := namedpipe.ListenConfig{MessageMode: true}
	l, err := lc.Listen(testName())
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan *namedpipe.Conn, 1)
	go func() {
		pc, err := l.AcceptPipe()
		if err != nil {
			t.Error(err)
		}
		accepted <- pc
	}()
	var dc namedpipe.DialConfig
	peer, err := dc.Dial(t.Context(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	pc := <-accepted
	if pc == nil {
		peer.Close()
		t.FailNow()
	}
	c := newConn(pc, Addr{"pipe", "fuzzed"}, true, fuzzPipeMax, nil)
	c.pushKnown, c.push = true, fs.ErrPermission
	c.SetReadDeadline(time.Now().Add(watchdog))
	t.Cleanup(func() { c.Close(); peer.Close() })
	return c, peer
}
