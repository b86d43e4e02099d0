package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"

	"github.com/conduit-ipc/conduit/anonpipe"
)

func init() {
	register(&command{
		name: "bench", args: "", minArgs: 0, maxArgs: 0,
		summary: "measure throughput and ping-pong latency of pipes on this machine",
		help: `
Windows: named pipes, anonymous pipes and mailslots; Unix: ipc sockets and
anonymous pipes. Each runs in this process, a goroutine on each end. A
progress line goes to stderr while it runs; the table, or with --json the
results, to stdout.

JSON (--json), one array:
  [{"name": "named pipe", "measure": "throughput", "value": 812.3, "unit": "MB/s"},
   {"name": "named pipe", "measure": "ping-pong", "value": 31.2, "unit": "µs"}, ...]

Examples:
  conduit bench
  conduit bench --size 16MiB --rounds 500 --json`,
		flags: func(fs *flag.FlagSet) func([]string) error {
			var asJSON bool
			var size byteSize = 64 << 20
			var rounds int
			fs.BoolVar(&asJSON, "json", false, "print JSON (see above)")
			fs.Var(&size, "size", "bytes to move for each throughput row, as 64MiB, 512KiB or 1000000")
			fs.IntVar(&rounds, "rounds", 2000, "round trips for each ping-pong row")
			return func([]string) error {
				if size < 64<<10 || rounds < 1 {
					return usagef("bench: want --size of at least 64KiB and --rounds of at least 1")
				}
				return benchCmd(int64(size), rounds, asJSON)
			}
		},
	})
}

// isTerminal reports whether w is a terminal (a character device), where a
// progress line that rewrites itself makes sense.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// byteSize is a flag of a size in bytes, with an optional KiB, MiB or GiB.
type byteSize int64

func (b *byteSize) String() string { return fmt.Sprint(int64(*b)) }

func (b *byteSize) Set(s string) error {
	var n int64
	var unit string
	if _, err := fmt.Sscanf(s, "%d%s", &n, &unit); err != nil {
		if _, err := fmt.Sscanf(s, "%d", &n); err != nil {
			return fmt.Errorf("size %q: want a number of bytes, KiB, MiB or GiB", s)
		}
	}
	var shift uint
	switch unit {
	case "", "B":
	case "KiB", "K", "k":
		shift = 10
	case "MiB", "M":
		shift = 20
	case "GiB", "G":
		shift = 30
	default:
		return fmt.Errorf("size %q: unknown unit %q", s, unit)
	}
	// The limit applies to the size in bytes, before the shift can wrap.
	if n < 0 || n > 1<<40>>shift {
		return fmt.Errorf("size %q: want 0 to 1 TiB", s)
	}
	*b = byteSize(n << shift)
	return nil
}

// A result is one measured row.
type result struct {
	Name    string  `json:"name"`
	Measure string  `json:"measure"`
	Value   float64 `json:"value"`
	Unit    string  `json:"unit"`
}

// A pair is two connected ends of something to measure.
type pair struct {
	name string
	open func() (a, b io.ReadWriteCloser, err error)
}

func benchCmd(size int64, rounds int, asJSON bool) error {
	var results []result
	progress := func(string) {}
	if isTerminal(std.err) {
		progress = func(s string) { fmt.Fprintf(std.err, "\rconduit bench: %-50s", s) }
	}
	for _, p := range benchPairs() {
		progress(p.name + " throughput")
		mbs, err := throughput(p, size)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		results = append(results, result{p.name, "throughput", mbs, "MB/s"})
		progress(p.name + " ping-pong")
		us, err := pingPong(p, rounds)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		results = append(results, result{p.name, "ping-pong", us, "µs"})
	}
	extra, err := benchExtra(size, progress)
	if err != nil {
		return err
	}
	results = append(results, extra...)
	if isTerminal(std.err) {
		fmt.Fprintf(std.err, "\r%-66s\r", "")
	}
	if asJSON {
		return writeJSON(std.out, results)
	}
	w := tabwriter.NewWriter(std.out, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "\tmeasure\tvalue\tunit\t")
	for _, r := range results {
		fmt.Fprintf(w, "%s\t%s\t%.1f\t%s\t\n", r.Name, r.Measure, r.Value, r.Unit)
	}
	return w.Flush()
}

// throughput moves size bytes from a to b in 64 KiB writes.
func throughput(p pair, size int64) (float64, error) {
	a, b, err := p.open()
	if err != nil {
		return 0, err
	}
	defer a.Close()
	defer b.Close()
	done := make(chan error, 1)
	go func() {
		// 64 KiB reads: io.Discard's own ReadFrom reads 8 KiB at a time.
		buf := make([]byte, 64<<10)
		_, err := io.CopyBuffer(struct{ io.Writer }{io.Discard}, io.LimitReader(b, size), buf)
		done <- err
	}()
	buf := make([]byte, 64<<10)
	start := time.Now()
	for left := size; left > 0; {
		n := min(left, int64(len(buf)))
		if _, err := a.Write(buf[:n]); err != nil {
			return 0, err
		}
		left -= n
	}
	if err := <-done; err != nil {
		return 0, err
	}
	return float64(size) / time.Since(start).Seconds() / 1e6, nil
}

// pingPong sends one byte from a to b and back, rounds times, and returns
// the mean round trip in microseconds.
func pingPong(p pair, rounds int) (float64, error) {
	a, b, err := p.open()
	if err != nil {
		return 0, err
	}
	defer a.Close()
	defer b.Close()
	go func() {
		buf := make([]byte, 1)
		for {
			if _, err := io.ReadFull(b, buf); err != nil {
				return
			}
			if _, err := b.Write(buf); err != nil {
				return
			}
		}
	}()
	buf := make([]byte, 1)
	start := time.Now()
	for range rounds {
		if _, err := a.Write(buf); err != nil {
			return 0, err
		}
		if _, err := io.ReadFull(a, buf); err != nil {
			return 0, err
		}
	}
	return float64(time.Since(start).Microseconds()) / float64(rounds), nil
}

// anonymousPair is a duplex anonymous pipe (socketpair on Unix).
func anonymousPair() (io.ReadWriteCloser, io.ReadWriteCloser, error) {
	a, b, err := anonpipe.Duplex()
	if err != nil {
		return nil, nil, err
	}
	return a, b, nil
}
