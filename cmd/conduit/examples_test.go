package main

// Every documented example, run as written (issue 17: "make every example
// in the README, the package doc and --help run to completion on Windows as
// written. A test runs each documented example.").
//
// The examples are read at test time: the README's code blocks and the
// code spans of its prose, the package doc's indented lines, and the
// Examples section of conduit COMMAND --help for every command conduit
// --help lists. Each is classified by its form (exampleKind): runnable
// here, or skipped with the reason (another user, Docker, an SSH agent,
// WSL, a real Windows, a tool this machine lacks); a form the test does not
// know fails TestExamplesRecognised, so that no example is added untested.
// TestExamplesRun runs the runnable ones with this binary as conduit, each
// in a process of its own, paired with its counterpart by name (a listen
// with a dial of the same name and mode, a mailslot send with a recv, info
// and ls with a server that keeps listening), under a watchdog, and asserts
// each exits as documented and moves the data.
//
// The lines are read as a POSIX shell reads them (quotes, |, < and >);
// echo, jq and xargs in a pipeline are run as such (jq natively, where it
// is installed). On Unix the examples' short names live in a private
// runtime directory of the test's own (XDG_RUNTIME_DIR), so myapp is
// myapp, as written, and nobody else's.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// An example is one documented command line.
type example struct {
	text    string   // as written, without its comment
	sources []string // where it is written
	inline  bool     // a code span in the README's prose
	stages  []stage  // the pipeline
	err     error    // the line does not parse

	// Filled by classify.
	kind string // exampleKinds' key; "" if no form fits
	skip string // why it cannot run here; "" if it runs
	cmd  []string
	opts map[string]string // the conduit stage's flags, without dashes
	pos  []string          // its positional arguments
}

// A stage is one command of a pipeline, with its redirections.
type stage struct {
	words   []string
	in, out string // < file, > file
	bg      bool   // ended by &
}

// conduitRe finds a conduit command in a line: conduit or conduit.exe
// followed by an argument (so that go build -o conduit.exe ./cmd/conduit
// and the package's import path are not taken for one).
var conduitRe = regexp.MustCompile(`(^|[\s|:"'(])conduit(\.exe)?\s+[-a-zA-Z\\']`)

// commentExampleRe is a comment that carries a further example:
// "# and: conduit mailslot send events ..." or "# with: socat ...".
var commentExampleRe = regexp.MustCompile(`^(?:and|with):\s*(.*)$`)

// examplesOf returns the examples in one line of a code block.
func examplesOf(line, source string) []*example {
	code, comment := splitComment(line)
	var out []*example
	if conduitRe.MatchString(code) {
		out = append(out, &example{text: strings.TrimSpace(code), sources: []string{source}})
	}
	if m := commentExampleRe.FindStringSubmatch(strings.TrimSpace(comment)); m != nil && conduitRe.MatchString(m[1]) {
		code, _ := splitComment(m[1])
		out = append(out, &example{text: strings.TrimSpace(code), sources: []string{source}})
	}
	return out
}

// splitComment splits a shell line at its comment: a # that begins a word
// outside quotes.
func splitComment(line string) (code, comment string) {
	var q byte
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch {
		case q != 0:
			if c == q {
				q = 0
			} else if q == '"' && c == '\\' {
				i++
			}
		case c == '\'' || c == '"':
			q = c
		case c == '#' && (i == 0 || line[i-1] == ' ' || line[i-1] == '\t'):
			return line[:i], strings.TrimSpace(line[i+1:])
		}
	}
	return line, ""
}

// readmeExamples reads the README's examples: the conduit lines of its
// code blocks, and its prose's code spans that begin with conduit.
func readmeExamples(t *testing.T) []*example {
	b, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	var out []*example
	span := regexp.MustCompile("`(conduit(?:\\.exe)? [^`]+)`")
	fenced := false
	for i, line := range strings.Split(string(b), "\n") {
		src := fmt.Sprintf("README.md:%d", i+1)
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if fenced {
			out = append(out, examplesOf(line, src)...)
			continue
		}
		for _, m := range span.FindAllStringSubmatch(line, -1) {
			out = append(out, &example{text: m[1], sources: []string{src + " (prose)"}, inline: true})
		}
	}
	return out
}

// docExamples reads the package doc's examples: its indented lines.
func docExamples(t *testing.T) []*example {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var out []*example
	fset := token.NewFileSet()
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		af, err := parser.ParseFile(fset, f, nil, parser.PackageClauseOnly|parser.ParseComments)
		if err != nil {
			t.Fatal(err)
		}
		if af.Doc == nil {
			continue
		}
		for _, line := range strings.Split(af.Doc.Text(), "\n") {
			if strings.HasPrefix(line, "\t") || strings.HasPrefix(line, " ") {
				out = append(out, examplesOf(line, "package doc ("+f+")")...)
			}
		}
	}
	return out
}

// commandNames reads the commands conduit --help lists.
func commandNames(t *testing.T) []string {
	stdout, stderr, code := runBounded(t, conduit("--help"), nil)
	if code != 0 {
		t.Fatalf("conduit --help: exit %d: %s", code, stderr)
	}
	_, list, ok := strings.Cut(stdout, "\nCommands:\n")
	if !ok {
		t.Fatalf("conduit --help lists no commands:\n%s", stdout)
	}
	var names []string
	for _, line := range strings.Split(list, "\n") {
		if !strings.HasPrefix(line, "  ") {
			break
		}
		names = append(names, strings.Fields(line)[0])
	}
	return names
}

