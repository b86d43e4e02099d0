// Command spawnstorm starts copies of itself, several at a time, for a
// while, and counts the starts that fail: under Wine 8 from Debian with
// address space randomisation on, about one start in a few thousand fails
// with "Internal error." (the heap over Windows' shared user data page;
// testbed/winebugs/README.md). With the test bed's default, randomisation
// off, none should.
//
//	bash testbed/winrun.sh sh -c 'go build -o /tmp/spawnstorm.exe ./testbed/winebugs/spawnstorm &&
//		"$CONDUIT_TESTBED_WINE" /tmp/spawnstorm.exe -d 5m'
//
// with CONDUIT_TESTBED_ASLR=on before it to see the failures. Each child
// prints a line and exits; its output is read through a pipe, as the tests'
// are. It exits 1 if any start failed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "child" {
		fmt.Println("started")
		return
	}
	d := flag.Duration("d", time.Minute, "how long to start children for")
	workers := flag.Int("w", 4, "children started at a time")
	flag.Parse()
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var starts, failed atomic.Int64
	stop := time.Now().Add(*d)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				c := exec.Command(self, "child")
				var out bytes.Buffer
				c.Stdout, c.Stderr = &out, &out
				err := c.Run()
				n := starts.Add(1)
				if err != nil {
					failed.Add(1)
					fmt.Fprintf(os.Stderr, "%s start %d: %v (output %q)\n", time.Now().Format("15:04:05.000"), n, err, out.String())
				}
			}
		}()
	}
	tick := time.NewTicker(30 * time.Second)
	defer tick.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	for running := true; running; {
		select {
		case <-tick.C:
			fmt.Fprintf(os.Stderr, "%s: %d starts, %d failed\n", time.Now().Format("15:04:05"), starts.Load(), failed.Load())
		case <-done:
			running = false
		}
	}
	fmt.Fprintf(os.Stderr, "spawnstorm: %d starts, %d failed\n", starts.Load(), failed.Load())
	if failed.Load() > 0 {
		os.Exit(1)
	}
}
