package ipc

// Review 16's F2: a peer with many connections, each sending most of a
// long message and stalling, made a server hold MaxMessageSize per
// connection, twice over with append's growth (1.3 GB for 40 connections).
// Linux only: it waits on SIOCOUTQ, which macOS and FreeBSD have not; the
// framing, theirs, runs here too (forced).

import (
	"encoding/binary"
	"errors"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

var (
	zeros     = make([]byte, maxPiece)
	morePiece = append([]byte{pieceMore}, zeros...)
)

// heapInUse is the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// Many stalled connections hold no more than the Listener's MessageBudget
// together: the reads past it fail with ErrMessageBudget, the heap grows by
// about the budget (not by the bytes sent, nor twice that), and a client
// that sends whole small messages is still served. Before the fix every
// connection held its part of a message, and nothing failed.
func TestMessageBudget(t *testing.T) {
	for _, framing := range framings() {
		t.Run(framing, func(t *testing.T) {
			useFraming(t, framing)
			testMessageBudget(t)
		})
	}
}

func testMessageBudget(t *testing.T) {
	const (
		size    = 1 << 20           // MaxMessageSize
		budget  = 4 << 20           // MessageBudget
		conns   = 16                // the attacker's connections
		sent    = size - 2*maxPiece // what each sends of a message of size
		perConn = 3 * maxPiece      // what a connection may hold besides: its buffer, a first piece
	)
	cfg := Config{MessageMode: true, MaxMessageSize: size, MessageBudget: budget}
	l, err := cfg.Listen(filepath.Join(t.TempDir(), "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	k := cfg.kind()
	typ := unix.SOCK_STREAM
	if k == packet {
		typ = unix.SOCK_SEQPACKET
	}
	before := heapInUse()
	type result struct {
		i   int
		err error
	}
	results := make(chan result, conns)
	var servers []*Conn
	attackers := make([]int, conns)
	written := make(chan int, conns)
	for i := range attackers {
		fd, err := unix.Socket(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			t.Fatal(err)
		}
		attackers[i] = fd
		defer unix.Close(fd)
		if err := unix.Connect(fd, &unix.SockaddrUnix{Name: l.Addr().String()}); err != nil {
			t.Fatal(err)
		}
		c, err := l.AcceptIPC()
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		servers = append(servers, c)
		go func() {
			m, err := c.ReadMessage()
			if err == nil {
				t.Errorf("connection %d: ReadMessage returned %d bytes of a message never sent whole", i, len(m))
			}
			results <- result{i, err}
		}()
		go func() {
			// Most of a message, then nothing: it stalls. (From shared
			// buffers: the test's own heap must not grow with it.)
			if k == packet {
				for n := 0; n < sent; n += maxPiece {
					if _, err := syscall.Write(fd, morePiece); err != nil {
						written <- -1
						return
					}
				}
			} else {
				full := func(b []byte) bool {
					for len(b) > 0 {
						n, err := syscall.Write(fd, b)
						if err != nil {
							return false
						}
						b = b[n:]
					}
					return true
				}
				ok := full(binary.BigEndian.AppendUint32(nil, size))
				for n := 0; ok && n < sent; n += maxPiece {
					ok = full(zeros[:min(maxPiece, sent-n)])
				}
				if !ok {
					written <- -1
					return
				}
			}
			written <- i
		}()
	}
	// Wait until each connection's reader has failed, or has read all the
	// attacker sent on it (its send queue is empty once the reader has
	// taken the bytes).
	failed := map[int]error{}
	done := map[int]bool{}
	deadline := time.Now().Add(watchdog)
	for {
		for len(results) > 0 {
			r := <-results
			failed[r.i] = r.err
		}
		for len(written) > 0 {
			done[<-written] = true
		}
		settled := 0
		for i, fd := range attackers {
			if _, ok := failed[i]; ok {
				settled++
			} else if q, err := unix.IoctlGetInt(fd, unix.SIOCOUTQ); done[i] && err == nil && q == 0 {
				settled++
			}
		}
		if settled == conns {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v, %d of %d connections were still being read", watchdog, conns-settled, conns)
		}
		time.Sleep(time.Millisecond) // waiting for the condition above
	}
	held := int64(heapInUse()) - int64(before)
	t.Logf("%d of %d stalled connections failed; heap grew by %d KiB (budget %d KiB, %d KiB sent)", len(failed), conns, held>>10, budget>>10, conns*sent>>10)
	if len(failed) == 0 {
		t.Fatalf("no read failed: %d connections hold %d KiB each, past a budget of %d KiB", conns, sent>>10, budget>>10)
	}
	for i, err := range failed {
		if !errors.Is(err, ErrMessageBudget) {
			t.Errorf("connection %d failed with %v, want ErrMessageBudget", i, err)
		}
	}
	if limit := int64(budget + conns*perConn + 1<<20); held > limit {
		t.Errorf("the heap grew by %d KiB for stalled messages, more than the budget and fixed costs (%d KiB)", held>>10, limit>>10)
	}
	// Others are still served: whole small messages cost no budget.
	client, err := cfg.Dial(t.Context(), l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	accepted := acceptOne(t, l)
	if err := client.WriteMessage([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	server := <-accepted
	defer server.Close()
	server.SetReadDeadline(time.Now().Add(watchdog))
	if m, err := server.ReadMessage(); err != nil || string(m) != "hello" {
		t.Fatalf("a client's small message with the budget spent = %q, %v", m, err)
	}
	// A stalled connection that is closed gives its part back: a failed
	// one's read then goes on (the connection stays as it was).
	j := -1
	for i := range failed {
		j = i
		break
	}
	for i, c := range servers {
		if i != j {
			c.Close()
		}
	}
	go func() {
		_, err := servers[j].ReadMessage()
		results <- result{j, err}
	}()
	for !done[j] {
		select {
		case i := <-written:
			done[i] = true
		case <-time.After(watchdog):
			t.Fatal("the attacker's writes did not go on once the budget was given back")
		}
	}
	writeAll(t, attackers[j], finish(k, size-sent))
	for {
		select {
		case r := <-results:
			if r.i != j {
				continue // a closed connection's read
			}
			if r.err != nil {
				t.Fatalf("connection %d, its read retried with the budget given back: %v", r.i, r.err)
			}
			return
		case <-time.After(watchdog):
			t.Fatal("the retried read did not finish")
		}
	}
}

// finish is what ends the attacker's message: n more bytes, the last piece
// saying so.
func finish(k kind, n int) []byte {
	if k == packet {
		// n is 2*maxPiece: one piece more, then the last.
		return append([]byte{pieceLast}, make([]byte, min(n, maxPiece))...)
	}
	return make([]byte, n)
}