// helpExamples reads the Examples section of conduit --help and of every
// command's --help.
func helpExamples(t *testing.T) []*example {
	var out []*example
	for _, args := range append([][]string{{"--help"}}, func() (l [][]string) {
		for _, n := range commandNames(t) {
			l = append(l, []string{n, "--help"})
		}
		return l
	}()...) {
		stdout, stderr, code := runBounded(t, conduit(args...), nil)
		if code != 0 {
			t.Fatalf("conduit %s: exit %d: %s", strings.Join(args, " "), code, stderr)
		}
		src := "conduit " + strings.Join(args, " ")
		in := false
		for _, line := range strings.Split(stdout, "\n") {
			switch {
			case strings.HasPrefix(line, "Examples"):
				in = true
			case in && strings.HasPrefix(line, " "):
				out = append(out, examplesOf(line, src)...)
			default:
				in = false
			}
		}
	}
	return out
}

// allExamples reads every documented example, each once, with every place
// it is written.
func allExamples(t *testing.T) []*example {
	t.Helper()
	sets := map[string][]*example{
		"README":      readmeExamples(t),
		"package doc": docExamples(t),
		"--help":      helpExamples(t),
	}
	var out []*example
	seen := map[string]*example{}
	for _, set := range []string{"README", "package doc", "--help"} {
		// Each source has examples: an extractor that found none would
		// let every test below pass having run nothing.
		if len(sets[set]) == 0 {
			t.Errorf("no examples found in the %s: the extractor is broken", set)
		}
		for _, e := range sets[set] {
			key := strings.Join(strings.Fields(e.text), " ")
			if d, ok := seen[key]; ok {
				d.sources = append(d.sources, e.sources...)
				d.inline = d.inline && e.inline
				continue
			}
			seen[key] = e
			out = append(out, e)
		}
	}
	for _, e := range out {
		e.stages, e.err = parseShell(e.text)
		classify(e)
	}
	return out
}

