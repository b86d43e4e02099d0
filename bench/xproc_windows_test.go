package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"testing"

	"github.com/conduit-ipc/conduit/namedpipe"
	"golang.org/x/sys/windows"
)

// The cross-process rows run the server in a child process (this test
// binary, re-executed), as IPC runs in practice: the benchmark process then
// holds only the client end, and its completion port, threads and scheduler
// serve that end alone.

const (
	envServe = "CONDUIT_BENCH_SERVE" // discard or echo: be the server
	envKind  = "CONDUIT_BENCH_KIND"  // conduit or sync
	envPath  = "CONDUIT_BENCH_PATH"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(envServe); mode != "" {
		serveChild(mode, os.Getenv(envKind), os.Getenv(envPath))
		return
	}
	os.Exit(m.Run())
}

// serveChild listens on path, says "ready" on stdout and serves clients
// until its stdin closes.
func serveChild(mode, kind, path string) {
	serve := echo
	if mode == "discard" {
		serve = func(rw io.ReadWriter) { discard(rw) }
	}
	go func() {
		io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	switch kind {
	case "sync":
		p, _ := windows.UTF16PtrFromString(path)
		h, err := windows.CreateNamedPipe(p, windows.PIPE_ACCESS_DUPLEX, windows.PIPE_TYPE_BYTE|windows.PIPE_READMODE_BYTE|windows.PIPE_WAIT,
			1, chunk, chunk, 0, nil)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("ready")
		if err := windows.ConnectNamedPipe(h, nil); err != nil && err != windows.ERROR_PIPE_CONNECTED {
			os.Exit(1)
		}
		serve(os.NewFile(uintptr(h), path))
		select {}
	default:
		l, err := namedpipe.Listen(path)
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		fmt.Println("ready")
		serveAll(l, serve)
		os.Exit(1)
	}
}

// childServer starts a server process of kind (conduit or sync) that
// serves each client with mode (discard or echo), and returns its pipe.
func childServer(b *testing.B, kind, mode string) string {
	path := pipeName()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envServe+"="+mode, envKind+"="+kind, envPath+"="+path)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		cmd.Wait()
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		b.Fatalf("server process: %q, %v", line, err)
	}
	return path
}

func xrows(b *testing.B, mode string, run func(b *testing.B, conn io.ReadWriteCloser)) {
	b.Run("sync-server/sync-client", func(b *testing.B) {
		conn, err := openFile(childServer(b, "sync", mode), 0)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close()
		run(b, conn)
	})
	for _, c := range clients {
		b.Run("conduit-server/"+c.name+"-client", func(b *testing.B) {
			conn, err := c.dial(childServer(b, "conduit", mode))
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			run(b, conn)
		})
	}
}

// BenchmarkProcThroughput is BenchmarkThroughput with the server in another
// process.
func BenchmarkProcThroughput(b *testing.B) { xrows(b, "discard", throughput) }

// BenchmarkProcPingPong is BenchmarkPingPong with the server in another
// process.
func BenchmarkProcPingPong(b *testing.B) { xrows(b, "echo", pingPong) }
