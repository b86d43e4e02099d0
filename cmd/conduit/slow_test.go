package main

// A slow producer or consumer must not cut a transfer short: conduit's
// clocks (-t's linger, -t's idle stdin) measure the peer's or stdin's
// silence, not the time conduit itself spends handing data to a slow
// stdout or a peer that reads slowly. Each test's pauses are the slowness
// under test, not synchronisation: they are three times the -t given, so
// that a clock that runs while conduit is blocked delivering fires.

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"
)

// slowLinger is the -t the tests give; slowPause the consumer's pauses.
const (
	slowLinger = 200 * time.Millisecond
	slowPause  = 3 * slowLinger
)

// slowRead reads r to its end in chunks of 16 KiB, pausing after each
// 64 KiB: a consumer slower than the producer, whose pipe fills.
func slowRead(r io.Reader) ([]byte, error) {
	var got bytes.Buffer
	buf := make([]byte, 16<<10)
	for {
		n, err := r.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			return got.Bytes(), nil
		}
		if err != nil {
			return got.Bytes(), err
		}
		if got.Len()%(64<<10) < n {
			time.Sleep(slowPause) // the consumer is slow: the point of the test
		}
	}
}

// closeOnFirst reads r and closes stdin once the first bytes have come. A
// dial's empty stdin that ended at once started -t's linger before the
// peer had sent anything, and a peer slower than -t (200 ms) to send its
// first byte, a bridge still connecting to its other side under -race and
// load, then found the dial gone with nothing received (exit 0, 0 bytes:
// 1 of 6 loaded stress runs). That silence is real, and -t is right to end
// on it; the tests are about the silence while data flows.
func closeOnFirst(r io.Reader, stdin io.Closer) io.Reader {
	return &firstCloser{r: r, c: stdin}
}

type firstCloser struct {
	r    io.Reader
	c    io.Closer
	done bool
}

func (f *firstCloser) Read(b []byte) (int, error) {
	n, err := f.r.Read(b)
	if (n > 0 || err != nil) && !f.done {
		f.done = true
		f.c.Close()
	}
	return n, err
}

// A slow stdout: the server sends 512 KiB to a dial whose stdout is read
// slowly, and the dial's stdin is empty. After its stdin's end the dial
// lingers (-t; on a byte-mode pipe always, on a Unix socket because -t is
// given) until the server is silent for -t; the time the dial spends
// blocked writing to its slow stdout is not the server's silence. It cut
// the transfer there, exit 0 with the output short.
func TestSlowConsumerLinger(t *testing.T) {
	t.Parallel() // its names are its own
	data := random(512 << 10)
	n := name()
	srv := start(t, conduit("listen", n))
	go func() { srv.stdin.Write(data); srv.stdin.Close() }()
	go io.Copy(io.Discard, srv.stdout)
	cli := start(t, conduit("dial", n, "--wait", "--timeout", "20s", "-t", slowLinger.String()))
	got, err := slowRead(closeOnFirst(cli.stdout, cli.stdin))
	code := cli.wait(limit)
	if code != 0 || err != nil || !bytes.Equal(got, data) {
		t.Fatalf("dial, its stdout slow: exit %d, %d bytes of %d (%v): %q", code, len(got), len(data), err, cli.stderr())
	}
	if code := srv.wait(limit); code != 0 {
		t.Fatalf("listen: exit %d: %q", code, srv.stderr())
	}
}

// A slow peer: a server that receives only (-U: it half-closes at once)
// and whose stdout is read slowly; the dial sends it 512 KiB with -t. Once
// the server's side has ended, -t lets an idle stdin count as ended; a
// write to the server that is still under way (the server reads slowly) is
// not an idle stdin. It cut the transfer there, exit 1 with data unsent.
// Windows: a byte-mode pipe has no half-close, so this runs in message
// mode there (a zero-length message is the half-close).
func TestSlowPeerIdleStdin(t *testing.T) {
	t.Parallel() // its names are its own
	var data []byte
	mode := []string{}
	if runtime.GOOS == "windows" {
		mode = []string{"--message"}
		var b bytes.Buffer
		for i := 0; b.Len() < 512<<10; i++ {
			fmt.Fprintf(&b, "message %06d of a slow transfer, padded to be a little longer than it needs to be\n", i)
		}
		data = b.Bytes()
	} else {
		data = random(512 << 10)
	}
	n := name()
	srv := start(t, conduit(append([]string{"listen", n, "-U"}, mode...)...))
	srv.stdin.Close()
	cli := start(t, conduit(append([]string{"dial", n, "--wait", "--timeout", "20s", "-t", slowLinger.String()}, mode...)...))
	go func() { cli.stdin.Write(data); cli.stdin.Close() }()
	go io.Copy(io.Discard, cli.stdout)
	got, err := slowRead(srv.stdout)
	if code := srv.wait(limit); code != 0 {
		t.Fatalf("listen -U: exit %d: %q", code, srv.stderr())
	}
	code := cli.wait(limit)
	if code != 0 || err != nil || !bytes.Equal(got, data) {
		t.Fatalf("dial -t %v to a slow reader: exit %d, %q; the server got %d bytes of %d (%v)", slowLinger, code, cli.stderr(), len(got), len(data), err)
	}
}

// A slow consumer through a bridge: the bridge's B (a byte-mode pipe on
// Windows) ends its side and lingers for -t while it carries B's 512 KiB
// to A's client, whose stdout is slow. The time the bridge spends blocked
// writing to A is not B's silence.
func TestSlowConsumerBridge(t *testing.T) {
	t.Parallel() // its names are its own
	data := random(512 << 10)
	b, a := name(), name()
	srv := start(t, conduit("listen", b))
	go func() { srv.stdin.Write(data); srv.stdin.Close() }()
	go io.Copy(io.Discard, srv.stdout)
	ready := func(n string) string { return "npipe:" + n }
	if runtime.GOOS != "windows" {
		ready = func(n string) string { return "unix:" + socketPath(t, n) }
	}
	waitFor(t, func() bool { return serverUp(t, b) })
	br := start(t, conduit("bridge", ready(a), ready(b), "-t", slowLinger.String()))
	br.stdin.Close()
	cli := start(t, conduit("dial", a, "--wait", "--timeout", "20s", "-t", slowLinger.String()))
	got, err := slowRead(closeOnFirst(cli.stdout, cli.stdin))
	code := cli.wait(limit)
	if code != 0 || err != nil || !bytes.Equal(got, data) {
		t.Fatalf("dial through the bridge, its stdout slow: exit %d, %d bytes of %d (%v): %q (bridge: %q)", code, len(got), len(data), err, cli.stderr(), br.stderr())
	}
	if code := br.wait(limit); code != 0 {
		t.Fatalf("bridge: exit %d: %q", code, br.stderr())
	}
	if code := srv.wait(limit); code != 0 {
		t.Fatalf("listen: exit %d: %q", code, srv.stderr())
	}
}