// parseShell reads a command line as a POSIX shell does, as far as the
// examples go: words with '...' and "..." quoting, |, <, >, & and #.
// A backslash outside quotes is kept (Windows paths are written so).
func parseShell(line string) ([]stage, error) {
	var stages []stage
	cur := stage{}
	var word strings.Builder
	inWord := false
	redirect := ""
	flush := func() error {
		if !inWord {
			return nil
		}
		w := word.String()
		word.Reset()
		inWord = false
		switch redirect {
		case "<":
			cur.in = w
		case ">":
			cur.out = w
		default:
			cur.words = append(cur.words, w)
		}
		redirect = ""
		return nil
	}
	endStage := func() error {
		flush()
		if redirect != "" {
			return fmt.Errorf("%s with no file", redirect)
		}
		if len(cur.words) == 0 {
			return errors.New("an empty command in a pipeline")
		}
		stages = append(stages, cur)
		cur = stage{}
		return nil
	}
	for i := 0; i < len(line); i++ {
		c := line[i]
		switch c {
		case ' ', '\t':
			flush()
		case '\'':
			j := strings.IndexByte(line[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("an unclosed '")
			}
			word.WriteString(line[i+1 : i+1+j])
			inWord = true
			i += j + 1
		case '"':
			inWord = true
			for i++; ; i++ {
				if i >= len(line) {
					return nil, errors.New(`an unclosed "`)
				}
				if line[i] == '"' {
					break
				}
				if line[i] == '\\' && i+1 < len(line) && strings.IndexByte(`"\$`+"`", line[i+1]) >= 0 {
					i++
				}
				word.WriteByte(line[i])
			}
		case '|':
			if err := endStage(); err != nil {
				return nil, err
			}
		case '<', '>':
			flush()
			redirect = string(c)
		case '&':
			cur.bg = true
			if err := endStage(); err != nil {
				return nil, err
			}
		case ';', '`', '$', '(', ')':
			if c == '$' && (i+1 >= len(line) || line[i+1] != '(') {
				word.WriteByte(c) // a variable: kept as written
				inWord = true
				continue
			}
			return nil, fmt.Errorf("%q is beyond what the test's shell reads", c)
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord || redirect != "" || len(cur.words) > 0 {
		if err := endStage(); err != nil {
			return nil, err
		}
	}
	return stages, nil
}

// conduitStage is the index of the stage that runs conduit, or -1.
func (e *example) conduitStage() int {
	for i, s := range e.stages {
		if s.words[0] == "conduit" || s.words[0] == "conduit.exe" {
			return i
		}
	}
	return -1
}

// flagSpec says which flags a form allows: true for those that take a
// value.
type flagSpec map[string]bool

// parseFlags reads args by spec: ok is false for a flag spec does not
// allow (the example is then of no known form).
func parseFlags(args []string, spec flagSpec) (pos []string, opts map[string]string, ok bool) {
	opts = map[string]string{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" {
			pos = append(pos, a)
			continue
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		takes, known := spec[name]
		if !known {
			return nil, nil, false
		}
		if takes && !hasVal {
			if i+1 >= len(args) {
				return nil, nil, false
			}
			i++
			val = args[i]
		}
		opts[name] = val
	}
	return pos, opts, true
}

// exampleKinds are the forms the test knows. classify gives each example
// one; TestExamplesRun runs each kind its own way (runExample).
var exampleKinds = map[string]string{
	"wsl":      "socat or docker on WSL's side running conduit.exe on Windows' side",
	"docker":   "a command for Docker's engine (docker_engine, docker.sock)",
	"ssh":      "a command for Windows' OpenSSH agent (openssh-ssh-agent)",
	"mention":  "a command named in the README's prose, without the arguments it needs",
	"help":     "conduit [COMMAND] --help",
	"listen":   "listen NAME [--message] [--allow P | --sddl S]: one client, paired with a dial of NAME",
	"service":  "listen NAME --message --keep-open --exec sort: paired with a dial --message of NAME",
	"dial":     "[echo ... |] dial NAME [-U] [--message] [--timeout D] [--wait] [> FILE]: paired with a listen of NAME",
	"info":     "info NAME [--json]: against a --keep-open server of NAME",
	"ls":       "ls [PATTERN] [--json] [| jq -r '.[].name']: with a --keep-open server whose name matches",
	"stale":    "ls --stale [--json [| jq -r '.[].name' [| xargs conduit rm]]] and rm NAME...: with a server of the name killed outright (Unix)",
	"mailrecv": "mailslot recv NAME --count N: paired with a mailslot send to NAME",
	"mailsend": "mailslot send NAME MESSAGE...: paired with a mailslot recv of NAME",
	"bench":    "bench [--size S] [--rounds N] [--json]",
	"bridge":   "bridge - unix:PATH, bridge tcp:127.0.0.1:PORT unix:PATH --keep-open: with a server standing in for the app at PATH",
}

// classify gives e its kind, and the reason it cannot run here, if any.
func classify(e *example) {
	if e.err != nil {
		return
	}
	ci := e.conduitStage()
	if ci < 0 {
		// conduit is an argument of another program's: socat's EXEC on
		// WSL's side.
		if w := e.stages[0].words[0]; w == "socat" || w == "docker" {
			e.kind, e.skip = "wsl", "needs WSL: socat on the Linux side runs conduit.exe on the Windows side"
		}
		return
	}
	cs := e.stages[ci]
	args := cs.words[1:]
	e.cmd = args
	joined := strings.Join(args, " ")
	switch {
	case strings.Contains(joined, "docker_engine") || strings.Contains(joined, "docker.sock"):
		e.kind, e.skip = "docker", "needs Docker (its engine's pipe or socket)"
		if strings.Contains(joined, "--server-user") {
			e.skip += " and a server run by another user (root)"
		}
		return
	case strings.Contains(joined, "openssh-ssh-agent"):
		e.kind, e.skip = "ssh", "needs Windows' OpenSSH agent service (openssh-ssh-agent)"
		return
	}
	if len(args) == 0 {
		return
	}
	// What may stand around the conduit stage, per kind.
	before := func(words ...string) bool { // the stage before conduit, if any
		return ci == 0 || ci == 1 && len(words) > 0 && e.stages[0].words[0] == words[0] && e.stages[0].in == "" && e.stages[0].out == ""
	}
	after := func(pipes ...string) bool { // the stages after conduit, joined
		var l []string
		for _, s := range e.stages[ci+1:] {
			if s.in != "" || s.out != "" || s.bg {
				return false
			}
			l = append(l, strings.Join(s.words, " "))
		}
		got := strings.Join(l, " | ")
		for _, p := range pipes {
			if got == p {
				return true
			}
		}
		return false
	}
	plain := !cs.bg && cs.in == "" && cs.out == "" && before() && after("")
	cmd, rest := args[0], args[1:]
	var ok bool
	switch cmd {
	case "--help", "-h", "help":
		ok = plain && len(rest) == 0
		e.kind = "help"
	}
	if e.kind == "" && len(rest) > 0 && (rest[len(rest)-1] == "--help" || rest[len(rest)-1] == "-h") {
		ok = plain && len(rest) == 1
		e.kind = "help"
	}
	if e.kind == "help" {
		if !ok {
			e.kind = ""
		}
		return
	}
	if _, known := commands[cmd]; e.inline && len(rest) == 0 && known && commands[cmd].minArgs > 0 {
		e.kind = "mention"
		e.skip = "names the command in prose; its examples are in its --help"
		return
	}
	switch cmd {
	case "listen":
		e.pos, e.opts, ok = parseFlags(rest, flagSpec{"message": false, "keep-open": false, "exec": true, "allow": true, "sddl": true})
		ok = ok && plain && len(e.pos) == 1
		_, keep := e.opts["keep-open"]
		_, msg := e.opts["message"]
		_, allow := e.opts["allow"]
		_, sddl := e.opts["sddl"]
		switch {
		case !ok:
		case keep:
			ok = msg && e.opts["exec"] == "sort" && !allow && !sddl
			e.kind = "service"
			if ok && runtime.GOOS == "windows" {
				if _, err := exec.LookPath("sort"); err != nil {
					e.skip = "no sort command here (Wine has no sort.exe; Windows has)"
				}
			}
		default:
			_, exe := e.opts["exec"]
			ok = !exe && !(allow && sddl)
			e.kind = "listen"
			switch {
			case (allow || sddl) && runtime.GOOS != "windows":
				e.skip = "a Windows form: --allow with a Windows principal (AU), --sddl"
			case sddl && onWine():
				e.skip = "needs a real Windows: Wine's AccessCheck does not give the owner an OW ACE's rights, so Listen refuses the descriptor"
			}
		}
	case "dial":
		e.pos, e.opts, ok = parseFlags(rest, flagSpec{"U": false, "message": false, "timeout": true, "wait": false})
		ok = ok && len(e.pos) == 1 && !cs.bg && cs.in == "" && after("") && before("echo")
		e.kind = "dial"
	case "info":
		e.pos, e.opts, ok = parseFlags(rest, flagSpec{"json": false})
		ok = ok && plain && len(e.pos) == 1
		e.kind = "info"
	case "ls":
		e.pos, e.opts, ok = parseFlags(rest, flagSpec{"json": false, "stale": false})
		_, stale := e.opts["stale"]
		_, js := e.opts["json"]
		ok = ok && len(e.pos) <= 1 && !cs.bg && cs.in == "" && cs.out == "" && before()
		jq := "jq -r .[].name"
		e.kind = "ls"
		if stale {
			e.kind = "stale"
			ok = ok && (after("") || js && after(jq, jq+" | xargs conduit rm"))
		} else {
			ok = ok && (after("") || js && after(jq))
		}
		switch {
		case !ok:
		case len(e.stages) > 1 && !haveJQ():
			e.skip = "needs jq, which this machine lacks"
		case onWine():
			e.skip = `wine: enumerating \\.\pipe\ fails (ERROR_BAD_DEV_TYPE): ls says it cannot list`
		case stale && runtime.GOOS == "windows" && len(e.stages) > 2:
			e.skip = "Unix: Windows pipes vanish with their last handle; there is nothing to remove"
		}
	case "rm":
		e.pos, e.opts, ok = parseFlags(rest, flagSpec{})
		ok = ok && plain && len(e.pos) >= 1
		e.kind = "stale"
		if runtime.GOOS == "windows" {
			e.skip = "Unix: Windows pipes vanish with their last handle; there is nothing to remove"
		}
	case "mailslot":
		e.pos, e.opts, ok = parseFlags(rest, flagSpec{"count": true, "timeout": true})
		ok = ok && plain && len(e.pos) >= 2
		switch {
		case !ok:
		case e.pos[0] == "recv":
			ok = len(e.pos) == 2 && e.opts["count"] != "" && e.opts["count"] != "0"
			e.kind = "mailrecv"
		case e.pos[0] == "send":
			ok = len(e.pos) >= 3 && len(e.opts) == 0
			e.kind = "mailsend"
			if strings.HasPrefix(e.pos[1], `\\`) && !strings.HasPrefix(e.pos[1], `\\.\`) {
				e.skip = `needs a Windows network: a message to \\*\ (the domain) or to another machine`
			}
		default:
			ok = false
		}
		if ok && e.skip == "" && runtime.GOOS != "windows" {
			e.skip = "Windows only: mailslots"
		}
	case "bench":
		e.pos, e.opts, ok = parseFlags(rest, flagSpec{"size": true, "rounds": true, "json": false})
		ok = ok && plain && len(e.pos) == 0
		e.kind = "bench"
	case "bridge":
		e.pos, e.opts, ok = parseFlags(rest, flagSpec{"keep-open": false})
		ok = ok && plain && len(e.pos) == 2 && strings.HasPrefix(e.pos[1], "unix:")
		_, keep := e.opts["keep-open"]
		e.kind = "bridge"
		switch {
		case !ok:
		case e.pos[0] == "-":
			ok = !keep
		case regexp.MustCompile(`^tcp:127\.0\.0\.1:\d+$`).MatchString(e.pos[0]):
			ok = keep
		default:
			ok = false
		}
		if ok {
			e.skip = bridgeSkip(e)
		}
	}
	if !ok {
		e.kind, e.skip = "", ""
	}
}

var haveJQ = sync.OnceValue(func() bool { _, err := exec.LookPath("jq"); return err == nil })

// bridgeSkip says why a bridge example to the app's socket cannot run
// here: the test stands in for the app with a server at that path, which
// needs AF_UNIX and a directory it may write.
func bridgeSkip(e *example) string {
	if onWine() {
		return "wine: no AF_UNIX sockets"
	}
	p := strings.TrimPrefix(e.pos[1], "unix:")
	dir := filepath.Dir(p)
	if _, err := os.Lstat(p); err == nil {
		return fmt.Sprintf("%s already exists here: the test will not stand in for it", p)
	}
	f, err := os.CreateTemp(dir, ".conduit-example-*")
	if err != nil {
		return fmt.Sprintf("needs write access to %s, to stand in for the app's socket there (%v)", dir, err)
	}
	f.Close()
	os.Remove(f.Name())
	return ""
}

// TestExamplesRecognised fails for a documented example whose form the
// test does not know (add its kind to exampleKinds and classify, and how
// to run it to runExample), and lists what each example is.
func TestExamplesRecognised(t *testing.T) {
	ex := allExamples(t)
	kinds := map[string]int{}
	for _, e := range ex {
		switch {
		case e.err != nil:
			t.Errorf("example %q (%s) does not parse: %v", e.text, strings.Join(e.sources, ", "), e.err)
		case e.kind == "":
			t.Errorf("example %q (%s) has a form the test does not know: teach classify and runExample its form, so that it is run", e.text, strings.Join(e.sources, ", "))
		default:
			kinds[e.kind]++
			what := "runs"
			if e.skip != "" {
				what = "skipped: " + e.skip
			}
			t.Logf("%-8s %s  [%s] %s", e.kind, e.text, strings.Join(e.sources, ", "), what)
		}
	}
	// The forms the issue names are among those read: the extractor
	// found the README's and the helps' main examples.
	for _, k := range []string{"listen", "dial", "service", "help", "bench", "mailsend", "wsl"} {
		if kinds[k] == 0 {
			t.Errorf("no example of kind %s found: the extractor missed the README's or a help's examples", k)
		}
	}
}

// TestExamplesRun runs every example that can run here.
func TestExamplesRun(t *testing.T) {
	ex := allExamples(t)
	if runtime.GOOS != "windows" {
		// The examples' short names, as written, in a runtime directory
		// of the test's own.
		d := t.TempDir()
		os.Chmod(d, 0o700) // private, or ipc passes it over
		t.Setenv("XDG_RUNTIME_DIR", d)
	}
	r := &exampleRunner{all: ex, covered: map[*example]bool{}}
	for _, e := range ex {
		if e.kind == "" || e.err != nil {
			continue // TestExamplesRecognised fails for it
		}
		t.Run(e.text, func(t *testing.T) {
			if e.skip != "" {
				t.Skip(e.skip)
			}
			if r.covered[e] {
				t.Logf("ran as another example's counterpart")
				return
			}
			r.run(t, e)
		})
	}
}

// exampleRunner runs examples, and remembers which ran as another's
// counterpart.
type exampleRunner struct {
	all     []*example
	covered map[*example]bool
}

// exampleLimit is the watchdog's bound on one example with its
// counterparts: generous, for Wine with -race on a loaded machine.
const exampleLimit = 3 * time.Minute

// An xproc is one conduit (or jq) process of an example.
type xproc struct {
	cmd     *exec.Cmd
	out     lockedBuffer
	err     lockedBuffer
	outFile string // > FILE, in the example's directory
	done    chan struct{}
	code    int
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// xstart starts conduit with args in dir, stdin from in (nil: empty),
// bounded by ctx (the watchdog kills it).
func xstart(t *testing.T, ctx context.Context, dir string, args []string, in []byte, outFile string) *xproc {
	t.Helper()
	p := &xproc{done: make(chan struct{}), outFile: outFile}
	p.cmd = exec.CommandContext(ctx, os.Args[0], args...)
	p.cmd.Env = append(os.Environ(), mainEnv+"=1")
	p.cmd.Dir = dir
	p.cmd.WaitDelay = 10 * time.Second
	p.cmd.Stdin = bytes.NewReader(in)
	p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
	if outFile != "" {
		f, err := os.Create(filepath.Join(dir, outFile))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		p.cmd.Stdout = f
	}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.done)
	}()
	t.Cleanup(func() { p.cmd.Process.Kill(); <-p.done })
	return p
}

// wait waits for p to exit and returns its status; the watchdog (ctx)
// failing first fails the test, naming what hung.
func (p *xproc) wait(t *testing.T, ctx context.Context, what string) int {
	t.Helper()
	select {
	case <-p.done:
	case <-ctx.Done():
		<-p.done
		t.Fatalf("watchdog: %s (conduit %s) did not end within %v (stderr: %q)", what, strings.Join(p.cmd.Args[1:], " "), exampleLimit, p.err.String())
	}
	return p.code
}

// stdout is what p wrote to stdout, or to its > FILE.
func (p *xproc) stdout(t *testing.T) string {
	if p.outFile == "" {
		return p.out.String()
	}
	b, err := os.ReadFile(filepath.Join(p.cmd.Dir, p.outFile))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// until waits for cond, failing the test if p (a server the condition
// waits on) exits first or the watchdog fires.
func until(t *testing.T, ctx context.Context, p *xproc, what string, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-p.done:
			t.Fatalf("%s: conduit %s exited (%d) first: %q", what, strings.Join(p.cmd.Args[1:], " "), p.code, p.err.String())
		case <-ctx.Done():
			t.Fatalf("watchdog: %s: not within %v", what, exampleLimit)
		case <-time.After(20 * time.Millisecond): // polling a condition, not a sleep for timing
		}
	}
}

// stop ends a server that runs until interrupted, and checks it exits 0
// where it can be interrupted as a user does (SIGTERM; Windows: killed).
func stop(t *testing.T, ctx context.Context, p *xproc, what string) {
	t.Helper()
	if terminate(p.cmd.Process) {
		if code := p.wait(t, ctx, what); code != 0 {
			t.Errorf("%s, interrupted with no connection open: exit %d, %q; want 0", what, code, p.err.String())
		}
	}
	<-p.done
}

// nameFree waits until nothing listens on n (a server of an earlier
// example has gone), and fails if something else holds it.
func nameFree(t *testing.T, ctx context.Context, n string) {
	t.Helper()
	for nameInUse(t, n) {
		select {
		case <-ctx.Done():
			t.Fatalf("%s is in use on this machine: the example cannot run as written", n)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// payload is what a side sends: lines (a message each in message mode),
// or 256 KiB of bytes of every value.
func payload(message bool, who string) []byte {
	var b bytes.Buffer
	if message {
		for i := 300; i > 0; i-- {
			fmt.Fprintf(&b, "line %03d from the %s\n", i, who)
		}
		return b.Bytes()
	}
	return random(256 << 10)
}

// echoBytes is what sh's echo writes for args.
func echoBytes(args []string) []byte { return []byte(strings.Join(args, " ") + "\n") }

func (e *example) has(flag string) bool { _, ok := e.opts[flag]; return ok }

// synth makes an example the docs do not have, as a counterpart.
func synth(args ...string) *example {
	e := &example{text: "conduit " + strings.Join(args, " "), sources: []string{"the test (no documented counterpart)"}}
	e.stages, e.err = parseShell(e.text)
	classify(e)
	return e
}

// counterpart finds a runnable example of one of kinds that fits e, by
// name and mode, preferring one that has not run yet.
func (r *exampleRunner) counterpart(e *example, fits func(c *example) bool, kinds ...string) *example {
	var found *example
	for _, c := range r.all {
		if c == e || c.skip != "" {
			continue
		}
		for _, k := range kinds {
			if c.kind == k && fits(c) && (found == nil || r.covered[found] && !r.covered[c]) {
				found = c
			}
		}
	}
	return found
}

func (r *exampleRunner) run(t *testing.T, e *example) {
	ctx, cancel := context.WithTimeout(context.Background(), exampleLimit)
	defer cancel()
	dir := exampleDir(t)
	r.covered[e] = true
	switch e.kind {
	case "help":
		r.runHelp(t, ctx, dir, e)
	case "listen", "service":
		c := r.counterpart(e, func(c *example) bool {
			return c.pos[0] == e.pos[0] && c.has("message") == e.has("message") && !(e.kind == "service" && c.has("U"))
		}, "dial")
		if c == nil {
			c = synth("dial", e.pos[0], "--wait")
			if e.has("message") {
				c = synth("dial", e.pos[0], "--wait", "--message")
			}
		}
		r.runPair(t, ctx, dir, e, c)
	case "dial":
		s := r.counterpart(e, func(s *example) bool {
			return s.pos[0] == e.pos[0] && s.has("message") == e.has("message") && !(s.kind == "service" && e.has("U"))
		}, "listen", "service")
		if s == nil {
			s = synth("listen", e.pos[0])
			if e.has("message") {
				s = synth("listen", e.pos[0], "--message")
			}
		}
		r.runPair(t, ctx, dir, s, e)
	case "info", "ls":
		r.runLookup(t, ctx, dir, e)
	case "stale":
		r.runStale(t, ctx, dir, e)
	case "mailrecv", "mailsend":
		r.runMailslot(t, ctx, dir, e)
	case "bench":
		p := xstart(t, ctx, dir, e.cmd, nil, "")
		if code := p.wait(t, ctx, e.text); code != 0 {
			t.Fatalf("exit %d: %s", code, p.err.String())
		}
		out := p.out.String()
		if e.has("json") {
			var rows []struct {
				Name, Measure, Unit string
				Value               float64
			}
			if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) == 0 {
				t.Fatalf("--json: %d rows, %v: %s", len(rows), err, out)
			}
			for _, row := range rows {
				if row.Value <= 0 {
					t.Errorf("row %+v measured nothing", row)
				}
			}
		} else if !strings.Contains(out, "MB/s") {
			t.Fatalf("no throughput in %q", out)
		}
	case "bridge":
		r.runBridge(t, ctx, dir, e)
	default:
		t.Fatalf("no way to run kind %q", e.kind)
	}
}

func (r *exampleRunner) runHelp(t *testing.T, ctx context.Context, dir string, e *example) {
	cmds := [][]string{e.cmd}
	if len(e.cmd) == 2 && e.cmd[0] == "COMMAND" { // conduit COMMAND --help: each
		cmds = nil
		for _, n := range commandNames(t) {
			cmds = append(cmds, []string{n, e.cmd[1]})
		}
	}
	for _, args := range cmds {
		p := xstart(t, ctx, dir, args, nil, "")
		if code := p.wait(t, ctx, e.text); code != 0 || !strings.Contains(p.out.String(), "Usage: conduit") {
			t.Errorf("conduit %s: exit %d, %q, %q", strings.Join(args, " "), code, p.out.String(), p.err.String())
		}
	}
}

// runPair runs server s and client c, both examples of one name: each
// exits 0, the server's stdin reaches the client (its stdout or > FILE;
// for the sort service, the client's lines sorted) and the client's stdin
// the server.
func (r *exampleRunner) runPair(t *testing.T, ctx context.Context, dir string, s, c *example) {
	r.covered[s], r.covered[c] = true, true
	t.Logf("server: %s  [%s]", s.text, strings.Join(s.sources, ", "))
	t.Logf("client: %s  [%s]", c.text, strings.Join(c.sources, ", "))
	n := s.pos[0]
	msg := s.has("message")
	var srvIn []byte
	if s.kind == "listen" {
		srvIn = payload(msg, "server")
	}
	nameFree(t, ctx, n)
	srv := xstart(t, ctx, dir, s.cmd, srvIn, "")
	until(t, ctx, srv, "the server to listen", func() bool { return serverUp(t, n) })
	cliIn := payload(msg, "client")
	if c.conduitStage() == 1 { // echo ... | conduit
		cliIn = echoBytes(c.stages[0].words[1:])
	}
	if c.has("U") {
		cliIn = nil // not read
	}
	cli := xstart(t, ctx, dir, c.cmd, cliIn, c.stages[c.conduitStage()].out)
	if code := cli.wait(t, ctx, "the client"); code != 0 {
		// The server would wait for a client for ever.
		t.Fatalf("client: exit %d, %q (server: %q)", code, cli.err.String(), srv.err.String())
	}
	want := string(srvIn)
	if s.kind == "service" {
		lines := strings.SplitAfter(string(cliIn), "\n")
		sort.Strings(lines)
		want = strings.Join(lines, "")
		stop(t, ctx, srv, "the server")
	} else {
		if code := srv.wait(t, ctx, "the server"); code != 0 {
			t.Errorf("server: exit %d, %q", code, srv.err.String())
		}
		if got := srv.out.String(); got != string(cliIn) {
			t.Errorf("the server printed %d bytes (%.40q), want the client's %d (%.40q)", len(got), got, len(cliIn), cliIn)
		}
	}
	if got := cli.stdout(t); got != want {
		t.Errorf("the client printed %d bytes (%.40q), want %d (%.40q)", len(got), got, len(want), want)
	}
}

// keepOpenServer starts a server that listens until stopped, on a name
// that fits: a documented one where there is (the sort service), else one
// of the test's.
func (r *exampleRunner) keepOpenServer(t *testing.T, ctx context.Context, dir string, fits func(string) bool) (string, *xproc) {
	var args []string
	for _, s := range r.all {
		if s.kind == "service" && fits(s.pos[0]) {
			args = s.cmd // its sort is run only for a connection
			break
		}
	}
	if args == nil {
		args = []string{"listen", name(), "--keep-open"}
	}
	n := args[1]
	nameFree(t, ctx, n)
	srv := xstart(t, ctx, dir, args, nil, "")
	until(t, ctx, srv, "the server to listen", func() bool { return serverUp(t, n) })
	t.Logf("server: conduit %s", strings.Join(args, " "))
	return n, srv
}

// runLookup runs info and ls against a server that listens until stopped:
// they exit 0 and name it.
func (r *exampleRunner) runLookup(t *testing.T, ctx context.Context, dir string, e *example) {
	fits := func(n string) bool { return e.kind != "info" || n == e.pos[0] }
	if e.kind == "ls" && len(e.pos) == 1 {
		fits = func(n string) bool { ok, _ := filepath.Match(e.pos[0], n); return ok }
	}
	n, srv := r.keepOpenServer(t, ctx, dir, fits)
	defer stop(t, ctx, srv, "the server")
	out := r.pipeline(t, ctx, dir, e)
	switch {
	case e.kind == "info" && e.has("json"):
		var info map[string]any
		if err := json.Unmarshal([]byte(out), &info); err != nil {
			t.Fatalf("--json: %v: %s", err, out)
		}
		if p, _ := info["path"].(string); !strings.Contains(p, n) {
			t.Errorf("info of %s: %v", n, info)
		}
		if l, ok := info["listening"]; ok && l != true {
			t.Errorf("info of %s: not listening: %v", n, info)
		}
	case e.kind == "info":
		if !strings.Contains(out, n) {
			t.Errorf("info of %s: %q", n, out)
		}
	case len(e.stages) > 1: // | jq -r '.[].name': one name a line
		if !strings.Contains("\n"+out, "\n"+n+"\n") {
			t.Errorf("ls | jq: %q has no line %s", out, n)
		}
	default:
		if !strings.Contains(out, n) {
			t.Errorf("ls: %q does not list %s", out, n)
		}
	}
}

// pipeline runs e's stages one after another, each one's stdout the next
// one's stdin (the examples' producers end), and returns the last one's
// stdout; each exits 0. xargs CMD runs CMD with its input's words.
func (r *exampleRunner) pipeline(t *testing.T, ctx context.Context, dir string, e *example) string {
	var in []byte
	for i, s := range e.stages {
		var p *xproc
		switch s.words[0] {
		case "conduit":
			p = xstart(t, ctx, dir, s.words[1:], in, "")
		case "xargs":
			p = xstart(t, ctx, dir, append(s.words[2:], strings.Fields(string(in))...), nil, "")
		case "jq":
			p = &xproc{done: make(chan struct{})}
			p.cmd = exec.CommandContext(ctx, "jq", s.words[1:]...)
			p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = bytes.NewReader(in), &p.out, &p.err
			if err := p.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { p.cmd.Wait(); p.code = p.cmd.ProcessState.ExitCode(); close(p.done) }()
		default:
			t.Fatalf("stage %d, %s: not a command the test runs", i, s.words[0])
		}
		if code := p.wait(t, ctx, strings.Join(s.words, " ")); code != 0 {
			t.Fatalf("%s: exit %d: %s", strings.Join(s.words, " "), code, p.err.String())
		}
		in = []byte(p.out.String())
	}
	return string(in)
}

// runStale makes a stale socket (a one-shot server killed outright, as
// rm's help describes), runs e, and checks that ls --stale lists it and
// that rm (or the pipeline into xargs conduit rm) removes it.
func (r *exampleRunner) runStale(t *testing.T, ctx context.Context, dir string, e *example) {
	names := e.pos
	if e.cmd[0] == "ls" {
		names = []string{"myapp"}
		if len(e.pos) == 1 {
			names = []string{strings.NewReplacer("*", "x", "?", "x").Replace(e.pos[0])}
		}
	}
	if runtime.GOOS == "windows" { // ls --stale: none is stale there
		if out := r.pipeline(t, ctx, dir, e); strings.TrimSpace(out) != "" && !strings.Contains(out, "[]") {
			t.Errorf("ls --stale on Windows: %q", out)
		}
		return
	}
	for _, n := range names {
		nameFree(t, ctx, n)
		srv := xstart(t, ctx, dir, []string{"listen", n}, nil, "")
		until(t, ctx, srv, "the server to listen", func() bool { return serverUp(t, n) })
		srv.cmd.Process.Kill()
		<-srv.done
	}
	out := r.pipeline(t, ctx, dir, e)
	removes := e.cmd[0] == "rm" || len(e.stages) > 2
	for _, n := range names {
		p := socketPath(t, n)
		_, err := os.Lstat(p)
		switch {
		case removes && !os.IsNotExist(err):
			t.Errorf("%s is still there after %s (%v)", p, e.text, err)
		case !removes && !strings.Contains(out, n):
			t.Errorf("%q does not list the stale %s", out, n)
		case !removes:
			os.Remove(p)
			os.Remove(p + ".lock")
		}
	}
}

// runMailslot pairs a mailslot recv with a send of the same name: send
// exits 0, recv prints each message on a line and exits 0 after --count.
func (r *exampleRunner) runMailslot(t *testing.T, ctx context.Context, dir string, e *example) {
	recv, send := e, e
	if e.kind == "mailrecv" {
		send = r.counterpart(e, func(c *example) bool { return c.pos[1] == e.pos[1] }, "mailsend")
		if send == nil {
			send = synth("mailslot", "send", e.pos[1], "from the test")
		}
	} else {
		recv = r.counterpart(e, func(c *example) bool { return c.pos[1] == e.pos[1] }, "mailrecv")
		if recv == nil {
			recv = synth("mailslot", "recv", e.pos[1], "--count", "1")
		}
	}
	r.covered[recv], r.covered[send] = true, true
	t.Logf("recv: %s; send: %s", recv.text, send.text)
	msgs := send.pos[2:]
	if fmt.Sprint(len(msgs)) != recv.opts["count"] {
		t.Fatalf("recv --count %s, send of %d messages: no pair", recv.opts["count"], len(msgs))
	}
	rp := xstart(t, ctx, dir, recv.cmd, nil, "")
	until(t, ctx, rp, "recv to make the slot", func() bool { return strings.Contains(rp.err.String(), "receiving on") })
	sp := xstart(t, ctx, dir, send.cmd, nil, "")
	if code := sp.wait(t, ctx, "send"); code != 0 {
		t.Errorf("send: exit %d, %q", code, sp.err.String())
	}
	if code := rp.wait(t, ctx, "recv"); code != 0 {
		t.Errorf("recv: exit %d, %q", code, rp.err.String())
	}
	if got, want := rp.out.String(), strings.Join(msgs, "\n")+"\n"; got != want {
		t.Errorf("recv printed %q, want %q", got, want)
	}
}

// runBridge stands in for the app at the bridge's unix: PATH (a server
// that answers in upper case) and carries a request through: from stdin
// (bridge -), or from a TCP client of the bridge's port (--keep-open, then
// interrupted).
func (r *exampleRunner) runBridge(t *testing.T, ctx context.Context, dir string, e *example) {
	b := e.pos[1]
	app := xstart(t, ctx, dir, []string{"listen", b, "--keep-open", "--exec", upperCommand()}, nil, "")
	t.Cleanup(func() { os.Remove(strings.TrimPrefix(b, "unix:")) })
	until(t, ctx, app, "the app's stand-in to listen", func() bool { return serverUp(t, b) })
	defer stop(t, ctx, app, "the app's stand-in")
	req := "a request through the bridge\n"
	if e.pos[0] == "-" {
		p := xstart(t, ctx, dir, e.cmd, []byte(req), "")
		if code := p.wait(t, ctx, e.text); code != 0 || p.out.String() != strings.ToUpper(req) {
			t.Errorf("exit %d, %q, %q; want 0 and %q", code, p.out.String(), p.err.String(), strings.ToUpper(req))
		}
		return
	}
	addr := strings.TrimPrefix(e.pos[0], "tcp:")
	if l, err := net.Listen("tcp", addr); err != nil {
		t.Skipf("%s is in use on this machine: %v", addr, err)
	} else {
		l.Close()
	}
	br := xstart(t, ctx, dir, e.cmd, nil, "")
	var c net.Conn
	until(t, ctx, br, "the bridge to listen", func() bool {
		var err error
		c, err = net.Dial("tcp", addr)
		return err == nil
	})
	c.Write([]byte(req))
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(exampleLimit))
	got, err := io.ReadAll(c)
	c.Close()
	if string(got) != strings.ToUpper(req) {
		t.Errorf("through the bridge: %q, %v (bridge: %q)", got, err, br.err.String())
	}
	stop(t, ctx, br, "the bridge")
}
