// Command report runs conduit's benchmarks against every peer in the same
// run and renders what they measured.
//
//	report run -o windows.json [-rounds 5] [-d 250ms] [-c DIR] [-only REGEXP]
//	report render -md docs/bench/results.md -svg docs/bench/chart.svg [-notes bench/explanations.txt] [-readme README.md] windows.json linux.json
//	report ab [-md FILE] old1.json new1.json old2.json new2.json ...
//
// Built for Windows, run measures named pipes (conduit, go-winio,
// natefinch/npipe, synchronous ReadFile/WriteFile and the C programs in
// bench/c, whose executable is looked for in DIR), anonymous pipes and
// mailslots; built for Linux, it measures package ipc against raw Unix
// sockets. Each workload's contenders run interleaved, round by round (see
// package harness), with a progress line per round on standard error.
// render merges the JSON of both into a Markdown table and an SVG chart.
// bench/run.sh, which `make bench` runs, does all of it. ab compares two
// builds of conduit from alternating runs (bench/ab.sh).
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/conduit-ipc/conduit/bench/harness"
)

func main() {
	if role := os.Getenv(envChild); role != "" {
		os.Exit(child(role))
	}
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "run":
		os.Exit(run(os.Args[2:]))
	case "render":
		os.Exit(render(os.Args[2:]))
	case "ab":
		os.Exit(ab(os.Args[2:]))
	}
	usage()
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: report run -o FILE [-rounds N] [-d DURATION] [-c DIR] [-only REGEXP] [-quick]\n"+
		"       report render -md FILE -svg FILE [-wine VERSION] [-notes FILE] [-readme FILE] REPORT.json...\n"+
		"       report ab [-md FILE] OLD.json NEW.json [OLD.json NEW.json ...]")
	os.Exit(2)
}

// envChild makes this program a child process of a benchmark (a server, a
// writer, an echo) instead of the runner: see child.
const envChild = "CONDUIT_BENCH_CHILD"

// config is what the workloads need to know of the run.
type config struct {
	cdir  string // where pipebench.exe is
	idle  int    // idle connections to open
	quick bool
}

func run(args []string) int {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	out := fs.String("o", "", "write the JSON report to `file`")
	rounds := fs.Int("rounds", 5, "rounds per workload")
	d := fs.Duration("d", 250*time.Millisecond, "measured time per contender and round")
	cdir := fs.String("c", "", "the `directory` holding pipebench.exe (bench/c); its rows are skipped without it")
	only := fs.String("only", "", "run only the workloads whose section, name or placement match `regexp`")
	quick := fs.Bool("quick", false, "a smoke test: 1 round of 40 ms, 50 idle connections")
	timeout := fs.Duration("timeout", 0, "abandon a contender's run after `duration` (default 30s + 20 × -d)")
	fs.Parse(args)
	if *out == "" {
		usage()
	}
	cfg := config{cdir: *cdir, idle: 1000, quick: *quick}
	if *quick {
		*rounds, *d, cfg.idle = 1, 40*time.Millisecond, 50
	}
	opts := harness.Options{Rounds: *rounds, Duration: *d, Progress: os.Stderr, Timeout: *timeout}
	if *only != "" {
		re, err := regexp.Compile(*only)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		opts.Filter = func(w *harness.Workload) bool {
			return re.MatchString(w.Section + ": " + w.Name + ", " + w.Placement)
		}
	}
	start := time.Now()
	rep := harness.Report{
		Meta: map[string]string{
			"os":     runtime.GOOS + "/" + runtime.GOARCH,
			"rounds": fmt.Sprint(*rounds),
			"d":      d.String(),
		},
		Workloads: harness.Run(workloads(cfg), opts),
	}
	for k, v := range platformMeta() {
		rep.Meta[k] = v
	}
	rep.Meta["elapsed"] = time.Since(start).Round(time.Second).String()
	b, err := json.MarshalIndent(rep, "", " ")
	if err == nil {
		err = os.WriteFile(*out, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "bench: %s done in %s\n", runtime.GOOS, rep.Meta["elapsed"])
	return 0
}

func render(args []string) int {
	fs := flag.NewFlagSet("render", flag.ExitOnError)
	md := fs.String("md", "", "write the Markdown table to `file`")
	svg := fs.String("svg", "", "write the SVG chart to `file`")
	wine := fs.String("wine", "", "the Wine `version` the Windows part ran under")
	notesFile := fs.String("notes", "", "explanations of rows (see harness.ParseExplanations) from `file`")
	readme := fs.String("readme", "", "replace the summary between the bench markers in `file` (the README)")
	fs.Parse(args)
	if *md == "" || fs.NArg() == 0 {
		usage()
	}
	var all harness.Report
	all.Meta = machine()
	if *wine != "" {
		all.Meta["wine"] = *wine
	}
	for _, p := range fs.Args() {
		r, err := readReport(p)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		all.Workloads = append(all.Workloads, r.Workloads...)
		key := "linux"
		if strings.HasPrefix(r.Meta["os"], "windows") {
			key = "windows"
		}
		all.Meta["rounds"] = r.Meta["rounds"]
		all.Meta["duration_"+key] = r.Meta["d"]
	}
	var ex []harness.Explanation
	if *notesFile != "" {
		f, err := os.Open(*notesFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		ex, err = harness.ParseExplanations(f)
		f.Close()
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", *notesFile, err)
			return 1
		}
	}
	chart := ""
	if *svg != "" {
		f, err := os.Create(*svg)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		harness.SVG(f, &all)
		if err := f.Close(); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		chart = relTo(*md, *svg)
	}
	f, err := os.Create(*md)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	harness.Markdown(f, &all, chart, ex)
	if err := f.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if *readme != "" {
		if err := spliceReadme(*readme, *md, *svg, &all, ex); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

// The README's summary lies between these lines, which render replaces.
const (
	beginMark = "<!-- bench:begin: written by `make bench` (bench/cmd/report render -readme) -->"
	endMark   = "<!-- bench:end -->"
)

// spliceReadme writes the summary of r into the README at path, between
// beginMark and endMark, linking the full table md and the chart svg.
func spliceReadme(path, md, svg string, r *harness.Report, ex []harness.Explanation) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	text := string(b)
	i, j := strings.Index(text, beginMark), strings.Index(text, endMark)
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %q ... %q to replace", path, beginMark, endMark)
	}
	var sb strings.Builder
	m := r.Meta
	fmt.Fprintf(&sb, "%s\n\nMeasured %s on %s (%s, %s logical CPUs), %s, %s; rounds per workload: %s. Full table: [%s](%s).\n\n",
		beginMark, m["date"], m["uname"], m["cpu"], m["nproc"], m["go"], m["wine"], m["rounds"],
		relTo(path, md), relTo(path, md))
	if svg != "" {
		fmt.Fprintf(&sb, "![conduit's ratio against each contender](%s)\n\n", relTo(path, svg))
	}
	harness.Summary(&sb, r, ex)
	sb.WriteString("\n")
	text = text[:i] + sb.String() + text[j:]
	return os.WriteFile(path, []byte(text), 0o644)
}

// relTo returns target's path as seen from the directory of from, when both
// are in the same directory, else target as given.
func relTo(from, target string) string {
	dir := from[:strings.LastIndexAny(from, `/\`)+1]
	if strings.HasPrefix(target, dir) {
		return target[len(dir):]
	}
	return target
}

// machine describes where render runs, which is where run ran: the date,
// the kernel, the CPU and Go.
func machine() map[string]string {
	m := map[string]string{
		"date":  time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		"go":    runtime.Version(),
		"nproc": fmt.Sprint(runtime.NumCPU()),
		"wine":  "Wine not used",
	}
	if b, err := exec.Command("uname", "-srm").Output(); err == nil {
		m["uname"] = strings.TrimSpace(string(b))
	} else {
		m["uname"] = runtime.GOOS + "/" + runtime.GOARCH
	}
	m["cpu"] = "unknown"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m["cpu"] = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// readReport reads a report that `report run` wrote.
func readReport(path string) (harness.Report, error) {
	var r harness.Report
	b, err := os.ReadFile(path)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	return r, nil
}
